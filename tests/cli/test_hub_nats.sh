#!/usr/bin/env bash
# test_hub_nats.sh -- hub replication against a real 3-node NATS JetStream
# cluster on loopback (src/hub/hub_repl.c, tests/unit/test_hub_repl.c).
#
#  1. starts three nats-server processes in a temp dir: free client, route
#     and monitoring ports on 127.0.0.1, one --cluster_name, --routes to
#     the others, -js with a --store_dir each; waits until JetStream has a
#     meta leader (monitoring /jsz);
#  2. `test_hub_repl one`: hub nodes A, B, C (one SQLite store each)
#     publish through A and apply on all three: same events, same
#     sequences; Msg-Id dedupe; stale version / foreign publisher refused;
#  3. kills NATS server 3 (kill -9), `test_hub_repl two`: A still publishes
#     (R3 quorum 2 of 3), B catches up;
#  4. restarts server 3 with its store, `test_hub_repl three`: hub C comes
#     back and catches up from its durable consumer, no gap, no duplicate;
#  5. `test_hub_repl four`: a message deleted from the log (a hole); a node
#     caught up before it and a new node both apply past it;
#  6. `test_hub_repl five` (last: it deletes the stream): the log created
#     again empty; a node whose store is past its end acknowledges nothing.
# Every step is bounded by `timeout`; the servers are stopped on exit.
#
# Usage: FS38=build/debug/fs38 [FS38_BUILD=build/debug] tests/cli/test_hub_nats.sh
#        (FS38_TEST_HUB_REPL=path overrides the test program)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

BUILD=${FS38_BUILD:-$(dirname "$FS38")}
TEST=${FS38_TEST_HUB_REPL:-$BUILD/tests/test_hub_repl}
NATS=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
ND=$(mktemp -d /tmp/fs38_nats_XXXXXX)
declare -a PID CPORT RPORT MPORT

cleanup() {
    local i
    for i in 1 2 3; do
        [ -n "${PID[$i]:-}" ] && kill "${PID[$i]}" 2>/dev/null
    done
    for i in 1 2 3; do
        [ -n "${PID[$i]:-}" ] && wait "${PID[$i]}" 2>/dev/null
    done
    rm -rf "$ND" "$TMPD"
}
trap cleanup EXIT

start_node() {   # start_node K
    local k=$1 routes="" j
    for j in 1 2 3; do
        [ "$j" -ne "$k" ] && routes="${routes:+$routes,}nats://127.0.0.1:${RPORT[$j]}"
    done
    mkdir -p "$ND/n$k"
    "$NATS" -a 127.0.0.1 -p "${CPORT[$k]}" -m "${MPORT[$k]}" -n "n$k" \
        -js --store_dir "$ND/n$k" \
        --cluster_name fs38test --cluster "nats://127.0.0.1:${RPORT[$k]}" --routes "$routes" \
        >>"$ND/n$k.log" 2>&1 &
    PID[$k]=$!
}

jsz() { curl -s --max-time 2 "http://127.0.0.1:${MPORT[$1]}/jsz" 2>/dev/null; }

# Waits (bounded: 30 s) until node K reports a JetStream meta leader other
# than the optional second argument (a server just killed).
wait_meta_leader() {
    local k=$1 not=${2:-none} i out
    for ((i = 0; i < 150; i++)); do
        out=$(jsz "$k")
        if [[ $out =~ \"leader\":\ *\"(n[123])\" ]] && [ "${BASH_REMATCH[1]}" != "$not" ]; then
            return 0
        fi
        kill -0 "${PID[$k]}" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

run_phase() {   # run_phase NAME : runs the test program, checks its result line
    local ph=$1 rc line
    FS38_TEST_NATS_URLS=$URLS FS38_TEST_REPL_DIR=$ND/hubs timeout 120 "$TEST" "$ph" \
        >"$TMPD/$ph.out" 2>"$TMPD/$ph.err"
    rc=$?
    line=$(grep -E '^test_hub_repl: [0-9]+ passed, [0-9]+ failed' "$TMPD/$ph.out" | tail -1)
    echo "phase $ph: ${line:-no result line}"
    if [ $rc -eq 0 ] && [[ $line =~ ^test_hub_repl:\ [1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
        pass
    else
        fail "phase $ph (exit $rc)"
        sed 's/^/  | /' "$TMPD/$ph.err" | head -40 >&2
    fi
}

# ---- preconditions: a missing piece is a failure with a message ------------
if [ ! -x "$NATS" ]; then fail "no nats-server (apt-get install nats-server)"; finish test_hub_nats; exit; fi
if [ ! -x "$TEST" ]; then fail "no test program at $TEST (build it first)"; finish test_hub_nats; exit; fi
for k in 1 2 3; do
    CPORT[$k]=$(free_port) && RPORT[$k]=$(free_port) && MPORT[$k]=$(free_port) ||
        { fail "no free port"; finish test_hub_nats; exit; }
done
URLS="nats://127.0.0.1:${CPORT[1]},nats://127.0.0.1:${CPORT[2]},nats://127.0.0.1:${CPORT[3]}"
mkdir -p "$ND/hubs"

# ---- 1. the cluster ------------------------------------------------------------
for k in 1 2 3; do start_node "$k"; done
ok_all=1
for k in 1 2 3; do wait_meta_leader "$k" || ok_all=0; done
if [ $ok_all -eq 1 ]; then pass; else
    fail "JetStream cluster has no meta leader after 30 s"
    tail -n 15 "$ND"/n*.log >&2
    finish test_hub_nats; exit
fi

# ---- 2. replicate to three hub nodes ------------------------------------------------
run_phase one

# ---- 3. one server down: R3 keeps a quorum ---------------------------------------------
kill -9 "${PID[3]}" 2>/dev/null
wait "${PID[3]}" 2>/dev/null
PID[3]=""
ok "server 3 is down" test -z "$(jsz 3)"
ok "meta leader re-elected without server 3" wait_meta_leader 1 n3
run_phase two

# ---- 4. server back, hub C catches up ---------------------------------------------------
start_node 3
if wait_meta_leader 3; then pass; else fail "server 3 did not rejoin"; tail -n 15 "$ND/n3.log" >&2; fi
run_phase three

# ---- 5. a hole in the log (a message deleted): every node applies past it ----------
run_phase four

# ---- 6. the log lost and created again empty: a node past its end refuses ---------
run_phase five

grep -h "publish on A" "$TMPD"/*.out 2>/dev/null
grep -h "retrying" "$TMPD"/*.err 2>/dev/null | head -5
finish test_hub_nats
