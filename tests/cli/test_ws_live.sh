#!/usr/bin/env bash
# test_ws_live.sh -- SIP over WebSocket (RFC 7118) live, against a real
# server: Kamailio from Debian (tests/data/kamailio/ws.cfg: xhttp and
# websocket modules) on 127.0.0.12:8080. tests/cli/sip_client.py opens a
# WebSocket for "sip" from 127.0.2.9 and sends 3 OPTIONS with a scanner's
# User-Agent in masked frames; Kamailio answers each 200 in its own frames.
#   fs38 inspect -i lo --bpf 'host 127.0.0.12 and tcp port 8080' --duration 5
# must read the 6 messages as transport ws and raise SIP-SCAN-001 for
# 127.0.2.9 counting 3; tcpdump records the same traffic, and fs38 and
# tshark -Y sip must read 6 messages from that file too.
#
# Needs root, kamailio with kamailio-websocket-modules, tcpdump, tshark, ss.
# Every peer runs under timeout and is stopped by pid; a peer that cannot
# start is a failure with its reason.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_ws_live.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

KCFG=tests/data/kamailio/ws.cfg
BPF='host 127.0.0.12 and tcp port 8080'
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMPD"' EXIT
listening() { ss -Hltn "src 127.0.0.12:8080" 2>/dev/null | grep -q .; }

prereq_ok=1
need() { if ! "$@" >/dev/null 2>&1; then fail "prerequisite: $*"; prereq_ok=0; fi; }
need test "$(id -u)" -eq 0
need test -e /usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so
need kamailio -c -f "$KCFG"
need command -v tcpdump
if listening; then fail "127.0.0.12:8080 is already in use"; prereq_ok=0; fi
if [ "$prereq_ok" -ne 1 ]; then finish test_ws_live; exit; fi

timeout -k 5 40 kamailio -f "$KCFG" -DD -E -P "$TMPD/kamailio.pid" -Y "$TMPD" >"$TMPD/kamailio.log" 2>&1 &
KPID=$!; PIDS+=("$KPID")
for _ in $(seq 100); do listening && break; sleep 0.1; done
if listening && kill -0 "$KPID" 2>/dev/null; then pass
else fail "kamailio did not start: $(tail -3 "$TMPD/kamailio.log")"; finish test_ws_live; exit; fi

timeout -k 5 30 "$FS38" inspect -i lo --bpf "$BPF" --duration 5 --json --stats-json "$TMPD/s.json" \
    >"$TMPD/live.json" 2>"$TMPD/live.err" &
FPID=$!; PIDS+=("$FPID")
timeout -k 5 20 tcpdump -i lo -U -w "$TMPD/ws-live.pcap" "$BPF" 2>"$TMPD/tcpdump.err" &
TPID=$!; PIDS+=("$TPID")
for _ in $(seq 50); do grep -q "capturing on" "$TMPD/live.err" && grep -q "listening on" "$TMPD/tcpdump.err" && break; sleep 0.1; done
sleep 0.5
ok "the client gets its 3 answers" bash -c "timeout -k 2 15 python3 tests/cli/sip_client.py 127.0.2.9 127.0.0.12 8080 - ws 3 wslive >'$TMPD/client.out' 2>&1"
rc=0; wait "$FPID" || rc=$?
ok "fs38 stops by itself, exit 0" is "$rc" 0
sleep 0.5; kill "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null
kill "$KPID" 2>/dev/null; wait "$KPID" 2>/dev/null

ok "live: 6 messages over WebSocket" is "$(jq -r .transports.ws "$TMPD/s.json")" 6
ok "live: SIP-SCAN-001 for 127.0.2.9 counting 3, transport ws" is \
    "$(jq -rs 'group_by(.event_id) | map(max_by(.version)) | .[] | select(.rule.id == "SIP-SCAN-001") | "\(.observables[] | select(.role == "source") | .value) \(.evidence.count) \(.evidence.sample.transport)"' "$TMPD/live.json")" \
    "127.0.2.9 3 ws"
ok "live: no malformed message" is "$(jq -r 'select(.rule.id | startswith("SIP-MAL")) | .rule.id' "$TMPD/live.json")" ""
expect_exit 0 "the same traffic from tcpdump's file" "$FS38" inspect --json --stats-json "$TMPD/f.json" "$TMPD/ws-live.pcap"
ok "file: 6 messages over WebSocket" is "$(jq -r .transports.ws "$TMPD/f.json")" 6
ok "tshark reads the same 6" is "$(tshark -r "$TMPD/ws-live.pcap" -Y sip -T fields -e sip.Call-ID 2>/dev/null | tr , "\n" | grep -c .)" 6

finish test_ws_live
