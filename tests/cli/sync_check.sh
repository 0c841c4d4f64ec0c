#!/bin/sh
# Checks the messages and the speed of `advgnn sync` when the folder, the URI
# or the server is missing. The run folder is written by hand in the journal
# format of core/src/tracking/journal.h, and its acknowledgement log names a
# port on 127.0.0.1 that nothing listens on.
#
# usage: sync_check.sh ADVGNN
set -u

advgnn=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-sync-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/check_helpers.sh"

port=$(free_port) ||
    { echo "cannot find a free port"; exit 2; }

run="$work/run"
mkdir -p "$run/tracking"
cat >"$run/tracking/journal.jsonl" <<EOF
{"seq":0,"type":"journal","id":"0123456789abcdef0123456789abcdef","experiment":"sync-check","experiment_tags":{},"created":1796428835404}
{"seq":1,"type":"run","run":"main","parent":null,"name":"hand","start":1796428835404,"tags":{}}
{"seq":2,"type":"param","run":"main","key":"k","value":"1"}
EOF

# 1. A missing folder is named as such, with a hint about run folders.
"$advgnn" sync "$work/nope" >"$work/out" 2>"$work/err"
status=$?
show "missing folder" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "run folder '$work/nope' does not exist" "$work/err"
reject "tracking URI" "$work/err"
reject "advgnn plugins" "$work/err"

# 2. A run never sent anywhere, and no URI: the hint is about the URI.
env -u MLFLOW_TRACKING_URI "$advgnn" sync "$run" >"$work/out" 2>"$work/err"
status=$?
show "no URI" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "no tracking URI for $run" "$work/err"
expect "hint: pass --tracking-uri" "$work/err"
reject "advgnn plugins" "$work/err"

# 3. A URI of the wrong scheme: the same hint.
"$advgnn" sync "$run" --tracking-uri ftp://127.0.0.1/x >"$work/out" 2>"$work/err"
status=$?
show "ftp URI" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "must start with http://" "$work/err"
expect "hint: pass --tracking-uri" "$work/err"
reject "advgnn plugins" "$work/err"

# 3b. A log of intents only, from a sync to a wrong URI, names no server.
printf '{"target":"http://127.0.0.1:%s"}\n{"intent":[1,2]}\n' "$port" >"$run/tracking/acks-0000000000000003.jsonl"
env -u MLFLOW_TRACKING_URI "$advgnn" sync "$run" >"$work/out" 2>"$work/err"
status=$?
show "intents of a sync only" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "no tracking URI for $run: the run was never sent to a server" "$work/err"

# 3c. A live run whose server was down during the whole run: its log has
# intents only, but the run marked it, so `advgnn sync RUN` as the run
# printed it goes to that server.
printf '{"target":"http://127.0.0.1:%s"}\n{"live_run":true}\n{"intent":[1,2]}\n' "$port" \
    >"$run/tracking/acks-0000000000000003.jsonl"
env -u MLFLOW_TRACKING_URI MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 "$advgnn" sync "$run" >"$work/out" 2>"$work/err"
status=$?
show "live run, server never reached" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "using http://127.0.0.1:$port, the server the run was sent to" "$work/err"
reject "no tracking URI" "$work/err"
rm "$run/tracking/acks-0000000000000003.jsonl"

# 4. A run that was sent to a server (its acknowledgement log names it):
# `advgnn sync RUN`, as a run prints it, uses that server. Nothing listens
# there, so each retry is logged and a refused connection fails within
# seconds, not minutes.
printf '{"target":"http://127.0.0.1:%s"}\n{"experiment_id":"1"}\n' "$port" >"$run/tracking/acks-0000000000000001.jsonl"
start=$(date +%s)
env -u MLFLOW_TRACKING_URI "$advgnn" sync "$run" >"$work/out" 2>"$work/err"
status=$?
seconds=$(($(date +%s) - start))
show "recorded URI, server down (${seconds} s)" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "using http://127.0.0.1:$port, the server the run was sent to" "$work/err"
expect "retry 1 of 2 in" "$work/err"
expect "retry 2 of 2 in" "$work/err"
expect "did not respond after 2 retries" "$work/err"
expect "2 records, 0 sent, 0 rejected, 2 pending" "$work/out"
expect "hint: start the MLflow server" "$work/err"
[ "$seconds" -le 20 ] || fail "sync took $seconds s for a refused connection"

finish
