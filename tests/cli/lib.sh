# Shared helpers for tests/cli/*.sh (sourced, not run).
#   ok COND-DESCRIPTION COMMAND...   runs COMMAND, counts pass/fail
#   finish NAME                      prints "NAME: N passed, N failed"
set -u
T_PASS=0; T_FAIL=0
FS38=${FS38:?FS38 must point at the fs38 binary}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMPD=$(mktemp -d); trap 'rm -rf "$TMPD"' EXIT
pass() { T_PASS=$((T_PASS + 1)); }
fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL: $*" >&2; }
ok() { local d=$1; shift; if "$@"; then pass; else fail "$d"; fi; }
# expect_exit CODE DESCRIPTION COMMAND... ; output kept in $TMPD/out, $TMPD/err
expect_exit() {
    local want=$1 d=$2; shift 2
    "$@" >"$TMPD/out" 2>"$TMPD/err"; local rc=$?
    if [ "$rc" -eq "$want" ]; then pass; else fail "$d: exit $rc, want $want"; sed 's/^/  | /' "$TMPD/err" | head -20 >&2; fi
}
finish() { echo "$1: $T_PASS passed, $T_FAIL failed"; [ "$T_FAIL" -eq 0 ]; }
