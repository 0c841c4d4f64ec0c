#!/usr/bin/env bash
# The same N metric points, logged by several clients into one MLflow server
# on 127.0.0.1 (docs/tracking.md, Throughput):
#   advgnn's tracker (bench_tracking: journal + background log-batch),
#   MlflowClient.log_batch with 1000 points per request,
#   mlflow.log_metric, one blocking request per point, and
#   mlflow.log_metric(synchronous=False), MLflow's own background queue.
# Each client logs its points into its own MLflow run (the same keys, values
# and steps; bench/tracking/same_points.py).
#
#   [WAYS="log_batch async log_metric"] [ROUNDS=1] [QUIET_WAIT=1] \
#     bench/tracking/throughput_same_points.sh BUILD_DIR [N]
#
# WAYS selects the Python client's ways (all three by default; log_metric
# alone takes about a minute per 5000 points). ROUNDS repeats the clients;
# even rounds run them in reverse order, so that no client is always first.
# QUIET_WAIT=0 skips the wait for idle server processes described below.
# Prints per client: seconds until the server acknowledged every point,
# points/s, the seconds the logging thread spent inside the log calls and per
# point, the CPU seconds of the server's request worker and of its other
# processes meanwhile, and the load average.
#
# Measurements start only after the server's other processes are idle. In
# the first minute after the server starts, the job runner of MLflow 3.17.2
# starts seven huey consumer processes, and each spends about 3 s of CPU time
# importing MLflow. The server runs in its own session (setsid), and with the
# kernel's autogroup scheduling all processes of a session share one group's
# CPU time. While the consumers start, the worker gets little CPU time and
# every request is slow, whichever client sends it.
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

# CPU seconds used so far by the server's processes. The server runs in its
# own session (setsid, so the session id is its pid). The uvicorn worker
# serves the requests; the others are the `mlflow server` parent, the job
# runner and its huey consumers.
worker=$(ps -eo pid=,sid=,args= | awk -v s="$sid" '$2 == s && /uvicorn/ { print $1; exit }')
[[ -n $worker ]] || { echo "no uvicorn worker in session $sid" >&2; exit 1; }
ticks_of() {
  local -a f
  # Fields 14 and 15: user and system clock ticks (the command name, field 2,
  # has no spaces here). A process that just exited counts 0.
  read -r -a f <"/proc/$1/stat" 2>/dev/null || { echo 0; return; }
  echo $((f[13] + f[14]))
}
worker_ticks() { ticks_of "$worker"; }
other_ticks() {
  local total=0 pid
  for pid in $(ps -eo pid=,sid= | awk -v s="$sid" -v w="$worker" '$2 == s && $1 != w { print $1 }'); do
    total=$((total + $(ticks_of "$pid")))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
seconds_of() { echo "scale=2; $1 / $hz" | bc; }

# Waits until the server's processes together used under 5% of one core in
# each of 5 consecutive seconds (at most QUIET_TIMEOUT seconds, default 300).
wait_for_quiet() {
  local quiet=0 waited=0 before after
  before=$(($(worker_ticks) + $(other_ticks)))
  while ((quiet < 5)); do
    sleep 1
    waited=$((waited + 1))
    after=$(($(worker_ticks) + $(other_ticks)))
    if (((after - before) * 100 < 5 * hz)); then quiet=$((quiet + 1)); else quiet=0; fi
    before=$after
    if ((waited >= ${QUIET_TIMEOUT:-300})); then
      echo "warning: the server's processes were still busy after ${waited}s; measuring anyway" >&2
      return
    fi
  done
  echo "server idle after ${waited}s of waiting"
}

experiment="same-points-$$"

# Warm-up: the first requests of a fresh server import and initialize its
# store; they should not count for the first client measured.
"$venv/bin/python" "$repo/bench/tracking/same_points.py" "$uri" "$experiment" log_batch 100 >/dev/null 2>&1
if [[ ${QUIET_WAIT:-1} != 0 ]]; then wait_for_quiet; fi
echo
echo "| round | client | points | s until delivered | points/s | s in log calls | µs per log call | worker CPU s | other server CPU s | load |"
echo "|---|---|---|---|---|---|---|---|---|---|"
row() {
  local round=$1 way=$2 n=$3 delivered=$4 in_calls=$5 cpu=$6 other=$7 load=$8
  awk -v r="$round" -v w="$way" -v n="$n" -v d="$delivered" -v c="$in_calls" -v s="$cpu" -v o="$other" -v l="$load" \
    'BEGIN { printf "| %d | %s | %d | %.2f | %.0f | %.3f | %.1f | %.2f | %.2f | %s |\n", r, w, n, d, n / d, c, 1e6 * c / n, s, o, l }'
}

# One client: "tracker" or a way of same_points.py.
measure() {
  local round=$1 client=$2 line delivered ns in_calls n w0 o0 w1 o1
  w0=$(worker_ticks)
  o0=$(other_ticks)
  if [[ $client == tracker ]]; then
    # bench_tracking logs N points into its own experiment and prints the
    # delivery time and the ns per log call; 0 overhead steps.
    line=$("$build/bench/tracking/bench_tracking" "$uri" "$count" 0 | grep '^| C tracker')
    n=$count
    delivered=$(echo "$line" | awk -F'|' '{print $4 + 0}')
    ns=$(echo "$line" | awk -F'|' '{print $5 + 0}')
    in_calls=$(echo "scale=6; $ns * $count / 1000000000" | bc)
    client="advgnn tracker"
  else
    read -r _ _ n delivered in_calls < <("$venv/bin/python" "$repo/bench/tracking/same_points.py" "$uri" "$experiment" \
      "$client" "$count" | grep '^RESULT ')
    client="Python $client"
  fi
  w1=$(worker_ticks)
  o1=$(other_ticks)
  row "$round" "$client" "$n" "$delivered" "$in_calls" "$(seconds_of $((w1 - w0)))" "$(seconds_of $((o1 - o0)))" \
    "$(cut -d' ' -f1 /proc/loadavg)"
}

read -r -a clients <<<"tracker ${WAYS:-log_batch async log_metric}"
for ((round = 1; round <= ${ROUNDS:-1}; round++)); do
  order=("${clients[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#clients[@]} - 1; i >= 0; i--)); do order+=("${clients[i]}"); done
  fi
  for client in "${order[@]}"; do
    measure "$round" "$client"
  done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
