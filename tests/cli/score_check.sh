#!/bin/sh
# Checks `advgnn score` with unreadable and missing images and with a run
# that did not finish. The script first makes a small run
# (scripts/score_run.lua). One of its heatmap PNGs is the readable image,
# and a text file the unreadable one.
#
# usage: score_check.sh ADVGNN SCRIPT
set -u

advgnn=$1
script=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-score-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/check_helpers.sh"

"$advgnn" --no-progress --quiet run "$script" "out=$work/run" >"$work/out" 2>"$work/err"
status=$?
show "run" $status
[ $status -eq 0 ] || { echo "FAIL: the run failed"; exit 1; }
good=$(find "$work/run/heatmaps" -name '*.png' | head -n 1)
[ -n "$good" ] || { echo "FAIL: the run wrote no heatmap"; exit 1; }
cp "$good" "$work/good.png"
echo "not an image" >"$work/bad.png"

# 1. One readable and one unreadable image: the readable one is scored and
# printed, the other is named with its error, and the exit status is 1.
"$advgnn" --no-progress score "$work/run" "$work/good.png" "$work/bad.png" --output "$work/s1" \
    >"$work/out" 2>"$work/err"
status=$?
show "good and bad" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
grep -qE "^$work/good.png [0-9.e+-]+\$" "$work/out" || fail "no score line for good.png"
reject "bad.png" "$work/out"
expect "bad.png" "$work/err"
expect "1 of 2 images could not be read" "$work/err"
grep -q "good.png" "$work/s1/scores.csv" || fail "good.png not in scores.csv"

# 2. Only unreadable images: the message states that nothing was scored.
"$advgnn" --no-progress score "$work/run" "$work/bad.png" --output "$work/s2" >"$work/out" 2>"$work/err"
status=$?
show "bad only" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "nothing was scored" "$work/err"
[ ! -s "$work/out" ] || fail "something was printed on stdout"
expect "hint: pass PNG, JPEG or BMP files" "$work/err"

# 2b. Only missing files: the hint is about the paths, not the file format.
"$advgnn" --no-progress score "$work/run" "$work/absent.png" --output "$work/s2b" >"$work/out" 2>"$work/err"
status=$?
show "missing only" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "absent.png" "$work/err"
expect "hint: check the image paths named above" "$work/err"
reject "image viewer" "$work/err"

# 2c. A missing file and an unreadable one: the hint covers both.
"$advgnn" --no-progress score "$work/run" "$work/absent.png" "$work/bad.png" --output "$work/s2c" \
    >"$work/out" 2>"$work/err"
status=$?
show "missing and bad" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "nothing was scored" "$work/err"
expect "hint: check the paths of the files that could not be opened, and pass PNG, JPEG or BMP" "$work/err"

# 3. A run that did not finish: the hint names a finished run as the fix, not
# the fields of advgnn.experiment.
sed 's/"finished"/"failed"/' "$work/run/results.json" >"$work/results.json" &&
    mv "$work/results.json" "$work/run/results.json"
"$advgnn" --no-progress score "$work/run" "$work/good.png" >"$work/out" 2>"$work/err"
status=$?
show "failed run" $status
[ $status -eq 1 ] || fail "exit status $status, expected 1"
expect "did not finish (status 'failed'" "$work/err"
expect "hint: pass the folder of a finished run" "$work/err"
reject "fields of advgnn.experiment" "$work/err"

# 4. Two scorers: scores.csv gives the fused score and each scorer's own,
# under the run's labels, and the printed score is the fused one.
"$advgnn" --no-progress --quiet run "$script" "out=$work/run2" two=1 >"$work/out" 2>"$work/err"
status=$?
show "run with two scorers" $status
[ $status -eq 0 ] || fail "the run with two scorers failed"
"$advgnn" --no-progress score "$work/run2" "$work/good.png" --output "$work/s4" >"$work/out" 2>"$work/err"
status=$?
show "two scorers" $status
[ $status -eq 0 ] || fail "exit status $status, expected 0"
header=$(head -n 1 "$work/s4/scores.csv")
[ "$header" = "image,score,memory_bank,bank_all" ] || fail "scores.csv header is '$header'"
row=$(tail -n 1 "$work/s4/scores.csv")
fields=$(printf '%s\n' "$row" | awk -F, '{ print NF }')
[ "$fields" = 4 ] || fail "scores.csv row '$row' has $fields fields, expected 4"
printed=$(awk '{ print $2 }' "$work/out")
[ "$(printf '%s\n' "$row" | cut -d, -f2)" = "$printed" ] || fail "the printed score $printed is not the score column"

finish
