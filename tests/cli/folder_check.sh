#!/bin/sh
# Checks the folder dataset's masks and roots through `advgnn run`, on a
# layout of real bottle images without any mask file. With the default
# options a defect image is never its own mask, so require_masks fails
# naming the image. require_masks=false counts every defect image in
# results.json's test_without_mask. An archive root is named as a file that
# this plugin cannot read. After the data moves, `advgnn score` with
# root=PATH still finds the run's category. Exits with status 77 (skipped)
# when the shared sample data, tar or xz is missing.
#
# usage: folder_check.sh ADVGNN SCRIPTS_DIR SHARED_DATA
set -u

advgnn=$1
scripts=$2
bottle=$3/mvtec_ad/bottle
[ -d "$bottle" ] || { echo "shared data '$bottle' is missing"; exit 77; }
command -v tar >/dev/null && command -v xz >/dev/null || { echo "tar or xz is missing"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-folder-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/check_helpers.sh"

# 6 normal and 2 defective PNG images in good/ and defect/, the plugin's
# default folders.
mkdir -p "$work/fB/good" "$work/fB/defect"
for i in 000 001 002 003 004 005; do
    cp "$bottle/train/good/$i.png" "$work/fB/good/" || fail "cannot copy train/good/$i.png"
done
for i in 000 001; do
    cp "$bottle/test/broken_large/$i.png" "$work/fB/defect/broken_large_$i.png" || fail "cannot copy $i.png"
done

# run NAME ARGS...: runs folder_masks.lua with ARGS and out=$work/out-NAME.
run() {
    name=$1
    shift
    "$advgnn" --no-progress --threads 2 run "$scripts/folder_masks.lua" "$@" "out=$work/out-$name" \
        >"$work/out" 2>"$work/err"
    status=$?
    show "$name" $status
}

run defaults "root=$work/fB"
[ $status -eq 1 ] || fail "defaults: exit status $status, expected 1"
expect "defect image '$work/fB/defect/broken_large_000.png' has no mask" "$work/err"
expect "would be the image itself" "$work/err"
expect "set 'mask_suffix'" "$work/err"
expect "require_masks = false" "$work/err"
expect "hint: check the name or path in the message above" "$work/err"

run optional "root=$work/fB" require_masks=false
[ $status -eq 0 ] || fail "optional: exit status $status, expected 0"
tr -d ' \t\n' <"$work/out-optional/results.json" >"$work/results" 2>/dev/null
expect '"test_anomalous":2' "$work/results"
expect '"test_without_mask":2' "$work/results"

tar -C "$work" -cJf "$work/fB.tar.xz" fB || fail "tar failed"
run archive "root=$work/fB.tar.xz"
[ $status -eq 1 ] || fail "archive: exit status $status, expected 1"
expect "root '$work/fB.tar.xz' is a file, but the folder plugin reads folders only, not archives" "$work/err"
reject "not found" "$work/err"
expect "hint: this feature does not exist yet; choose another plugin or option" "$work/err"

# The data moves to a folder of another name: `advgnn score` with root=PATH
# keeps the run's category name (fB), which the plugin took from the old
# root, so the run's results still apply.
mv "$work/fB" "$work/fMoved" || fail "cannot move fB"
"$advgnn" --no-progress score "$work/out-optional" "$work/fMoved/defect/broken_large_000.png" "root=$work/fMoved" \
    --output "$work/s-moved" >"$work/out" 2>"$work/err"
status=$?
show "score after a move" $status
[ $status -eq 0 ] || fail "score after a move: exit status $status, expected 0"
grep -qE "^$work/fMoved/defect/broken_large_000.png [0-9.e+-]+\$" "$work/out" || fail "no score line after the move"
reject "has no category" "$work/err"

finish
