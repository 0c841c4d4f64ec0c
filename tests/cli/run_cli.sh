#!/bin/sh
# Runs one advgnn command and checks its exit status, what it printed and the
# files it left.
#
# usage: run_cli.sh STATUS [CHECK ...] -- COMMAND [ARG ...]
#   STATUS          the expected exit status
#   --stdout TEXT   TEXT must occur in standard output (fixed string)
#   --stderr TEXT   TEXT must occur in standard error
#   --file PATH     PATH must exist after the command
#   --no-stderr TEXT  TEXT must not occur in standard error
#   --touch PATH    create the empty file PATH before the command
# "@TMP@" in arguments, texts and paths becomes a fresh temporary folder, removed at
# the end. An exit status above 128 means a signal killed the command, which
# fails the test whatever STATUS is.
set -u

expected_status=$1
shift
newline='
'
stdout_checks=
stderr_checks=
file_checks=
absent_checks=
touch_paths=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
        --stdout) stdout_checks=$stdout_checks$2$newline ;;
        --stderr) stderr_checks=$stderr_checks$2$newline ;;
        --file) file_checks=$file_checks$2$newline ;;
        --no-stderr) absent_checks=$absent_checks$2$newline ;;
        --touch) touch_paths=$touch_paths$2$newline ;;
        *) echo "run_cli.sh: unknown check '$1'" >&2; exit 2 ;;
    esac
    shift 2
done
if [ $# -lt 2 ]; then
    echo "run_cli.sh: missing '-- COMMAND'" >&2
    exit 2
fi
shift

work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-cli-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT

# Replace @TMP@ in every argument.
for arg do
    shift
    set -- "$@" "$(printf '%s' "$arg" | sed "s|@TMP@|$work|g")"
done

printf '%s' "$touch_paths" | while IFS= read -r path; do
    : >"$(printf '%s' "$path" | sed "s|@TMP@|$work|g")"
done

"$@" >"$work/stdout" 2>"$work/stderr"
status=$?
failed=0

echo "command: $*"
echo "exit status: $status"
echo "---- stdout"
cat "$work/stdout"
echo "---- stderr"
cat "$work/stderr"
echo "----"

if [ "$status" -gt 128 ]; then
    echo "FAIL: the command was killed by signal $((status - 128))"
    failed=1
elif [ "$status" -ne "$expected_status" ]; then
    echo "FAIL: exit status $status, expected $expected_status"
    failed=1
fi

# check_texts STREAM_FILE STREAM_NAME TEXTS
check_texts() {
    printf '%s' "$3" | while IFS= read -r text; do
        text=$(printf '%s' "$text" | sed "s|@TMP@|$work|g")
        if ! grep -qF -e "$text" "$1"; then
            echo "FAIL: $2 does not contain: $text"
            echo x >>"$work/failures"
        fi
    done
}
check_texts "$work/stdout" stdout "$stdout_checks"
check_texts "$work/stderr" stderr "$stderr_checks"
printf '%s' "$absent_checks" | while IFS= read -r text; do
    if grep -qF -e "$text" "$work/stderr"; then
        echo "FAIL: stderr contains: $text"
        echo x >>"$work/failures"
    fi
done
printf '%s' "$file_checks" | while IFS= read -r path; do
    path=$(printf '%s' "$path" | sed "s|@TMP@|$work|g")
    if [ ! -e "$path" ]; then
        echo "FAIL: missing file $path"
        echo x >>"$work/failures"
    fi
done
if [ -e "$work/failures" ]; then
    failed=1
fi

if [ "$failed" -eq 0 ]; then
    echo "PASS"
fi
exit "$failed"
