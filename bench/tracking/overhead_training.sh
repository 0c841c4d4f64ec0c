#!/usr/bin/env bash
# Overhead of MLflow tracking on real training (docs/tracking.md, Throughput).
#
#   bench/tracking/overhead_training.sh BUILD_DIR [rounds] [epochs] [train_count]
#
# Starts an MLflow server on 127.0.0.1 (scripts/mlflow-server.sh). Then runs
# bench/tracking/overhead_training.lua (cnn_ae, by default 2 epochs of 64
# images) `rounds` times (default 5) without and with MLFLOW_TRACKING_URI,
# alternating the order each round, so that a change of machine load hits
# both sides alike. advgnn gets one compute thread: with two OpenMP threads
# on the loaded 2-core development machine, the training time of equal runs
# varied from 0.2 s to 7.6 s.
# Prints one row per run, then the medians and their on/off ratios, and the
# load average before and after. Columns: train s, the encoder's training time
# (sum of the epoch seconds in train_history.json); fit s, the run's
# timings.fit_seconds in results.json (the memory bank's fit, which comes
# after training and logs nothing per step); wall s, the whole advgnn process,
# including the wait for the server at the end of a tracked run; CPU s, the
# process's user + system time (rusage of the child).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: $0 BUILD_DIR [rounds] [epochs] [train_count]}
rounds=${2:-5}
epochs=${3:-2}
train_count=${4:-64}
venv=${ADVGNN_VENV:-"$repo/.venv"}
work=$(mktemp -d /tmp/overhead-training-XXXXXX)

cleanup() { "$repo/scripts/mlflow-server.sh" stop "$work/server" >/dev/null 2>&1 || true; }
trap cleanup EXIT

uri=$("$repo/scripts/mlflow-server.sh" start "$work/server")
echo "server: $uri, work folder: $work"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Runs one experiment; appends "mode train fit wall cpu" to $work/rows.
run_one() {
  local mode=$1 round=$2 out="$work/run-$2-$1"
  local -a env_args=(env -u MLFLOW_TRACKING_URI)
  [[ $mode == on ]] && env_args=(env MLFLOW_TRACKING_URI="$uri")
  # The Python wrapper reports the child's wall and CPU time (rusage).
  "${env_args[@]}" "$venv/bin/python" - "$build/advgnn" "$repo/bench/tracking/overhead_training.lua" \
    "$out" "$epochs" "$train_count" "$work/run-$round-$mode.log" <<'PY' >"$work/row"
import json, resource, subprocess, sys, time
exe, script, out, epochs, count, log = sys.argv[1:]
start = time.monotonic()
with open(log, "w") as f:
    rc = subprocess.call([exe, "--threads", "1", "run", script, f"output={out}", f"epochs={epochs}", f"train_count={count}"],
                         stdout=f, stderr=subprocess.STDOUT)
wall = time.monotonic() - start
if rc != 0:
    sys.exit(f"advgnn exited with {rc}; see {log}")
use = resource.getrusage(resource.RUSAGE_CHILDREN)
results = json.load(open(f"{out}/results.json"))
fit = sum(c["timings"]["fit_seconds"] for c in results["categories"].values())
history = json.load(open(f"{out}/encoder/{next(iter(results['categories']))}/train_history.json"))
train = sum(e["seconds"] for e in history["epochs"])
print(f"{train:.3f} {fit:.3f} {wall:.3f} {use.ru_utime + use.ru_stime:.3f}")
PY
  echo "$mode $(cat "$work/row")" | tee -a "$work/rows" | awk -v r="$round" '{printf "| %s | %s | %s | %s | %s | %s |\n", r, $1, $2, $3, $4, $5}'
}

echo
echo "| round | tracking | train s | fit s | wall s | CPU s |"
echo "|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  if ((round % 2)); then
    run_one off "$round"
    run_one on "$round"
  else
    run_one on "$round"
    run_one off "$round"
  fi
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$venv/bin/python" - "$work/rows" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for mode in ("off", "on"):
    cols = [[float(r[i]) for r in rows if r[0] == mode] for i in (1, 2, 3, 4)]
    med[mode] = [statistics.median(c) for c in cols]
print("\n| median | train s | fit s | wall s | CPU s |\n|---|---|---|---|---|")
for mode in ("off", "on"):
    print(f"| tracking {mode} | " + " | ".join(f"{v:.3f}" for v in med[mode]) + " |")
print("| on / off of the medians | " + " | ".join(f"{on / off:.4f}" for on, off in zip(med["on"], med["off"])) + " |")

# Ratio within each round (the two runs of a round ran back to back), then
# the median and range over the rounds.
offs = [r for r in rows if r[0] == "off"]
ons = [r for r in rows if r[0] == "on"]
paired = [[float(b[i]) / float(a[i]) for a, b in zip(offs, ons)] for i in (1, 2, 3, 4)]
print("| median of the per-round on / off | " + " | ".join(f"{statistics.median(p):.4f}" for p in paired) + " |")
print("| range of the per-round on / off | " + " | ".join(f"{min(p):.3f}-{max(p):.3f}" for p in paired) + " |")
PY
