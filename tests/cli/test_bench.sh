#!/usr/bin/env bash
# test_bench.sh -- the benchmark tools report what they measured: a cached
# input is reused only when it was made with the same generator arguments, a
# failed tshark run is not timed as a fast one,
# and bench_hub's knobs do not hang it. Not the figures (make bench is not a
# test): small inputs, one round, in a directory of this test's own.
. "$(dirname "$0")/lib.sh"
BUILD=${FS38_BUILD:?FS38_BUILD must point at the build directory (fs38, libfs38.a)}
OUT=$TMPD/bench

# --- a flood capture made for other knobs is not reused under the new ones ---
flood_run() { # MSGS
    BENCH_OUT=$OUT BENCH_ROUNDS=1 BENCH_FLOOD_MSGS=$1 BENCH_PARTS=memory \
        "$ROOT/scripts/bench.sh" "$BUILD" >"$TMPD/table" 2>"$TMPD/log"
}
kv() { sed -n "s/^$1=//p" "$OUT/results.kv" | tail -1; }
ok "bench.sh memory part, 2000 requests" flood_run 2000
ok "flood of 2000 requests inspected" is "$(kv flood_1m_sip_messages)" 2000
ok "bench.sh memory part, 3000 requests" flood_run 3000
ok "flood regenerated for 3000 requests" is "$(kv flood_1m_sip_messages)" 3000
ok "100k flood regenerated too" is "$(kv flood_100k_sip_messages)" 3000
ok "table names what the file holds" grep -q "flood, 3000 sources, 3000 msgs: peak RSS" "$TMPD/table"
ok "  and so does the RSS ratio" grep -q "RSS 3000 sources / RSS 3000 sources " "$TMPD/table"
ok "  and the flood scaling rows" grep -q "scaling w2 / w1, 3000-source flood " "$TMPD/table"
ok "  no hub line with blanks when the hub did not run" grep -q "^hub: pending" "$TMPD/table"
ok "same knobs: the flood is reused" flood_run 3000
ok "  (said so)" grep -q "reusing $OUT/flood-1m.pcap" "$TMPD/log"
# a configuration the caller's shell exports is not what the bench measures
printf 'state:\n  max_sources: 1024\n' >"$TMPD/small.yaml"
flood_run_exported() { FS38_CONFIG=$TMPD/small.yaml flood_run "$@"; }
ok "bench.sh with FS38_CONFIG exported" flood_run_exported 3000
ok "  measures the shipped configuration" is "$(kv flood_1m_sources_cap)" 65536

# --- a tshark run that fails (killed by the OOM killer, say) is not a figure ---
# The bench's own tools link libfs38.a: the ASan build's needs the sanitizers.
BCC=cc; nm "$BUILD/libfs38.a" 2>/dev/null | grep -q __asan_ && BCC="cc -fsanitize=address,undefined"
mkdir -p "$TMPD/shim"
printf '#!/bin/sh\nsleep 0.2; kill -9 $$\n' >"$TMPD/shim/tshark"; chmod +x "$TMPD/shim/tshark"
inspect_run() {
    PATH=$TMPD/shim:$PATH CC=$BCC ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" BENCH_OUT=$OUT \
        BENCH_ROUNDS=1 BENCH_BIG_MIB=1 BENCH_TSHARK_RUNS=1 BENCH_PARTS=inspect \
        "$ROOT/scripts/bench.sh" "$BUILD" >"$TMPD/table" 2>"$TMPD/log"
}
ok "bench.sh inspect part, tshark killed" inspect_run
ok "fs38 figure measured" [ -n "$(kv inspect_w1_mbps)" ]
ok "no tshark figure from a killed run" is "$(kv tshark_mbps)" ""
ok "  nor a ratio" grep -q "fs38 (w1) / tshark  *pending" "$TMPD/table"
ok "  and the run is named as failed" grep -q "tshark run 1 failed" "$TMPD/log"
# the mixed capture's message count sits under the mixed capture, not the flood
ok "messages seen / generated under the inspect row" \
    sh -c 'grep -A1 "mixed capture, --workers 1 " "$1" | grep -q "SIP messages seen / generated"' _ "$TMPD/table"

# --- bench_hub publish with more than 64 connections ends -------------------
PKGS="libpcap zlib jansson yaml-0.1 libsodium sqlite3 libpq openssl libevent libevent_openssl libevent_pthreads libnats libmicrohttpd"
bh_cc() { # extra flags: the ASan build's library needs the sanitizers at link time
    cc -std=c11 -D_GNU_SOURCE -O1 -I"$ROOT/src" $(pkg-config --cflags $PKGS 2>/dev/null) "$@" \
        -o "$TMPD/bench_hub" "$ROOT/bench/bench_hub.c" "$BUILD/libfs38.a" \
        $(pkg-config --libs $PKGS 2>/dev/null) -lpthread -lm 2>"$TMPD/cc.err"
}
if bh_cc || bh_cc -fsanitize=address,undefined; then
    P=$TMPD/pki; mkdir -p "$P"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=member \
        -days 2 -keyout "$P/member.key" -out "$P/member.crt" 2>/dev/null
    KEY=$("$TMPD/bench_hub" setup --cert "$P/member.crt" --issuer org:234-15 --dir "$TMPD/keys")
    PORT=$(free_port)   # nothing listens there: every connection fails at once
    for c in 64 65; do
        # a load generator that exits keeps its buffers: no leak report (ASan errors still count)
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" timeout 30 "$TMPD/bench_hub" publish --hub "127.0.0.1:$PORT" --cert "$P/member.crt" \
            --key "$P/member.key" --ca "$P/member.crt" --sign-key "$KEY" -n 100 -b 10 -c $c \
            >"$TMPD/pub" 2>&1
        rc=$?
        ok "bench_hub publish -c $c ends (exit $rc, 124 = hung)" [ "$rc" -eq 1 ]
        ok "  and reports the connections it used" grep -q "conns=64 stored=0" "$TMPD/pub"
    done
    # the raw verify rate is over what the hub verifies: the signing input of
    # the events publish sends (header.payload), not shorter messages
    sent=$(sed -n 's/.* signing_input=\([0-9]*\).*/\1/p' "$TMPD/pub")
    ok "bench_hub verify with the member's key" \
        sh -c '"$1" verify -t 0.05 --sign-key "$2" >"$3"' _ "$TMPD/bench_hub" "$KEY" "$TMPD/verify"
    checked=$(sed -n 's/.* msg_bytes=\([0-9]*\).*/\1/p' "$TMPD/verify")
    ok "verify checks event-sized inputs ($checked bytes, events $sent)" \
        awk -v a="$checked" -v b="$sent" 'BEGIN { exit !(a > 0 && b > 0 && a - b <= 8 && b - a <= 8) }'
else
    fail "bench_hub does not build"; head -5 "$TMPD/cc.err" >&2
fi
finish test_bench
