#!/bin/sh
# Checks what `advgnn run` does on SIGINT. The first one prints how to quit
# at once, and the second quits with exit status 130. A SIGINT during the wait
# for tracking delivery ends that wait (exit status 130), which otherwise
# lasts up to 30 s.
#
# usage: run_stop_check.sh ADVGNN SCRIPTS_DIR
set -u

advgnn=$1
scripts=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-runstop-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/check_helpers.sh"

# interrupt FILE TEXT SECONDS [twice]: once TEXT is in FILE, sends
# SIGINT to $pid (twice, 0.5 s apart, with "twice"), waits for the
# process and sets $status and $seconds (from the last signal to the exit).
interrupt() {
    ( sleep 90; kill -KILL "$pid" ) >/dev/null 2>&1 &
    watchdog=$!
    start=$(date +%s)
    if wait_for "$2" "$1" "$3"; then
        kill -INT "$pid"
        if [ $# -gt 3 ]; then
            sleep 0.5
            kill -INT "$pid"
        fi
        start=$(date +%s)
    else
        fail "'$2' did not appear within $3 s"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid"
    status=$?
    seconds=$(($(date +%s) - start))
    kill "$watchdog" 2>/dev/null
}

# 1. A script that catches the first interruption: the first SIGINT prints
# how to quit at once, the second quits with 130.
"$advgnn" run "$scripts/catch_interrupt.lua" >"$work/out" 2>"$work/err" &
pid=$!
interrupt "$work/out" "looping" 10 twice
show "two SIGINTs (${seconds} s after the second)" $status
[ $status -eq 130 ] || fail "exit status $status, expected 130"
[ "$seconds" -lt 5 ] || fail "the second SIGINT took $seconds s to quit"
expect "stopping after the current step; press Ctrl-C again to quit at once" "$work/err"
expect 'results.json not yet finished then stays "running"' "$work/err"
expect "second interrupt, quitting at once" "$work/err"
[ "$(grep -c 'press Ctrl-C again' "$work/err")" -eq 1 ] || fail "the first-signal message is not printed once"

# 2. A finished run whose server does not listen waits for delivery; SIGINT
# ends the wait at once and names `advgnn sync`.
port=$(free_port) ||
    { echo "cannot find a free port"; exit 2; }
"$advgnn" --no-progress run "$scripts/tracked_run.lua" "out=$work/run" --tracking-uri "http://127.0.0.1:$port" \
    >"$work/out" 2>"$work/err" &
pid=$!
interrupt "$work/err" "finished; results in" 60
show "SIGINT during the wait for delivery (${seconds} s after the signal)" $status
[ $status -eq 130 ] || fail "exit status $status, expected 130"
[ "$seconds" -lt 5 ] || fail "the wait for delivery took $seconds s to stop after SIGINT"
expect "stopped waiting for delivery to http://127.0.0.1:$port on a signal" "$work/err"
expect "send them with \`advgnn sync $work/run\`" "$work/err"
[ -f "$work/run/tracking/journal.jsonl" ] || fail "no journal in $work/run/tracking"

finish
