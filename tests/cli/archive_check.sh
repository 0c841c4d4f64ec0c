#!/bin/sh
# Checks the messages and hints of `advgnn run` for dataset archives rejected
# although the root option is right. The cases are an entry that is a symbolic
# link, an entry with an absolute path, and a truncated .tar.xz. The script
# exits with status 77 (skipped) when tar or xz is missing.
#
# usage: archive_check.sh ADVGNN SCRIPT
set -u

advgnn=$1
script=$2
command -v tar >/dev/null && command -v xz >/dev/null || { echo "tar or xz is missing"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-archive-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/check_helpers.sh"

# An MVTec AD layout of random bytes: the archive index is built before any
# image is decoded, so the files need not be images.
good="$work/ds/bottle/train/good"
mkdir -p "$good"
for i in 1 2 3 4; do
    head -c 300000 /dev/urandom >"$good/$i.png"
done
tar -C "$work" -cJf "$work/full.tar.xz" ds
head -c 600000 "$work/full.tar.xz" >"$work/cut.tar.xz"
tar -P -cf "$work/absolute.tar" "$good/1.png"
ln -s /etc/passwd "$good/link.png"
tar -C "$work" -cf "$work/link.tar" ds

# check NAME ARCHIVE TEXT: runs the script on ARCHIVE, and checks that the
# error contains TEXT and that the message calls neither the root wrong nor
# the archive corrupt.
check() {
    "$advgnn" --no-progress run "$script" "root=$2" "out=$work/out-$1" >"$work/out" 2>"$work/err"
    status=$?
    show "$1" $status
    [ $status -eq 1 ] || fail "$1: exit status $status, expected 1"
    expect "dataset 'mvtec_ad': root '$2': archive '$2'" "$work/err"
    expect "$3" "$work/err"
    reject "cannot open root" "$work/err"
    reject "replace or remove it" "$work/err"
}

check link "$work/link.tar" "entry 'ds/bottle/train/good/link.png' is a link"
expect "hint: the archive is readable, but advgnn reads no link" "$work/err"
check absolute "$work/absolute.tar" "has an absolute path"
expect "hint: the archive is readable, but advgnn reads no link" "$work/err"
check truncated "$work/cut.tar.xz" "is truncated or corrupt in entry"
expect "hint: the archive named above ends early or is damaged; download or copy it again" "$work/err"

finish
