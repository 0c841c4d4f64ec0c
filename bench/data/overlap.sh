#!/usr/bin/env bash
# A category run with and without the background decoding of the test split
# (docs/benchmarks.md, "Overlapping decoding with computing").
#
#   bench/data/overlap.sh BUILD_DIR [rounds] [encoder] [image_size] [threads]
#
# Runs bench/data/overlap.lua on the shared MVTec AD bottle images `rounds`
# times (default 5) with prefetch=false and prefetch=true, alternating the
# order each round so that a change of machine load hits both sides alike.
# encoder is patch_stats (default; no training) or cnn_ae (2 epochs).
# Prints one row per run, the medians, and the load average before and
# after. Columns: load s is the run's timings.load_seconds (decoding, plus
# the wait for the test images with prefetch). fit s is timings.fit_seconds.
# run s is results.json's "seconds" (load, training, fit and scoring). wall s
# and CPU s are those of the whole advgnn process (user + system time of the
# child). bg is the number of test images the background thread decoded
# before the runner needed them (from the run's log).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: $0 BUILD_DIR [rounds] [encoder] [image_size] [threads]}
rounds=${2:-5}
encoder=${3:-patch_stats}
image_size=${4:-256}
threads=${5:-2}
root=${ADVGNN_SHARED_DATA:-"$repo/../shared/data"}/mvtec_ad
work=$(mktemp -d /tmp/overlap-XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "encoder $encoder, image_size $image_size, $threads threads, work folder $work"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Runs one experiment and appends "mode load fit run wall cpu bg" to $work/rows.
run_one() {
  local mode=$1 round=$2 out="$work/run-$2-$1"
  python3 - "$build/advgnn" "$repo/bench/data/overlap.lua" "$root" "$out" "$mode" "$encoder" "$image_size" \
    "$threads" "$work/run-$round-$mode.log" <<'PY' >"$work/row"
import json, resource, subprocess, sys, time
exe, script, root, out, mode, encoder, size, threads, log = sys.argv[1:]
start = time.monotonic()
with open(log, "w") as f:
    rc = subprocess.call([exe, "--threads", threads, "run", script, f"root={root}", f"output={out}",
                          f"prefetch={'true' if mode == 'on' else 'false'}", f"encoder={encoder}",
                          f"image_size={size}"], stdout=f, stderr=subprocess.STDOUT)
wall = time.monotonic() - start
if rc != 0:
    sys.exit(f"advgnn exited with {rc}; see {log}")
use = resource.getrusage(resource.RUSAGE_CHILDREN)
results = json.load(open(f"{out}/results.json"))
category = next(iter(results["categories"].values()))
timings = category["timings"]
background = "-"
for line in open(log):
    if "decoded in the background" in line:
        background = line.split("test split: ")[1].split(" of ")[0]
print(f"{timings['load_seconds']:.3f} {timings['fit_seconds']:.3f} {results['seconds']:.3f} {wall:.3f} "
      f"{use.ru_utime + use.ru_stime:.3f} {background}")
PY
  echo "$mode $(cat "$work/row")" | tee -a "$work/rows" |
    awk -v r="$round" '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r, $1, $2, $3, $4, $5, $6, $7}'
}

echo
echo "| round | prefetch | load s | fit s | run s | wall s | CPU s | bg |"
echo "|---|---|---|---|---|---|---|---|"
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

python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
columns = ["load s", "fit s", "run s", "wall s", "CPU s"]
medians = {}
for mode in ("off", "on"):
    values = [[float(v) for v in r[1:6]] for r in rows if r[0] == mode]
    medians[mode] = [statistics.median(c) for c in zip(*values)]
print("| prefetch | " + " | ".join(f"median {c}" for c in columns) + " |")
print("|---|" + "---|" * len(columns))
for mode in ("off", "on"):
    print(f"| {mode} | " + " | ".join(f"{v:.3f}" for v in medians[mode]) + " |")
print("| on / off | " + " | ".join(f"{a / b:.2f}" if b else "-" for a, b in zip(medians["on"], medians["off"])) + " |")
PY
