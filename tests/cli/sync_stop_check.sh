#!/bin/sh
# Checks that `advgnn sync` stops at once where waiting cannot help: on
# SIGINT between retries (exit status 130), on an https:// URI for a
# plain-HTTP server, on a server that responds 501 with an HTML page and on a
# wrong path that gives 404 with one, and on URIs curl cannot parse. Also
# checks the messages after one retry and for a run sent to two servers. The
# servers are tests/cli/http_stub.py on 127.0.0.1. The run folder is written
# by hand in the journal format of core/src/tracking/journal.h.
#
# usage: sync_stop_check.sh ADVGNN
set -u

advgnn=$1
here=$(dirname "$0")
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-syncstop-XXXXXX") || exit 2
stubs=""
trap 'for p in $stubs; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
. "$here/check_helpers.sh"

# start_stub NAME STATUS KIND: starts a stub server and sets $port.
start_stub() {
    python3 "$here/http_stub.py" "$2" "$3" >"$work/$1.port" &
    stubs="$stubs $!"
    for _ in $(seq 1 50); do
        port=$(head -n 1 "$work/$1.port")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    echo "the stub server did not start"
    exit 2
}

run="$work/run"
mkdir -p "$run/tracking"
cat >"$run/tracking/journal.jsonl" <<JOURNAL
{"seq":0,"type":"journal","id":"0123456789abcdef0123456789abcdef","experiment":"sync-stop","experiment_tags":{},"created":1796428835404}
{"seq":1,"type":"run","run":"main","parent":null,"name":"hand","start":1796428835404,"tags":{}}
{"seq":2,"type":"param","run":"main","key":"k","value":"1"}
JOURNAL

# 1. SIGINT while sync waits between retries of a 503: it stops within a
# second or two, exits 130 and names the command that resumes it. A backoff
# factor of 10 s makes the wait after the second retry 20 s, far above the
# limit checked.
start_stub unavailable 503 json
MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=10 "$advgnn" sync "$run" --tracking-uri "http://127.0.0.1:$port" \
    >"$work/out" 2>"$work/err" &
pid=$!
( sleep 60; kill -KILL "$pid" ) >/dev/null 2>&1 &
watchdog=$!
start=$(date +%s)
if wait_for "retry 2 of 7" "$work/err" 30; then
    start=$(date +%s)
    kill -INT "$pid"
else
    fail "no 'retry 2 of 7' line within 30 s"
    kill -KILL "$pid" 2>/dev/null
fi
wait "$pid"
status=$?
seconds=$(($(date +%s) - start))
kill "$watchdog" 2>/dev/null
show "SIGINT between retries (${seconds} s after the signal)" $status
[ $status -eq 130 ] || fail "exit status $status, expected 130"
[ "$seconds" -lt 5 ] || fail "sync took $seconds s to stop after SIGINT"
expect "stopped by a signal" "$work/err"
expect "the journal keeps the 2 records not sent" "$work/err"
expect "advgnn sync $run" "$work/err"
reject "did not respond" "$work/err"

# 2. The same server with one retry: the message counts "1 retry".
MLFLOW_HTTP_REQUEST_MAX_RETRIES=1 MLFLOW_HTTP_REQUEST_BACKOFF_JITTER=0 \
    "$advgnn" sync "$run" --tracking-uri "http://127.0.0.1:$port" >"$work/out" 2>"$work/err"
status=$?
show "one retry" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "did not respond after 1 retry:" "$work/err"

# timed_sync LABEL URI: syncs the run to URI and sets $status and $seconds.
timed_sync() {
    start=$(date +%s)
    "$advgnn" sync "$run" --tracking-uri "$2" >"$work/out" 2>"$work/err"
    status=$?
    seconds=$(($(date +%s) - start))
    show "$1 (${seconds} s)" $status
}

# 3. https:// for a plain-HTTP server fails at once, naming the fix.
timed_sync "https to a plain-HTTP server" "https://127.0.0.1:$port"
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "127.0.0.1:$port does not speak TLS" "$work/err"
expect "use http://127.0.0.1:$port" "$work/err"
expect "hint: pass --tracking-uri" "$work/err"
reject "retry 1 of" "$work/err"
[ "$seconds" -lt 5 ] || fail "sync took $seconds s for a TLS error"

# 4. A server that is not MLflow (501 with an HTML page) fails at once.
start_stub not_mlflow 501 html
timed_sync "HTTP 501 with HTML" "http://127.0.0.1:$port"
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "the server at http://127.0.0.1:$port is not an MLflow tracking server (HTTP 501, HTML answer)" "$work/err"
expect "2 pending" "$work/out"
reject "retry 1 of" "$work/err"
reject "rejected" "$work/err"
[ "$seconds" -lt 5 ] || fail "sync took $seconds s for HTTP 501"

# 4a. A URI with a wrong path: a 404 with an HTML page for every request,
# not MLflow's JSON error. It fails at once, and no record is marked
# rejected, so a sync to the right URI later still sends them.
start_stub wrong_path 404 html
timed_sync "HTTP 404 with HTML" "http://127.0.0.1:$port/mlflow"
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "is not an MLflow tracking server (HTTP 404, HTML answer)" "$work/err"
expect "2 pending" "$work/out"
reject "rejected" "$work/err"
[ "$seconds" -lt 5 ] || fail "sync took $seconds s for HTTP 404"

# 4b. None of the servers above responded, so without a URI sync names no
# server to fall back on, although each attempt left an acknowledgement log.
env -u MLFLOW_TRACKING_URI "$advgnn" sync "$run" >"$work/out" 2>"$work/err"
status=$?
show "no server responded, no URI" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "the run was never sent to a server" "$work/err"

# 4c. A URI that curl cannot parse fails before any request.
for bad in "http://" "http://127.0.0.1:99999" "http://[::1"; do
    "$advgnn" sync "$run" --tracking-uri "$bad" >"$work/out" 2>"$work/err"
    status=$?
    show "invalid URI $bad" $status
    [ $status -eq 1 ] || fail "exit status $status for $bad, expected 1"
    expect "tracking URI '$bad' is invalid (" "$work/err"
    reject "retry 1 of" "$work/err"
done

# 4d. A live run whose server never responded, and a sync to another
# server that did: the choice is the user's.
printf '{"target":"http://127.0.0.1:3"}\n{"live_run":true}\n{"intent":[1,2]}\n' \
    >"$run/tracking/acks-0000000000000003.jsonl"
printf '{"target":"http://127.0.0.1:4"}\n{"experiment_id":"1"}\n' >"$run/tracking/acks-0000000000000004.jsonl"
env -u MLFLOW_TRACKING_URI "$advgnn" sync "$run" >"$work/out" 2>"$work/err"
status=$?
show "live run's server and another" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "the run was sent to several servers (" "$work/err"
expect "http://127.0.0.1:3" "$work/err"
expect "http://127.0.0.1:4" "$work/err"
rm "$run/tracking/acks-0000000000000003.jsonl" "$run/tracking/acks-0000000000000004.jsonl"

# 5. A run sent to two servers, and no URI: both are named, and the hint
# names no MLFLOW_* variable, since the message names none either.
printf '{"target":"http://127.0.0.1:1"}\n{"experiment_id":"1"}\n' >"$run/tracking/acks-0000000000000001.jsonl"
printf '{"target":"http://127.0.0.1:2"}\n{"experiment_id":"1"}\n' >"$run/tracking/acks-0000000000000002.jsonl"
env -u MLFLOW_TRACKING_URI "$advgnn" sync "$run" >"$work/out" 2>"$work/err"
status=$?
show "sent to two servers" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "the run was sent to several servers (" "$work/err"
expect "http://127.0.0.1:1" "$work/err"
expect "http://127.0.0.1:2" "$work/err"
expect "hint: pass --tracking-uri" "$work/err"
reject "variables named above" "$work/err"

finish
