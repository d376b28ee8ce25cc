#!/usr/bin/env bash
# test_tls_live.sh -- SIP over TLS and secure WebSocket live, against real
# peers (tests/cli/tls_peers.sh): Kamailio with its tls and websocket
# modules on 127.0.0.13, and clients (Python's ssl, openssl s_client) that
# write their session keys to a key log as they connect: TLS 1.3 and 1.2,
# AES-GCM, ChaCha20-Poly1305 and AES-CBC, a KeyUpdate, SIP over wss on 8443.
#   fs38 inspect -i lo --bpf "$TLS_BPF" --tls-keylog KEYLOG --duration 15
# starts with the key log empty and must read it on as the clients write
# it: all 70 messages (58 tls, 12 wss), each client's SIP-SCAN-001 counting
# its requests. tcpdump records the same traffic; fs38 and tshark with the
# key log must read the same 70 from that file.
#
# Needs root, kamailio with kamailio-tls-modules and -websocket-modules,
# openssl, tcpdump, tshark, ss. Every peer runs under timeout and is
# stopped by pid; a peer that cannot start is a failure with its reason.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_tls_live.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$ROOT/tests/cli/tls_peers.sh"
cd "$ROOT" || exit 2

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMPD"' EXIT
# each incident's last report (live: one when it opens, another when it closes with more)
scan() { jq -rs 'group_by(.event_id) | map(max_by(.version)) | .[] | select(.rule.id == "SIP-SCAN-001") | "\(.observables[] | select(.role == "source") | .value)=\(.evidence.count) \(.evidence.sample.transport)"' "$1" | sort | tr '\n' ' '; }
SCANS="127.0.3.1=25 tls 127.0.3.2=6 wss 127.0.3.3=2 tls 127.0.3.4=1 tls 127.0.3.5=1 tls "

prereq_ok=1
need() { if ! "$@" >/dev/null 2>&1; then fail "prerequisite: $*"; prereq_ok=0; fi; }
need test "$(id -u)" -eq 0
need test -e /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so
need test -e /usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so
need command -v tcpdump
need command -v openssl
if tls_listening; then fail "$TLS_HOST:5061 or 8443 is already in use"; prereq_ok=0; fi
if [ "$prereq_ok" -eq 1 ] && ! tls_setup "$TMPD"; then fail "kamailio refuses the TLS config"; prereq_ok=0; fi
if [ "$prereq_ok" -ne 1 ]; then finish test_tls_live; exit; fi

if tls_start "$TMPD"; then pass
else fail "kamailio did not start: $(tail -3 "$TMPD/kamailio.log")"; finish test_tls_live; exit; fi
PIDS+=("$TLS_KPID")

: >"$TMPD/keys"
timeout -k 5 40 "$FS38" inspect -i lo --bpf "$TLS_BPF" --tls-keylog "$TMPD/keys" --duration 15 --json \
    --stats-json "$TMPD/s.json" >"$TMPD/live.json" 2>"$TMPD/live.err" &
FPID=$!; PIDS+=("$FPID")
timeout -k 5 30 tcpdump -i lo -U -s 0 -w "$TMPD/tls-live.pcap" "$TLS_BPF" 2>"$TMPD/tcpdump.err" &
TPID=$!; PIDS+=("$TPID")
for _ in $(seq 50); do grep -q "capturing on" "$TMPD/live.err" && grep -q "listening on" "$TMPD/tcpdump.err" && break; sleep 0.1; done
sleep 0.5
ok "every client gets its answers" tls_clients "$TMPD/keys" "$TMPD/clients.out"
rc=0; wait "$FPID" || rc=$?
ok "fs38 stops by itself, exit 0" is "$rc" 0
sleep 0.5; kill "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null
kill "$TLS_KPID" 2>/dev/null; wait "$TLS_KPID" 2>/dev/null
[ "$T_FAIL" -eq 0 ] || { sed 's/^/  | /' "$TMPD/clients.out" "$TMPD/live.err" | tail -20 >&2; }

ok "live: the key log was empty at start, said so" grep -q "holds no session yet" "$TMPD/live.err"
ok "live: 58 messages over TLS, 12 over secure WebSocket" is "$(jq -r '"\(.transports.tls) \(.transports.wss)"' "$TMPD/s.json")" "58 12"
ok "live: 9 connections, every direction read" is \
    "$(jq -r '.capture | "\(.tls_handshakes) \(.tls_no_key) \(.tls_unsupported) \(.tls_failed)"' "$TMPD/s.json")" "9 0 0 0"
ok "live: SIP-SCAN-001 per client, counting its requests" is "$(scan "$TMPD/live.json")" "$SCANS"
# (a TLS 1.3 server's certificate is read when the client has written the handshake secret by
# the time fs38 reads the server's encrypted records: here all 8 were, but that is timing)
ok "live: every SIP server's certificate read, or counted unread" is \
    "$(jq -r '.capture | .tls_certs + .tls_certs_unread' "$TMPD/s.json")" 8
ok "live: no malformed message" is "$(jq -r 'select(.rule.id | startswith("SIP-MAL")) | .rule.id' "$TMPD/live.json")" ""

expect_exit 0 "the same traffic from tcpdump's file" "$FS38" inspect --tls-keylog "$TMPD/keys" --json --stats-json "$TMPD/f.json" "$TMPD/tls-live.pcap"
ok "file: the same 70" is "$(jq -r '"\(.transports.tls) \(.transports.wss)"' "$TMPD/f.json")" "58 12"
ok "file: the 8 SIP servers' certificates read, TLS 1.3's with their handshake secrets" is \
    "$(jq -r '.capture | "\(.tls_certs) \(.tls_certs_unread)"' "$TMPD/f.json")" "8 0"
ok "tshark reads the same 70" is "$(tshark -r "$TMPD/tls-live.pcap" -o "tls.keylog_file:$TMPD/keys" -Y sip -T fields -e sip.Call-ID 2>/dev/null | tr , "\n" | grep -c .)" 70

finish test_tls_live
