#!/usr/bin/env bash
# Compare advgnn's nn layers and kNN graph with PyTorch on this machine.
#
# usage: bench/torch/run.sh [rounds]   (default 5)
#
# Creates bench/.venv from bench/torch/requirements.txt when it is missing or
# the requirements changed, builds bench_nn, then runs `rounds` rounds. Each
# round runs bench_nn --csv and then bench_layers.py, so both see the same
# machine load over time. compare.py writes the medians over the rounds and
# the torch/advgnn ratios as Markdown to $ADVGNN_BENCH_OUT/comparison.md.
#
# Environment:
#   ADVGNN_BUILD_DIR      build folder (default build/ in the repository)
#   ADVGNN_BENCH_OUT      folder for the raw CSV rounds and comparison.md
#                         (default $ADVGNN_BUILD_DIR/bench-torch)
#   ADVGNN_BENCH_THREADS  threads for both benchmarks (default 2)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-5}
build=${ADVGNN_BUILD_DIR:-$root/build}
out=${ADVGNN_BENCH_OUT:-$build/bench-torch}
threads=${ADVGNN_BENCH_THREADS:-2}
venv=$root/bench/.venv
requirements=$root/bench/torch/requirements.txt

if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
    echo "run.sh: rounds must be a positive integer, got '$rounds'" >&2
    exit 2
fi

# The virtual environment keeps a copy of the requirements it was built
# from, so an edited requirements.txt triggers a reinstall.
if [[ ! -x $venv/bin/python ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    echo "run.sh: installing $requirements into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
fi

if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$root" -B "$build" -G Ninja
fi
cmake --build "$build" --target bench_nn --parallel 2
bench_nn=$build/bench/nn/bench_nn

mkdir -p "$out"
rm -f "$out"/advgnn-*.csv "$out"/torch-*.csv

# Passive waiting keeps idle OpenMP threads from spinning, which would count
# as CPU time on both sides.
export OMP_WAIT_POLICY=passive

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) online"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

for round in $(seq 1 "$rounds"); do
    echo "run.sh: round $round of $rounds" >&2
    "$bench_nn" --csv "$threads" > "$out/advgnn-$round.csv"
    "$venv/bin/python" "$root/bench/torch/bench_layers.py" --threads "$threads" > "$out/torch-$round.csv"
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"

{
    cat "$out/machine.txt"
    head -n1 "$out/advgnn-1.csv"
    head -n1 "$out/torch-1.csv"
    echo
    "$venv/bin/python" "$root/bench/torch/compare.py" --advgnn "$out"/advgnn-*.csv --torch "$out"/torch-*.csv
} > "$out/comparison.md"
cat "$out/comparison.md"
