#!/usr/bin/env bash
# Compare the vig plugin with its PyTorch version (scripts/vig_reference.py)
# on this machine: training and inference milliseconds per image.
#
# usage: bench/vig/run.sh [rounds]   (default 3)
#
# Each round runs bench_vig, then bench_vig_torch.py with the indexed gather.
# Then, unless ADVGNN_BENCH_F32_LOSS=0, it runs the same with a float32 loss
# (the plugin and the default PyTorch side compute the loss in float64).
# Last, unless ADVGNN_BENCH_REFERENCE_GATHER=0, it runs bench_vig_torch.py
# with the reference script's own gather. Interleaving the sides this way
# makes every side run under the same machine load over time. compare.py
# writes the medians over all rounds and repetitions, and the PyTorch /
# advgnn ratios (above 1 means advgnn is faster), to
# $ADVGNN_BENCH_OUT/comparison.md.
#
# Both programs print wall_ms_per_image (elapsed time per image) and
# cpu_ms_per_image: the process CPU time divided by the thread count and by
# the images. cpu_ms_per_image equals the wall time when every thread computes
# for the whole call, and is lower when threads wait (in serial parts, or for
# cores that other processes hold). For example, wall 55.8 and CPU 44.2 mean
# that the threads were busy 79 % of the time.
#
# Needs bench/.venv with torch (bench/torch/run.sh creates it) and a build
# with bench_vig and the vig plugin.
#
# Environment:
#   ADVGNN_BUILD_DIR      build folder (default build/ in the repository)
#   ADVGNN_BENCH_OUT      folder for the CSV rounds and comparison.md
#                         (default $ADVGNN_BUILD_DIR/bench-vig)
#   ADVGNN_BENCH_THREADS  threads of both sides (default 2)
#   ADVGNN_BENCH_ARGS     extra arguments of both programs, e.g.
#                         "--preset small --size 128 --repeats 3"
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}
build=${ADVGNN_BUILD_DIR:-$root/build}
out=${ADVGNN_BENCH_OUT:-$build/bench-vig}
threads=${ADVGNN_BENCH_THREADS:-2}
python=$root/bench/.venv/bin/python
read -r -a extra <<< "${ADVGNN_BENCH_ARGS:-}"

if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
    echo "run.sh: rounds must be a positive integer, got '$rounds'" >&2
    exit 2
fi
if [[ ! -x $python ]]; then
    echo "run.sh: $python is missing; create it with bench/torch/run.sh or" \
         "scripts/requirements-vig-reference.txt" >&2
    exit 2
fi
cmake --build "$build" --target bench_vig --parallel 2

mkdir -p "$out"
rm -f "$out"/advgnn-*.csv "$out"/torch-*.csv

# Idle OpenMP threads would otherwise spin and count as CPU time on both sides.
export OMP_WAIT_POLICY=passive

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) online"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

for round in $(seq 1 "$rounds"); do
    echo "run.sh: round $round of $rounds" >&2
    "$build/bench/vig/bench_vig" --threads "$threads" "${extra[@]}" > "$out/advgnn-$round.csv"
    "$python" "$root/bench/vig/bench_vig_torch.py" --threads "$threads" "${extra[@]}" > "$out/torch-$round.csv"
    if [[ ${ADVGNN_BENCH_F32_LOSS:-1} != 0 ]]; then
        "$python" "$root/bench/vig/bench_vig_torch.py" --threads "$threads" --loss-dtype float32 "${extra[@]}" \
            > "$out/torch-f32-loss-$round.csv"
    fi
    if [[ ${ADVGNN_BENCH_REFERENCE_GATHER:-1} != 0 ]]; then
        "$python" "$root/bench/vig/bench_vig_torch.py" --threads "$threads" --gather reference "${extra[@]}" \
            > "$out/torch-reference-$round.csv"
    fi
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"

{
    cat "$out/machine.txt"
    echo
    "$python" "$root/bench/vig/compare.py" "$out"/advgnn-*.csv "$out"/torch-*.csv
} > "$out/comparison.md"
cat "$out/comparison.md"
