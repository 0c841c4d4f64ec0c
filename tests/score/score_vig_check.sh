#!/bin/sh
# Checks `advgnn score` on a vig run with the default decoder, whose
# results.json lists every resolved option, 'decoder_blocks' included. The
# script first makes a small two-category run (scripts/score_vig_run.lua).
# Also checks a uniform image whose heatmap is flat, and that a copied run
# folder scores with its own weights. Then it checks the hints
# for a run without --category, an output folder that already contains a run,
# an empty output and a vig width that is not a multiple of 4.
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

# 2a. A results.json from before "set_options" existed. Score restores the
# options that differ from their defaults, and decoder_blocks is not one.
cp -r "$work/run" "$work/old"
python3 - "$work/old/results.json" <<'PY' || fail "cannot strip set_options"
import json, sys
path = sys.argv[1]
results = json.load(open(path))
for entry in [results["plugins"]["dataset"], results["plugins"]["encoder"]] + results["plugins"]["scorers"]:
    entry.pop("set_options", None)
json.dump(results, open(path, "w"))
PY
reject '"set_options"' "$work/old/results.json"
"$advgnn" --no-progress score "$work/old" "$work/image.png" --category dots --output "$work/s1a" \
    >"$work/out" 2>"$work/err"
status=$?
show "score a run without set_options" $status
[ $status -eq 0 ] || fail "exit status $status, expected 0"
grep -qE "^$work/image.png [0-9.e+-]+\$" "$work/out" || fail "no score line for image.png"
reject "decoder_blocks" "$work/err"

# 2b. A uniform image alone on a patch_stats run of dots. Every heatmap
# value is the same, and the overlay still gets a colour range instead of
# failing on an empty one.
"$advgnn" --no-progress --quiet run "$(dirname "$script")/score_run.lua" "out=$work/flat" kind=dots \
    >"$work/out" 2>"$work/err"
status=$?
show "flat run" $status
[ $status -eq 0 ] || fail "the patch_stats run of dots failed"
python3 - "$work/black.png" <<'PY' || fail "cannot write black.png"
import struct, sys, zlib
w = h = 32
raw = b"".join(b"\0" + b"\0" * (3 * w) for _ in range(h))
chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
"$advgnn" --no-progress score "$work/flat" "$work/black.png" --output "$work/s1b" >"$work/out" 2>"$work/err"
status=$?
show "score a uniform image" $status
[ $status -eq 0 ] || fail "exit status $status, expected 0"
grep -qE "^$work/black.png [0-9.e+-]+\$" "$work/out" || fail "no score line for black.png"
reject "vmax must exceed vmin" "$work/err"

# 2c. A copied run folder scores with its own weights, not with the ones at
# the absolute path that results.json recorded. Without them it fails and
# names the missing file.
cp -r "$work/run" "$work/copy"
"$advgnn" --no-progress -v score "$work/copy" "$work/image.png" --category dots --output "$work/s1c" \
    >"$work/out" 2>"$work/err"
status=$?
show "score a copied run" $status
[ $status -eq 0 ] || fail "exit status $status, expected 0"
expect "encoder weights from $work/copy/encoder/dots/weights.safetensors" "$work/err"
rm "$work/copy/encoder/dots/weights.safetensors"
"$advgnn" --no-progress score "$work/copy" "$work/image.png" --category dots --output "$work/s1d" \
    >"$work/out" 2>"$work/err"
status=$?
show "score a copied run without weights" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "the trained encoder weights $work/copy/encoder/dots/weights.safetensors are missing" "$work/err"
expect "copy the whole run folder" "$work/err"

# 3. Without --category the message lists the run's categories and the hint
# names the help of score, not the fields of advgnn.experiment.
"$advgnn" --no-progress score "$work/run" "$work/image.png" --output "$work/s2" >"$work/out" 2>"$work/err"
status=$?
show "no category" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "the run has 2 categories (checker, dots)" "$work/err"
expect "'advgnn help score'" "$work/err"
reject "advgnn help run" "$work/err"

# 4. An unknown category is named together with the run's categories.
"$advgnn" --no-progress score "$work/run" "$work/image.png" --category grid --output "$work/s3" \
    >"$work/out" 2>"$work/err"
status=$?
show "unknown category" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "no results for category 'grid'; its categories are: checker, dots" "$work/err"

# 5. A second run into the same folder. The hint is about the folder, not a
# plugin failure.
"$advgnn" --no-progress --quiet run "$script" "out=$work/run" >"$work/out" 2>"$work/err"
status=$?
show "same output" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "already contains a run" "$work/err"
expect "hint: give each run its own output folder" "$work/err"
reject "a plugin failed" "$work/err"

# 6. An empty output.
"$advgnn" --no-progress --quiet run "$script" "out=" >"$work/out" 2>"$work/err"
status=$?
show "empty output" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "hint: set 'output' of advgnn.experiment to a folder" "$work/err"
reject "a plugin failed" "$work/err"

# 7. A width that is not a multiple of 4 names the option 'widths'.
"$advgnn" --no-progress --quiet run "$script" "out=$work/bad" bad_width=1 >"$work/out" 2>"$work/err"
status=$?
show "width 15" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "option 'widths': width 15 of stage 1 is not a multiple of 4" "$work/err"

finish
