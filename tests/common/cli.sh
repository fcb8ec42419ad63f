# Helpers for the shell tests, sourced after they set $out (their scratch folder).
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
expect_rc() { # rc, command...
    local want=$1
    shift
    local rc=0
    "$@" >"$out/last.out" 2>"$out/last.err" || rc=$?
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want: $(cat "$out/last.err")"
}
