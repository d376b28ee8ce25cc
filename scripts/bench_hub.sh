#!/usr/bin/env bash
# bench_hub.sh -- the hub figures of `make bench` (issue 3, section 5):
# publish throughput (signature check + durable write) on SQLite and on
# PostgreSQL 15, pull throughput, push latency at a steady 1,000 events/s,
# and beside them the raw Ed25519 verification rate of libsodium on 1 and 2
# threads, measured in the same run, interleaved with the publish rounds.
#
#   scripts/bench_hub.sh BUILD_DIR KV_FILE    (called by scripts/bench.sh)
#
# Appends key=value figures to KV_FILE (medians of BENCH_ROUNDS rounds).
# Builds bench/bench_hub.c against BUILD_DIR/libfs38.a, makes a PKI with
# openssl, a signing key and registry with `bench_hub setup`, starts
# `BUILD_DIR/fs38 hub` on 127.0.0.1 (a free port) against SQLite, then
# against a PostgreSQL 15 started in a temp dir (as user postgres when run
# as root, like tests/cli/test_hub_store_pg.sh). Everything is bounded by
# timeouts and stopped on exit. Not a test: it never fails on a slow figure.
#
# Knobs: BENCH_ROUNDS=5  BENCH_HUB_EVENTS=50000 (per publish round)
#        BENCH_HUB_BATCH=1000  BENCH_HUB_CONNS=4  BENCH_HUB_LAT_S=15
#        BENCH_HUB_STORES="sqlite postgresql"  PGBIN=/usr/lib/postgresql/15/bin
#        BENCH_HUB_LAT_ROUNDS=3 (latency runs per store: p50/p99/max are medians)
#        BENCH_HUB_FS38=BUILD_DIR/fs38 (the hub binary)  BENCH_HUB_LOG=FILE (keep the hub's log)
set -uo pipefail

REL=${1:?usage: scripts/bench_hub.sh BUILD_DIR KV_FILE}
KV=${2:?usage: scripts/bench_hub.sh BUILD_DIR KV_FILE}
cd "$(dirname "$0")/.." || exit 2
ROUNDS=${BENCH_ROUNDS:-5}
EVENTS=${BENCH_HUB_EVENTS:-50000}
BATCH=${BENCH_HUB_BATCH:-1000}
CONNS=${BENCH_HUB_CONNS:-4}
LAT_S=${BENCH_HUB_LAT_S:-15}
LAT_ROUNDS=${BENCH_HUB_LAT_ROUNDS:-3}
STORES=${BENCH_HUB_STORES:-sqlite postgresql}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
FS38=${BENCH_HUB_FS38:-$REL/fs38}
CC=${CC:-cc}
OUT=build/bench
BH=$OUT/bench_hub
W=$(mktemp -d /tmp/fs38_bench_hub_XXXXXX)
HUB_PID=""
PGD=""

say() { echo "bench hub: $*" >&2; }
put() { echo "$1=$2" >>"$KV"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }   # RESULT line -> value of key
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop_hub() {
    [ -n "$HUB_PID" ] || return 0
    kill "$HUB_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$HUB_PID" 2>/dev/null
    wait "$HUB_PID" 2>/dev/null
    HUB_PID=""
}
stop_pg() {
    if [ -n "$PGD" ] && [ -f "$PGD/data/postmaster.pid" ]; then
        as_pg timeout 30 "$PGBIN/pg_ctl" -D "$PGD/data" -m fast stop >/dev/null 2>&1
    fi
}
cleanup() {
    stop_hub; stop_pg
    [ -n "${BENCH_HUB_LOG:-}" ] && [ -f "$W/hub.log" ] && cat "$W/hub.log" >>"$BENCH_HUB_LOG"
    rm -rf "$W"
}
trap cleanup EXIT

# CPU time used so far (clock ticks) by PID, the children it has waited
# for and its live children: the hub, or the whole PostgreSQL server.
cpu_ticks() {
    local pid=$1 t c x
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || { echo 0; return; }
    t=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 + $14 + $15 }')
    for c in $(pgrep -P "$pid"); do
        x=$(sed 's/^.*) //' "/proc/$c/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        t=$((t + ${x:-0}))
    done
    echo "$t"
}
pg_pid() { [ -n "$PGD" ] && head -1 "$PGD/data/postmaster.pid" 2>/dev/null; }

free_port() {
    local p i
    for ((i = 0; i < 50; i++)); do
        p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-60999): an outgoing
                                     # connection cannot take it between this check and the bind
        ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
    done
    return 1
}

build() {
    local pkgs="libpcap zlib jansson yaml-0.1 libsodium sqlite3 libpq openssl libevent libevent_openssl libevent_pthreads libnats libmicrohttpd"
    mkdir -p "$OUT"
    if [ ! -x "$BH" ] || [ bench/bench_hub.c -nt "$BH" ] || [ "$REL/libfs38.a" -nt "$BH" ]; then
        $CC -std=c11 -D_GNU_SOURCE -O2 -g -Isrc $(pkg-config --cflags $pkgs 2>/dev/null) -o "$BH" \
            bench/bench_hub.c "$REL/libfs38.a" $(pkg-config --libs $pkgs 2>/dev/null) -lpthread -lm
    fi
}

pki() {
    local d=$W/pki n ext
    mkdir -p "$d"
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null &&
    openssl req -x509 -new -key "$d/ca.key" -subj /CN=fs38-bench-ca -days 2 -out "$d/ca.crt" 2>/dev/null || return 1
    for n in hub member; do
        ext="extendedKeyUsage=clientAuth"
        [ $n = hub ] && ext=$'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
        printf '%s\n' "$ext" >"$d/$n.ext"
        openssl ecparam -name prime256v1 -genkey -noout -out "$d/$n.key" 2>/dev/null &&
        openssl req -new -key "$d/$n.key" -subj "/CN=$n" -out "$d/$n.csr" 2>/dev/null &&
        openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null || return 1
    done
    mkdir -p "$W/keys"
    SIGN_KEY=$("$BH" setup --cert "$d/member.crt" --issuer org:234-15 --dir "$W/keys") || return 1
}

start_pg() {
    PGD=$W/pg
    mkdir -p "$PGD"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PGD" "$W" && chmod 755 "$W"
    chmod 700 "$PGD"
    PG_PORT=$(free_port) || return 1
    as_pg timeout 120 "$PGBIN/initdb" -D "$PGD/data" -A trust -U postgres -E UTF8 --locale=C \
        --no-sync >"$PGD/initdb.log" 2>&1 || { say "initdb failed"; return 1; }
    # fsync and synchronous_commit on: the durability the hub promises
    as_pg timeout 60 "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w -t 45 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGD -c fsync=on -c synchronous_commit=on -c max_connections=20 -c shared_buffers=128MB" \
        start >/dev/null || { say "postgres did not start"; tail -5 "$PGD/server.log" >&2; return 1; }
    as_pg timeout 30 "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres -E UTF8 fs38bench || return 1
    PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/fs38bench"
}

start_hub() { # STORE-URL
    PORT=$(free_port) || return 1
    cat >"$W/hub.yaml" <<EOF
# written by scripts/bench_hub.sh
listen: "127.0.0.1:$PORT"
node: bench
tls: {cert: pki/hub.crt, key: pki/hub.key, ca: pki/ca.crt}
registry: keys/registry.json
store: "$1"
limits:
  max_body: 16777216
  max_batch: 10000
  timeout_s: 60
  stream_buffer: 67108864
rate:
  events_per_s: 0
  burst: 100000
window: {past_s: 86400, future_s: 300}
sweep_interval_s: 3600
commit_max: 10000
EOF
    "$FS38" hub --config "$W/hub.yaml" >>"$W/hub.log" 2>&1 &
    HUB_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        curl -s --max-time 2 --cert "$W/pki/member.crt" --key "$W/pki/member.key" --cacert "$W/pki/ca.crt" \
            "https://127.0.0.1:$PORT/health" -o /dev/null 2>/dev/null && return 0
        kill -0 "$HUB_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "hub did not start:"; tail -5 "$W/hub.log" >&2
    return 1
}

client() { # CMD ARGS...
    local cmd=$1; shift
    timeout 300 "$BH" "$cmd" --hub "127.0.0.1:$PORT" --cert "$W/pki/member.crt" \
        --key "$W/pki/member.key" --ca "$W/pki/ca.crt" "$@"
}

bench_store() { # NAME URL
    local name=$1 url=$2 r line
    start_hub "$url" || return 1
    say "$name: $ROUNDS rounds of publish ($EVENTS events, batches of $BATCH, $CONNS connections), each beside the raw verify rate"
    local hub0 hub1 db0 db1 tck
    for r in $(seq "$ROUNDS"); do
        # over the signing inputs of events signed with the member's key: the bytes the hub checks
        line=$(timeout 60 "$BH" verify -t 1 --sign-key "$SIGN_KEY") && echo "$line" >>"$W/verify.out"
        # CPU of the hub and of the database server during this round only
        # (the events are signed by bench_hub before it connects)
        hub0=$(cpu_ticks "$HUB_PID") db0=$(cpu_ticks "$(pg_pid)")
        line=$(client publish --sign-key "$SIGN_KEY" -n "$EVENTS" -b "$BATCH" -c "$CONNS") || say "$name publish round $r: $line"
        hub1=$(cpu_ticks "$HUB_PID") db1=$(cpu_ticks "$(pg_pid)")
        tck=$(getconf CLK_TCK)
        line="$line hub_cpu_s=$(awk -v a="$hub0" -v b="$hub1" -v t="$tck" 'BEGIN { printf "%.2f", (b - a) / t }')"
        line="$line db_cpu_s=$(awk -v a="$db0" -v b="$db1" -v t="$tck" 'BEGIN { printf "%.2f", (b - a) / t }')"
        echo "$line" >>"$W/pub-$name.out"
        say "  $line"
    done
    line=$(client pull -l 10000) && echo "$line" >>"$W/pull-$name.out"
    say "  $line"
    for r in $(seq "$LAT_ROUNDS"); do
        line=$(client latency --sign-key "$SIGN_KEY" -r 1000 -s "$LAT_S" -c 8) && echo "$line" >>"$W/lat-$name.out"
        say "  $line"
    done
    stop_hub
    put "hub_${name}_publish_rate" "$(field rate <"$W/pub-$name.out" | median)"
    put "hub_${name}_publish_stored" "$(field stored <"$W/pub-$name.out" | awk '{ s += $1 } END { print s + 0 }')"
    put "hub_${name}_publish_rejected" "$(field rejected <"$W/pub-$name.out" | awk '{ s += $1 } END { print s + 0 }')"
    # CPU per stored event (us), hub and database server, median over rounds
    put "hub_${name}_hub_cpu_us_per_event" "$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        if (v["stored"] > 0) printf "%.1f\n", v["hub_cpu_s"] * 1e6 / v["stored"] }' "$W/pub-$name.out" | median)"
    put "hub_${name}_db_cpu_us_per_event" "$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        if (v["stored"] > 0) printf "%.1f\n", v["db_cpu_s"] * 1e6 / v["stored"] }' "$W/pub-$name.out" | median)"
    put "hub_${name}_client_cpu_us_per_event" "$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        if (v["stored"] > 0) printf "%.1f\n", v["client_cpu_s"] * 1e6 / v["stored"] }' "$W/pub-$name.out" | median)"
    [ -s "$W/pull-$name.out" ] && {
        put "hub_${name}_pull_rate" "$(field rate <"$W/pull-$name.out")"
        put "hub_${name}_pull_events" "$(field events <"$W/pull-$name.out")"
    }
    [ -s "$W/lat-$name.out" ] && for k in p50_ms p99_ms max_ms sent received achieved_rate; do
        put "hub_${name}_lat_$k" "$(field $k <"$W/lat-$name.out" | median)"
    done
    return 0
}

build || { say "cannot build bench/bench_hub.c"; exit 2; }
[ -x "$FS38" ] || { say "$FS38 missing"; exit 2; }
pki || { say "PKI/key set-up failed"; exit 2; }
put hub_events_per_round "$EVENTS"
put hub_batch "$BATCH"
put hub_conns "$CONNS"
for st in $STORES; do
    case $st in
    sqlite) bench_store sqlite "sqlite:$W/hub.db" || say "sqlite benchmark incomplete" ;;
    postgresql)
        if [ -x "$PGBIN/postgres" ] && start_pg; then
            bench_store postgresql "$PG_URL" || say "postgresql benchmark incomplete"
            stop_pg
        else
            say "no PostgreSQL 15 at $PGBIN: postgresql figures pending"
        fi ;;
    esac
done
if [ -s "$W/verify.out" ]; then
    put hub_verify_1t "$(field verify_1t <"$W/verify.out" | median)"
    put hub_verify_2t "$(field verify_2t <"$W/verify.out" | median)"
fi
exit 0
