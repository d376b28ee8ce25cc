# Shared helpers for tests/cli/*.sh (sourced, not run).
#   ok COND-DESCRIPTION COMMAND...   runs COMMAND, counts pass/fail
#   finish NAME                      prints "NAME: N passed, N failed"
#   free_port                        a loopback port no TCP or UDP socket uses, for a server
#   hold_idle PORT N                 open up to N idle TCP connections within 1 s, keep them 2.5 s
#   cpu_ticks PID                    user + system CPU time of PID so far, in clock ticks (1/100 s)
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
# is GOT WANT: equal, else says both
is() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }; }
# stats_calls FILE: "started answered cancelled failed" of a --stats-json file
stats_calls() {
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["calls"]; print(c["started"], c["answered"], c["cancelled"], c["failed"])' "$1"
}
finish() { echo "$1: $T_PASS passed, $T_FAIL failed"; [ "$T_FAIL" -eq 0 ]; }

# free_port: a port no socket uses, below the kernel's ephemeral range (32768-)
# so that no outgoing connection can take it before the server binds it, and
# never one handed out before in this run (remembered in a file: callers run
# it in $(...) subshells)
free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 12000))
        grep -qx "$p" "$TMPD/.ports" 2>/dev/null && continue
        ss -Htuan "sport = :$p" 2>/dev/null | grep -q . && continue # TCP and UDP (HEP)
        echo "$p" >>"$TMPD/.ports"
        echo "$p"
        return 0
    done
    return 1
}

# hold_idle PORT N: as many of N idle TCP connections to 127.0.0.1:PORT as
# connect within 1 s (a full backlog drops the rest), held until 2.5 s after
# the start, then closed: a flood of connections that send nothing
hold_idle() {
    python3 -c 'import socket, sys, time
socks, end = [], time.time() + 1
for i in range(int(sys.argv[2])):
    if time.time() > end: break
    try: socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.05))
    except OSError: pass
time.sleep(2.5 - (end - time.time()))' "$1" "$2"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
