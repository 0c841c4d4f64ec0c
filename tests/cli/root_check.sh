#!/bin/sh
# Checks that advgnn.dataset rejects a dataset root that does not exist at
# the script line of the call, before any run starts. Also checks that
# datasets with an existing root still run: a .tar.xz and a .zip archive of
# an MVTec AD layout, and the synthetic dataset, which has no root. Exits
# with status 77 (skipped) when the shared sample data, tar, xz or zip is
# missing.
#
# usage: root_check.sh ADVGNN SCRIPTS_DIR SHARED_DATA
set -u

advgnn=$1
scripts=$2
bottle=$3/mvtec_ad/bottle
[ -d "$bottle" ] || { echo "shared data '$bottle' is missing"; exit 77; }
command -v tar >/dev/null && command -v xz >/dev/null && command -v zip >/dev/null ||
    { echo "tar, xz or zip is missing"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-root-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/check_helpers.sh"

# fails NAME PLUGIN ROOT: runs missing_root.lua from $work with ROOT, and
# checks that it fails before the synthetic run printed results or created
# its folder.
fails() {
    (cd "$work" && "$advgnn" --no-progress run "$scripts/missing_root.lua" "plugin=$2" "root=$3" \
        "out=$work/out-$1") >"$work/out" 2>"$work/err"
    status=$?
    show "$1" $status
    [ $status -eq 1 ] || fail "$1: exit status $status, expected 1"
    expect "script started" "$work/out"
    reject "image AUROC" "$work/out"
    [ ! -e "$work/out-$1" ] || fail "$1: the run folder $work/out-$1 was created"
}

# missing NAME PLUGIN ROOT: as fails, for a ROOT that does not exist, whose
# message names line 10, the plugin, the option and the path.
missing() {
    fails "$@"
    expect "missing_root.lua:10: dataset '$2': option 'root': '$3' not found" "$work/err"
    expect "set 'root' to the dataset folder or archive, or create it before advgnn.dataset is called" "$work/err"
    expect "hint: check the name or path in the message above" "$work/err"
}

missing relative folder nope/dir
expect "in the working folder '$work'" "$work/err"
missing absolute_archive mvtec_ad "$work/absent.tar.xz"
reject "working folder" "$work/err"
mkdir "$work/file_parent" && : >"$work/file_parent/plain"
missing below_file mvtec_ad "$work/file_parent/plain/bottle"

fails empty mvtec_ad ""
expect "missing_root.lua:10: dataset 'mvtec_ad': option 'root' is empty" "$work/err"
fails device mvtec_ad /dev/null
expect "missing_root.lua:10: dataset 'mvtec_ad': option 'root' names '/dev/null', which is neither" "$work/err"

# A small MVTec AD bottle layout from the shared images (4 training images,
# 2 normal and 2 defective test images without masks), packed as .tar.xz and
# .zip. The archive roots are relative, so they resolve in the working folder.
mkdir -p "$work/ds/bottle/train/good" "$work/ds/bottle/test/good" "$work/ds/bottle/test/broken_large"
for i in 000 001 002 003; do
    cp "$bottle/train/good/$i.png" "$work/ds/bottle/train/good/" || fail "cannot copy train/good/$i.png"
done
for dir in good broken_large; do
    for i in 000 001; do
        cp "$bottle/test/$dir/$i.png" "$work/ds/bottle/test/$dir/" || fail "cannot copy test/$dir/$i.png"
    done
done
tar -C "$work/ds" -cJf "$work/bottle.tar.xz" bottle || fail "tar failed"
(cd "$work/ds" && zip -qr "$work/bottle.zip" bottle) || fail "zip failed"

(cd "$work" && "$advgnn" --no-progress run "$scripts/root_runs.lua" missing=nope/dir tar_xz=bottle.tar.xz \
    zip=bottle.zip "out=$work/runs") >"$work/out" 2>"$work/err"
status=$?
show runs $status
[ $status -eq 0 ] || fail "runs: exit status $status, expected 0"
expect "caught: dataset 'folder': option 'root': 'nope/dir' not found" "$work/out"
expect "synthetic finished: finished" "$work/out"
expect "tar_xz finished: finished" "$work/out"
expect "zip finished: finished" "$work/out"
for name in synthetic tar_xz zip; do
    [ -f "$work/runs/$name/results.json" ] || fail "$name: no results.json"
done
grep -q '"bottle"' "$work/runs/tar_xz/results.json" || fail "tar_xz: category bottle not in results.json"
grep -q '"bottle"' "$work/runs/zip/results.json" || fail "zip: category bottle not in results.json"

finish
