#!/usr/bin/env bash
# test_hub_store_pg.sh -- the hub store suite against a real PostgreSQL 15.
#
#  1. initdb + postgres in a temp dir, on 127.0.0.1 and a free port, as the
#     unprivileged user postgres when run as root (postgres refuses root);
#  2. runs $FS38_BUILD/tests/test_hub_store with FS38_TEST_PG_URL set: the
#     whole store suite on SQLite and on PostgreSQL, including kill -9 of a
#     publishing client;
#  3. server crash: `test_hub_store burst URL` publishes batches and prints
#     every acknowledged event; the server is stopped with
#     `pg_ctl -m immediate` mid-burst (no checkpoint, WAL replay on start),
#     started again, and `test_hub_store verify URL ACKS` checks every
#     acknowledged event is present exactly once with identical bytes.
# fsync is left to postgresql.conf (on by default), not given with -c: a
# command-line setting overrides ALTER SYSTEM, and the suite's fsync=off
# checks were skipped ("cannot set fsync=off").
# Everything is bounded by `timeout`; the server is stopped on exit.
#
# Usage: FS38=build/debug/fs38 [FS38_BUILD=build/debug] tests/cli/test_hub_store_pg.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BUILD=${FS38_BUILD:-$(dirname "$FS38")}
TEST=$BUILD/tests/test_hub_store
PGD=$(mktemp -d /tmp/fs38_pg_XXXXXX)
PGDATA_DIR=$PGD/data
PORT=""
BURST_PID=""

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_ctl_() { as_pg timeout 60 "$PGBIN/pg_ctl" -D "$PGDATA_DIR" "$@"; }
server_start() {
    pg_ctl_ -l "$PGD/server.log" -w -t 45 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGD -c synchronous_commit=on -c max_connections=20 -c shared_buffers=32MB" \
        start >/dev/null
}
cleanup() {
    [ -n "$BURST_PID" ] && kill "$BURST_PID" 2>/dev/null
    [ -f "$PGDATA_DIR/postmaster.pid" ] && pg_ctl_ -m immediate stop >/dev/null 2>&1
    rm -rf "$PGD" "$TMPD"
}
trap cleanup EXIT

# ---- preconditions: a missing piece is a failure with a message ----------
if [ ! -x "$PGBIN/postgres" ]; then fail "no PostgreSQL server at $PGBIN (apt-get install postgresql)"; finish test_hub_store_pg; exit; fi
if [ ! -x "$TEST" ]; then fail "no test program at $TEST (build it first)"; finish test_hub_store_pg; exit; fi
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then fail "running as root and there is no postgres user"; finish test_hub_store_pg; exit; fi
    chown postgres: "$PGD"
fi
chmod 700 "$PGD"
PORT=$(free_port) || { fail "no free port"; finish test_hub_store_pg; exit; }

# ---- 1. a fresh cluster and database -----------------------------------
if ! as_pg timeout 120 "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 --locale=C \
        --no-sync >"$PGD/initdb.log" 2>&1; then
    fail "initdb"; sed 's/^/  | /' "$PGD/initdb.log" | tail -20 >&2; finish test_hub_store_pg; exit
fi
pass
if ! server_start; then
    fail "postgres did not start"; tail -20 "$PGD/server.log" >&2; finish test_hub_store_pg; exit
fi
pass
ok "createdb" as_pg timeout 30 "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres -E UTF8 fs38test
URL="postgresql://postgres@127.0.0.1:$PORT/fs38test"

# ---- 2. the suite on both backends ---------------------------------------
FS38_TEST_PG_URL=$URL timeout 300 "$TEST" >"$TMPD/suite.out" 2>&1
rc=$?
line=$(grep -E '^test_hub_store: [0-9]+ passed, [0-9]+ failed' "$TMPD/suite.out" | tail -1)
echo "suite: ${line:-test_hub_store: no result line}"
grep -E 'events/s|kill -9' "$TMPD/suite.out"
if [ $rc -eq 0 ] && [[ $line =~ ^test_hub_store:\ [0-9]+\ passed,\ 0\ failed$ ]]; then pass; else
    fail "store suite (exit $rc)"; grep -v ' passed, ' "$TMPD/suite.out" | head -40 >&2
fi
ok "suite ran on postgresql" grep -q '\[postgresql\] suite done, 0 failures' "$TMPD/suite.out"

# ---- 3. server crash mid-burst ----------------------------------------------
ACKS=$TMPD/acks
timeout 120 "$TEST" burst "$URL" >"$ACKS" 2>"$TMPD/burst.err" &
BURST_PID=$!
for ((i = 0; i < 300; i++)); do   # up to 30 s for 400 acknowledged events
    [ "$(wc -l <"$ACKS")" -ge 400 ] && break
    kill -0 "$BURST_PID" 2>/dev/null || break
    sleep 0.1
done
ok "burst running before the crash" kill -0 "$BURST_PID"
pg_ctl_ -m immediate stop >/dev/null 2>&1
ok "server stopped (immediate)" test ! -f "$PGDATA_DIR/postmaster.pid"
wait "$BURST_PID"; brc=$?
BURST_PID=""
# 3 = the burst stopped on a store error (the server went away), as it must.
if [ $brc -eq 3 ]; then pass; else fail "burst exit $brc, want 3"; cat "$TMPD/burst.err" >&2; fi
echo "acknowledged before the crash: $(wc -l <"$ACKS") events"
ok "server restarts after the crash" server_start
timeout 120 "$TEST" verify "$URL" "$ACKS" >"$TMPD/verify.out" 2>&1
vrc=$?
vline=$(grep -E '^test_hub_store_verify: [0-9]+ passed, [0-9]+ failed' "$TMPD/verify.out" | tail -1)
if [ $vrc -eq 0 ] && [[ $vline =~ passed,\ 0\ failed$ ]]; then pass; else
    fail "verify after crash (exit $vrc)"; cat "$TMPD/verify.out" >&2
fi
grep 'acknowledged events checked' "$TMPD/verify.out"
pg_ctl_ -m fast stop >/dev/null 2>&1
finish test_hub_store_pg
