#!/bin/sh
# Checks `advgnn score` on a vig run with the default decoder, whose
# results.json lists every resolved option, 'decoder_blocks' included. The
# script first makes a small two-category run (scripts/score_vig_run.lua).
#
# usage: score_vig_check.sh ADVGNN SCRIPT
set -u

advgnn=$1
script=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-score-vig-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../cli/check_helpers.sh"

"$advgnn" --no-progress --quiet run "$script" "out=$work/run" >"$work/out" 2>"$work/err"
status=$?
show "run" $status
[ $status -eq 0 ] || { echo "FAIL: the run failed"; exit 1; }
image=$(find "$work/run/heatmaps/dots" -name '*.png' | head -n 1)
[ -n "$image" ] || { echo "FAIL: the run wrote no heatmap for dots"; exit 1; }
cp "$image" "$work/image.png"

# 1. results.json lists the options the user set, and only those.
expect '"set_options"' "$work/run/results.json"
tr -d ' \t\n' <"$work/run/results.json" >"$work/flat.json"
grep -qF '"set_options":["widths","k","epochs","batch_size"]' "$work/flat.json" ||
    fail "the encoder's set_options are not [widths, k, epochs, batch_size]"

# 2. Scoring with the run's category: a score line and scores.csv.
"$advgnn" --no-progress score "$work/run" "$work/image.png" --category dots --output "$work/s1" \
    >"$work/out" 2>"$work/err"
status=$?
show "score dots" $status
[ $status -eq 0 ] || fail "exit status $status, expected 0"
grep -qE "^$work/image.png [0-9.e+-]+\$" "$work/out" || fail "no score line for image.png"
reject "decoder_blocks" "$work/err"
grep -q "image.png" "$work/s1/scores.csv" || fail "image.png not in scores.csv"

finish
