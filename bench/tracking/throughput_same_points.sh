#!/usr/bin/env bash
# The same N metric points, logged by three clients into one experiment of
# one MLflow server on 127.0.0.1 (docs/tracking.md, Throughput):
#   advgnn's tracker (bench_tracking: journal + background log-batch),
#   MlflowClient.log_batch with 1000 points per request,
#   mlflow.log_metric, one blocking request per point, and
#   mlflow.log_metric(synchronous=False), MLflow's own background queue.
# Each client logs its points into its own MLflow run of the same experiment
# (the same keys, values and steps; bench/tracking/same_points.py).
#
#   [WAYS="log_batch async log_metric"] bench/tracking/throughput_same_points.sh BUILD_DIR [N]
#
# WAYS selects the Python client's ways (all three by default; log_metric
# alone takes about a minute per 5000 points).
# Prints per client: seconds until the server acknowledged every point,
# points/s, the seconds the logging thread spent inside the log calls and
# per point, and the CPU seconds the server's request worker used meanwhile. A server
# CPU time close to the delivery time means the server, not the client, sets
# the rate (it runs one worker, so it can use at most one core).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: $0 BUILD_DIR [N]}
count=${2:-5000}
venv=${ADVGNN_VENV:-"$repo/.venv"}
work=$(mktemp -d /tmp/throughput-same-points-XXXXXX)

cleanup() { "$repo/scripts/mlflow-server.sh" stop "$work/server" >/dev/null 2>&1 || true; }
trap cleanup EXIT

uri=$("$repo/scripts/mlflow-server.sh" start "$work/server")
sid=$(cat "$work/server/pid")
echo "server: $uri, work folder: $work"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds used so far by the server's uvicorn worker, the one process
# that serves the requests. The server runs in its own session (setsid, so
# the session id is its pid); its other processes (the job runner and huey
# consumers of MLflow 3) poll in the background and are left out.
worker=$(ps -eo pid=,sid=,args= | awk -v s="$sid" '$2 == s && /uvicorn/ { print $1; exit }')
[[ -n $worker ]] || { echo "no uvicorn worker in session $sid" >&2; exit 1; }
server_cpu() {
  local -a f
  read -r -a f <"/proc/$worker/stat"
  # Fields 14 and 15: user and system clock ticks (the command name, field 2,
  # has no spaces here).
  echo "scale=2; (${f[13]} + ${f[14]}) / $(getconf CLK_TCK)" | bc
}

experiment="same-points-$$"

# Warm-up: the first requests of a fresh server import and initialize its
# store; they should not count for the first client measured.
"$venv/bin/python" "$repo/bench/tracking/same_points.py" "$uri" "$experiment" log_batch 100 >/dev/null 2>&1
echo
echo "| client | points | s until delivered | points/s | s in log calls | µs per log call | server CPU s |"
echo "|---|---|---|---|---|---|---|"
row() {
  local way=$1 n=$2 delivered=$3 in_calls=$4 cpu=$5
  awk -v w="$way" -v n="$n" -v d="$delivered" -v c="$in_calls" -v s="$cpu" \
    'BEGIN { printf "| %s | %d | %.2f | %.0f | %.3f | %.1f | %.2f |\n", w, n, d, n / d, c, 1e6 * c / n, s }'
}

# advgnn: bench_tracking logs N points into its own experiment and prints the
# delivery time and the ns per log call; 0 overhead steps.
before=$(server_cpu)
line=$("$build/bench/tracking/bench_tracking" "$uri" "$count" 0 | grep '^| C tracker')
after=$(server_cpu)
delivered=$(echo "$line" | awk -F'|' '{print $4 + 0}')
ns=$(echo "$line" | awk -F'|' '{print $5 + 0}')
row "advgnn tracker" "$count" "$delivered" "$(echo "scale=6; $ns * $count / 1000000000" | bc)" \
  "$(echo "$after - $before" | bc)"

for way in ${WAYS:-log_batch async log_metric}; do
  before=$(server_cpu)
  read -r _ _ n delivered in_calls < <("$venv/bin/python" "$repo/bench/tracking/same_points.py" "$uri" "$experiment" "$way" "$count" |
    grep '^RESULT ')
  after=$(server_cpu)
  row "Python $way" "$n" "$delivered" "$in_calls" "$(echo "$after - $before" | bc)"
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
