#!/usr/bin/env bash
# test_hub_cluster.sh -- three `fs38 hub` nodes sharing one replicated log
# (docs/federation.md), with real servers on loopback.
#
# Starts a 3-node nats-server JetStream cluster and three hub nodes A, B, C
# (one SQLite store each, the same registry and PKI, `replication:` in their
# hub.yaml, each listing its own NATS server first), then, with three
# operators: publish through A, B and C; pulls from every node give the same
# (seq, jws) lists; a follower of C's /v1/stream receives an event published
# on A; update and revoke through B are seen on A and C; a stale version is
# refused; a sighting through C is listed on A with its signed bytes; expiry;
# a replay through another node is a duplicate with the first seq; kill -9 of
# hub C, publishes meanwhile, restart: C catches up (same rows, no gap, no
# duplicate); kill -9 of one NATS server: publishing still works and every
# node applies it. Everything is bounded by timeouts; all servers stopped on exit.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_hub_cluster.sh  (needs nats-server, openssl, curl, jq)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2
shopt -s lastpipe

W=$TMPD/w
mkdir -p "$W"
source "$(dirname "${BASH_SOURCE[0]}")/hub_pki.sh"

NATS=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
declare -a NPID CPORT RPORT MPORT
declare -A HPID HPORT
STREAM_PIDS=""
NODES="a b c"

cleanup() {
    local p k
    for p in $STREAM_PIDS; do kill "$p" 2>/dev/null; done
    for k in $NODES; do [ -n "${HPID[$k]:-}" ] && kill -9 "${HPID[$k]}" 2>/dev/null; done
    for k in 1 2 3; do [ -n "${NPID[$k]:-}" ] && kill "${NPID[$k]}" 2>/dev/null; done
    for k in 1 2 3; do [ -n "${NPID[$k]:-}" ] && wait "${NPID[$k]}" 2>/dev/null; done
    if [ "$T_FAIL" -gt 0 ]; then
        for k in $NODES; do [ -f "$W/hub-$k.log" ] && { echo "--- hub-$k.log" >&2; tail -n 40 "$W/hub-$k.log" >&2; }; done
    fi
    rm -rf "$TMPD"
}
trap cleanup EXIT

for tool in openssl curl jq; do
    command -v $tool >/dev/null || { fail "$tool is not installed"; finish test_hub_cluster; exit 1; }
done
[ -x "$NATS" ] || { fail "no nats-server (apt-get install nats-server)"; finish test_hub_cluster; exit 1; }

# ---- the NATS JetStream cluster (as tests/cli/test_hub_nats.sh) -----------------------
start_nats() { # K
    local k=$1 routes="" j
    for j in 1 2 3; do
        [ "$j" -ne "$k" ] && routes="${routes:+$routes,}nats://127.0.0.1:${RPORT[$j]}"
    done
    mkdir -p "$W/nats$k"
    "$NATS" -a 127.0.0.1 -p "${CPORT[$k]}" -m "${MPORT[$k]}" -n "n$k" -js --store_dir "$W/nats$k" \
        --cluster_name fs38cluster --cluster "nats://127.0.0.1:${RPORT[$k]}" --routes "$routes" \
        >>"$W/nats$k.log" 2>&1 &
    NPID[$k]=$!
}
wait_meta_leader() { # K [NOT]: bounded 30 s
    local k=$1 not=${2:-none} i out
    for ((i = 0; i < 150; i++)); do
        out=$(curl -s --max-time 2 "http://127.0.0.1:${MPORT[$k]}/jsz" 2>/dev/null)
        [[ $out =~ \"leader\":\ *\"(n[123])\" ]] && [ "${BASH_REMATCH[1]}" != "$not" ] && return 0
        kill -0 "${NPID[$k]}" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

# ---- hub nodes --------------------------------------------------------------------------
nats_list() { # K: the local server first
    local k=$1 j out="nats://127.0.0.1:${CPORT[$k]}"
    for j in 1 2 3; do [ "$j" -ne "$k" ] && out="$out,nats://127.0.0.1:${CPORT[$j]}"; done
    echo "$out"
}
write_config() { # NODE NATS-INDEX
    cat >"$W/hub-$1.yaml" <<EOF
# written by tests/cli/test_hub_cluster.sh
listen: "127.0.0.1:${HPORT[$1]}"
tls: {cert: pki/hub.crt, key: pki/hub.key, ca: pki/ca.crt}
registry: registry.json
store: "sqlite:hub-$1.db"
limits: {timeout_s: 20, stream_backlog: 1000, ping_s: 2, max_batch: 1000}
rate: {events_per_s: 100000, burst: 100000}
sweep_interval_s: 1
workers: 1
replication:
  nats_urls: [$(nats_list "$2" | sed 's/,/, /g')]
  node_id: hub-$1
  replicas: 3
  stream: FS38_EVENTS
  await_ms: 8000
EOF
}
hcurl() { # NODE MEMBER PATH CURL-ARGS...
    local n=$1 m=$2 path=$3; shift 3
    curl -sS --max-time 15 --cert "$W/pki/$m.crt" --key "$W/pki/$m.key" --cacert "$W/pki/ca.crt" \
        "$@" "https://127.0.0.1:${HPORT[$n]}$path"
}
start_hub() { # NODE: bounded 30 s (the node waits for JetStream)
    local n=$1 i
    "$FS38" hub --config "$W/hub-$n.yaml" >>"$W/hub-$n.log" 2>&1 &
    HPID[$n]=$!
    for ((i = 0; i < 300; i++)); do
        hcurl "$n" op1 /health -o /dev/null 2>/dev/null && return 0
        kill -0 "${HPID[$n]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "hub $n did not start:" >&2
    tail -5 "$W/hub-$n.log" >&2
    return 1
}
stop_hub() { # NODE: SIGTERM, bounded
    local n=$1 i
    kill "${HPID[$n]}" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "${HPID[$n]}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${HPID[$n]}" 2>/dev/null
    wait "${HPID[$n]}" 2>/dev/null
    HPID[$n]=""
}
# publish NODE MEMBER < jws-lines: HTTP status printed, response in $W/resp.
# A 503 (the log moving its leader) is retried, as a client does: retries are duplicates.
publish() {
    local n=$1 m=$2 st i
    body_of >"$W/body.json"
    for ((i = 0; i < 10; i++)); do
        st=$(hcurl "$n" "$m" /v1/events -o "$W/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary @"$W/body.json")
        [ "$st" = 503 ] || [ "$st" = 000 ] || break
        echo "publish via $n: $st, retrying: $(head -c 200 "$W/resp")" >&2
        sleep 1
    done
    echo "$st"
}
node_seq() { hcurl "$1" op1 /health 2>/dev/null | jq -r '.seq // 0'; }
wait_seq() { # NODE SEQ: until the node's store holds SEQ (bounded 20 s)
    local i
    for ((i = 0; i < 200; i++)); do
        [ "$(node_seq "$1")" -ge "$2" ] 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
rows() { # NODE MEMBER [QUERY]: every visible "seq jws", pages of 4 (the cursor)
    local n=$1 m=$2 q=${3:-} after=0 next
    : >"$W/rows.$n"
    while :; do
        hcurl "$n" "$m" "/v1/events?after=$after&limit=4$q" >"$W/page.$n" || return 1
        jq -r '.events[] | "\(.seq) \(.jws)"' "$W/page.$n" >>"$W/rows.$n"
        next=$(jq -r .next "$W/page.$n")
        [ "$next" = "$after" ] && break
        after=$next
    done
    cat "$W/rows.$n"
}
stream_bg() { # NODE MEMBER PATH OUT
    curl -sS -N --max-time 90 --cert "$W/pki/$2.crt" --key "$W/pki/$2.key" --cacert "$W/pki/ca.crt" \
        "https://127.0.0.1:${HPORT[$1]}$3" >"$4" 2>/dev/null &
    STREAM_PIDS="$STREAM_PIDS $!"
}
same_rows() { # LABEL MEMBER NODES...: identical (seq, jws) lists everywhere, no seq twice
    local label=$1 m=$2 n ref=""; shift 2
    for n in "$@"; do rows "$n" "$m" >"$W/same.$n"; done
    for n in "$@"; do
        [ -z "$ref" ] && { ref=$n; continue; }
        cmp -s "$W/same.$ref" "$W/same.$n" || { fail "$label: $n differs from $ref ($(wc -l <"$W/same.$n") vs $(wc -l <"$W/same.$ref") rows)"; return; }
    done
    if [ -s "$W/same.$ref" ] && [ "$(cut -d' ' -f1 "$W/same.$ref" | sort -n | uniq -d | wc -l)" = 0 ]; then pass
    else fail "$label: empty or a seq twice"; fi
}

# ---- 0. PKI, keys, registry -----------------------------------------------------------------
ok "PKI generated" pki
ok "keys and registry" keys_and_registry

# ---- 1. the NATS cluster and three hub nodes ------------------------------------------------
for k in 1 2 3; do
    CPORT[$k]=$(free_port) && RPORT[$k]=$(free_port) && MPORT[$k]=$(free_port) ||
        { fail "no free port"; finish test_hub_cluster; exit 1; }
done
for k in 1 2 3; do start_nats "$k"; done
up=1
for k in 1 2 3; do wait_meta_leader "$k" || up=0; done
if [ $up = 1 ]; then pass; else
    fail "JetStream cluster has no meta leader after 30 s"; tail -n 10 "$W"/nats*.log >&2
    finish test_hub_cluster; exit 1
fi
i=1
for n in $NODES; do HPORT[$n]=$(free_port); write_config "$n" $i; i=$((i + 1)); done
expect_exit 0 "config with replication passes --check" "$FS38" hub --config "$W/hub-a.yaml" --check
for n in $NODES; do ok "hub $n started" start_hub "$n"; done
hcurl a op1 /health >"$W/health"
ok "health names the node and reports replication" \
    test "$(jq -r '.node + " " + (.replication.replicas|tostring) + " " + .status' "$W/health")" = "hub-a 3 ok"

# ---- 2. publish through every node, pull from every node ------------------------------------
stream_bg c op3 "/v1/stream?after=0" "$W/stream-c"
for ((i = 0; i < 50; i++)); do grep -q 'fs38 hub stream' "$W/stream-c" 2>/dev/null && break; sleep 0.1; done
declare -A VIA=([op1]=a [op2]=b [op3]=c)
for m in op1 op2 op3; do
    for i in 1 2 3; do uuid7; done >"$W/$m.ids"
    while read -r id; do event "${ISSUER[$m]}" "$id" 1; done <"$W/$m.ids" | sign $m >"$W/$m.batch"
    st=$(publish "${VIA[$m]}" $m <"$W/$m.batch")
    ok "$m: batch of 3 stored through node ${VIA[$m]}" test "$st/$(jq -r .stored "$W/resp")" = 200/3
done
TOP=$(jq -r '[.results[].seq] | max' "$W/resp")
for n in $NODES; do ok "node $n applied through seq $TOP" wait_seq "$n" "$TOP"; done
same_rows "9 events: identical (seq, jws) on A, B and C" op2 a b c
ok "the rows are the 9 published events" test "$(wc -l <"$W/same.a")" = 9
ok "pull from B returns A's exact signed bytes" grep -qF "$(head -1 "$W/op1.batch")" "$W/same.b"

# push: an event published on A reaches the follower of C
P=$(uuid7)
event org:234-15 "$P" 1 type=WANGIRI obs='{"kind":"e164","value":"+882130001","role":"caller"}' | sign op1 >"$W/p.jws"
st=$(publish a op1 <"$W/p.jws")
SEQ_P=$(jq -r '.results[0].seq' "$W/resp")
for ((i = 0; i < 100; i++)); do grep -q "^id: $SEQ_P$" "$W/stream-c" && break; sleep 0.1; done
ok "push: C's follower receives the event published on A, id = its seq" grep -qx "id: $SEQ_P" "$W/stream-c"
ok "push: with its exact bytes" grep -qxF "data: $(cat "$W/p.jws")" "$W/stream-c"
ok "push: C's follower got the backlog of all 10" test "$(grep -c '^id: ' "$W/stream-c")" = 10

# replay through another node: a duplicate with the first seq, nothing new
st=$(publish b op1 <"$W/p.jws")
ok "replay through B: duplicate with A's seq" \
    test "$st/$(jq -r '.results[0] | .status + "/" + (.seq|tostring)' "$W/resp")" = "200/duplicate/$SEQ_P"
st=$(publish c op1 <"$W/p.jws")
ok "replay through C: duplicate" test "$(jq -r '.results[0].status' "$W/resp")" = duplicate

# ---- 3. update and revoke through B, seen on A and C ---------------------------------------
event org:234-15 "$P" 2 type=WANGIRI obs='{"kind":"e164","value":"+882130002","role":"caller"}' | sign op1 >"$W/p2.jws"
st=$(publish b op1 <"$W/p2.jws")
ok "update (version 2) through B stored" test "$st/$(jq -r '.results[0].status' "$W/resp")" = 200/stored
SEQ_P2=$(jq -r '.results[0].seq' "$W/resp")
Q=$(uuid7)
event org:234-15 "$Q" 3 | sign op1 | publish a op1 >/dev/null
SEQ_Q=$(jq -r '.results[0].seq' "$W/resp")
wait_seq c "$SEQ_Q"
event org:234-15 "$Q" 2 | sign op1 >"$W/q2.jws"
publish c op1 <"$W/q2.jws" >/dev/null
ok "older version through C (v3 came through A): stale_version, nothing stored" \
    test "$(jq -r '.results[0].code' "$W/resp")/$(node_seq c)" = "stale_version/$SEQ_Q"
event org:234-15 "$P" 3 type=WANGIRI status=revoked | sign op1 >"$W/p3.jws"
st=$(publish b op1 <"$W/p3.jws")
ok "revoke (version 3) through B stored" test "$st/$(jq -r '.results[0].status' "$W/resp")" = 200/stored
SEQ_P3=$(jq -r '.results[0].seq' "$W/resp")
for n in a c; do
    wait_seq "$n" "$SEQ_P3"
    hcurl "$n" op2 "/v1/events?after=$SEQ_P&issuer=org:234-15&type=WANGIRI" >"$W/upd.$n"
    ok "node $n: version 2 at seq $SEQ_P2 and the revocation at $SEQ_P3" \
        test "$(jq -r '[.events[] | .seq] | join(",")' "$W/upd.$n")" = "$SEQ_P2,$SEQ_P3"
    ok "node $n: the revocation's exact bytes" test "$(jq -r '.events[1].jws' "$W/upd.$n")" = "$(cat "$W/p3.jws")"
    ok "node $n: revoked event left the snapshot" test "$(hcurl "$n" op3 /v1/snapshot | grep -c "\"seq\":$SEQ_P2,")" = 0
done
for ((i = 0; i < 50; i++)); do grep -q "^id: $SEQ_P3$" "$W/stream-c" && break; sleep 0.1; done
ok "push: C's follower got the update and the revocation from B" \
    test "$(grep -cE "^id: ($SEQ_P2|$SEQ_P3)$" "$W/stream-c")" = 2

# ---- 4. a sighting through C, listed on A with its signed bytes --------------------------------
REF=$(head -1 "$W/op1.ids")
event org:208-01 "$(uuid7)" 1 type=SIGHTING extra="{\"ref\":{\"issuer\":\"org:234-15\",\"event_id\":\"$REF\"},\"note\":\"seen on trunk 7\"}" |
    sign op2 >"$W/s.jws"
st=$(publish c op2 <"$W/s.jws")
ok "sighting through C stored" test "$st/$(jq -r '.results[0].status' "$W/resp")" = 200/stored
SEQ_S=$(jq -r '.results[0].seq' "$W/resp")
got=""
for ((i = 0; i < 100; i++)); do
    got=$(hcurl a op1 "/v1/sightings?issuer=org:234-15&event_id=$REF" | jq -r '.sightings[0] | "\(.reporter) \(.kind) \(.event_seq) \(.jws)"' 2>/dev/null)
    [ -n "$got" ] && [ "$got" != "null null null null" ] && break
    sleep 0.1
done
ok "sighting listed on A: reporter, kind, the feedback event's seq and bytes" \
    test "$got" = "org:208-01 SIGHTING $SEQ_S $(cat "$W/s.jws")"
ok "sighting listed on B too" \
    test "$(hcurl b op3 "/v1/sightings?issuer=org:234-15&event_id=$REF" | jq -r '.sightings | length')" = 1

# ---- 5. expiry, on every node ------------------------------------------------------------------
E=$(uuid7)
event org:fraudlab "$E" 1 valid="+3 seconds" | sign op3 >"$W/e.jws"
st=$(publish a op3 <"$W/e.jws")
SEQ_E=$(jq -r '.results[0].seq' "$W/resp")
wait_seq c "$SEQ_E"
ok "short-lived event pulled on C while valid" grep -q "\"seq\":$SEQ_E," <(hcurl c op1 "/v1/events?after=$((SEQ_E - 1))")
sleep 3.5
for n in $NODES; do
    ok "node $n: expired event gone from pull and snapshot" \
        test "$(hcurl "$n" op1 "/v1/events?after=$((SEQ_E - 1))" | grep -c "\"seq\":$SEQ_E,")/$(hcurl "$n" op1 /v1/snapshot | grep -c "\"seq\":$SEQ_E,")" = 0/0
done

# ---- 6. kill -9 of hub C, publishes meanwhile, restart: C catches up ------------------------
kill -9 "${HPID[c]}"
wait "${HPID[c]}" 2>/dev/null
HPID[c]=""
many_events org:234-15 40 | sign op1 >"$W/down1.jws"
many_events org:208-01 40 | sign op2 >"$W/down2.jws"
st=$(publish a op1 <"$W/down1.jws")
ok "C down: 40 stored through A" test "$st/$(jq -r .stored "$W/resp")" = 200/40
st=$(publish b op2 <"$W/down2.jws")
ok "C down: 40 stored through B" test "$st/$(jq -r .stored "$W/resp")" = 200/40
TOP=$(jq -r '[.results[].seq] | max' "$W/resp")
ok "hub C restarted" start_hub c
ok "C caught up through seq $TOP" wait_seq c "$TOP"
wait_seq a "$TOP"
same_rows "after C's restart: identical rows on A, B and C" op1 a b c
ok "after C's restart: the 80 events published meanwhile are on C, once each" \
    test "$(grep -cF -f "$W/down1.jws" "$W/same.c")/$(grep -cF -f "$W/down2.jws" "$W/same.c")" = 40/40
ok "C's health: applied = its seq" \
    test "$(hcurl c op1 /health | jq -r '(.replication.applied_seq|tostring) + "=" + (.seq|tostring)')" = "$TOP=$TOP"
# the stale version again, within JetStream's duplicate window: C's verdict ring
# died with it, yet the answer is the store's, as a lone hub's would be
st=$(publish c op1 <"$W/q2.jws")
ok "after C's restart: the older version retried is still stale_version, not duplicate" \
    test "$st/$(jq -r '.results[0].code // .results[0].status' "$W/resp")/$(node_seq c)" = "200/stale_version/$TOP"
ok "...and a replay of a stored event through C is a duplicate with its seq" \
    test "$(publish c op1 <"$W/p.jws")/$(jq -r '.results[0] | .status + "/" + (.seq|tostring)' "$W/resp")" = "200/duplicate/$SEQ_P"

# ---- 7. one NATS server down: publishing still works ----------------------------------------------
kill -9 "${NPID[1]}" 2>/dev/null
wait "${NPID[1]}" 2>/dev/null
NPID[1]=""
ok "meta leader without server 1" wait_meta_leader 2 n1
X=$(uuid7)
event org:234-15 "$X" 1 | sign op1 >"$W/x.jws"
st=$(publish a op1 <"$W/x.jws")
ok "server 1 down: A (its first URL was server 1) still publishes" test "$st/$(jq -r '.results[0].status' "$W/resp")" = 200/stored
SEQ_X=$(jq -r '.results[0].seq' "$W/resp")
for n in b c; do ok "server 1 down: node $n applies it" wait_seq "$n" "$SEQ_X"; done
event org:fraudlab "$(uuid7)" 1 | sign op3 | publish c op3 >/dev/null
ok "server 1 down: C publishes too" test "$(jq -r '.results[0].status' "$W/resp")" = stored
same_rows "server 1 down: identical rows on A, B and C" op3 a b c

# ---- 8. clean stop ---------------------------------------------------------------------------------
for p in $STREAM_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
STREAM_PIDS=""
for n in $NODES; do
    stop_hub "$n"
    ok "hub $n stops cleanly on SIGTERM" grep -q 'fs38 hub: stopped' "$W/hub-$n.log"
done
if grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' "$W"/hub-*.log; then
    fail "sanitizer report in a hub log"; grep -h -A5 -E 'runtime error|Sanitizer' "$W"/hub-*.log | head -30 >&2
else pass; fi
finish test_hub_cluster
