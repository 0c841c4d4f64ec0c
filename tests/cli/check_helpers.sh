# Shell functions shared by the multi-step CLI checks (sync_check.sh,
# score_check.sh). Source it after setting $work, the temporary folder where
# each case writes its standard output to "out" and its standard error to "err".

failed=0

# fail MESSAGE: records a failed check.
fail() {
    echo "FAIL: $*"
    failed=1
}

# expect TEXT FILE: TEXT (fixed string) must occur in FILE.
expect() {
    grep -qF -e "$1" "$2" || fail "'$1' not in $(basename "$2")"
}

# reject TEXT FILE: TEXT must not occur in FILE.
reject() {
    if grep -qF -e "$1" "$2"; then
        fail "'$1' in $(basename "$2")"
    fi
}

# show NAME STATUS: prints what one case wrote.
show() {
    echo "---- $1: exit status $2"
    cat "$work/out"
    cat "$work/err"
}

# finish: prints PASS when every check passed, and exits with the result.
finish() {
    [ "$failed" -eq 0 ] && echo "PASS"
    exit "$failed"
}
