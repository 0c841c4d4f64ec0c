#!/bin/sh
# Sends SIGINT to `advgnn run` of an endless script and checks that it stops
# with exit status 130 and an "interrupted" error instead of being killed.
#
# usage: signal_check.sh ADVGNN SCRIPT
set -u
advgnn=$1
script=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-signal-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT

"$advgnn" run "$script" 2>"$work/stderr" &
pid=$!
# Give the program time to install its handlers and enter the loop.
sleep 1
kill -INT "$pid"

# A watchdog, so a handler that never stops the loop fails the test quickly.
( sleep 10; kill -KILL "$pid" ) >/dev/null 2>&1 &
watchdog=$!
wait "$pid"
status=$?
kill "$watchdog" 2>/dev/null

echo "exit status: $status"
cat "$work/stderr"
if [ "$status" -ne 130 ]; then
    echo "FAIL: exit status $status, expected 130"
    exit 1
fi
if ! grep -qF "interrupted by a signal" "$work/stderr"; then
    echo "FAIL: stderr does not name the interruption"
    exit 1
fi
echo "PASS"
