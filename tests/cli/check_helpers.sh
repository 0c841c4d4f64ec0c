# Shell functions shared by the multi-step CLI checks in this folder. Source
# it after setting $work, the temporary folder where each case writes its
# standard output to "out" and its standard error to "err".

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

# wait_for TEXT FILE SECONDS: waits until TEXT occurs in FILE.
wait_for() {
    for _ in $(seq 1 $(($3 * 10))); do
        grep -qF -e "$1" "$2" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago. The
# kernel picks it on bind, and the socket is closed again, so nothing listens.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
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
