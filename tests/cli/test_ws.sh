#!/usr/bin/env bash
# test_ws.sh -- SIP over WebSocket (RFC 7118) in a capture (tests/data/
# capture/ws.pcap, made by make_tunnels.py): a connection on 8080 from
# 10.4.0.1 (OPTIONS ws-1 and the server's 200 to it, ws-2 and ws-3 in one
# segment, ws-4 over two segments, ws-5 fragmented around a ping, ws-6 in a
# binary frame, a close), one on 80 from 10.4.0.2 (ws-7), and a WebSocket of
# another subprotocol ("chat") on 8081 whose SIP-looking text is not SIP.
# Client frames are masked. Checked against tshark -Y sip on the same file.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_ws.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

PCAP=tests/data/capture/ws.pcap
scan() { jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.observables[] | select(.role == "source") | .value)=\(.evidence.count) \(.evidence.sample.transport)"' "$1" | sort | tr '\n' ' '; }

expect_exit 0 "inspect ws.pcap" "$FS38" inspect --json --stats-json "$TMPD/s.json" "$PCAP"
cp "$TMPD/out" "$TMPD/w1.ndjson"
ok "8 messages over WebSocket" is "$(jq -r .transports.ws "$TMPD/s.json")" 8
ok "nothing read as plain TCP" is "$(jq -r '.transports.tcp // 0' "$TMPD/s.json")" 0
ok "SCAN-001 per client, counting its requests" is "$(scan "$TMPD/w1.ndjson")" "10.4.0.1=6 ws 10.4.0.2=1 ws "
ok "no bytes dropped, no resync" is "$(jq -r '"\(.capture.tcp_bytes_dropped) \(.capture.tcp_resyncs)"' "$TMPD/s.json")" "0 0"
ok "no message malformed" is "$(jq -r 'select(.rule.id | startswith("SIP-MAL")) | .rule.id' "$TMPD/w1.ndjson")" ""

tshark -r "$PCAP" -Y sip -T fields -e sip.Call-ID 2>/dev/null | tr ',' '\n' | sort -V | tr '\n' ' ' >"$TMPD/tshark"
ok "tshark reads the same 8 (ws-1 twice: request and answer), none of the chat socket" is "$(cat "$TMPD/tshark")" \
    "ws-1 ws-1 ws-2 ws-3 ws-4 ws-5 ws-6 ws-7 "

expect_exit 0 "inspect --workers 2" "$FS38" inspect --workers 2 --json --stats-json "$TMPD/s2.json" "$PCAP"
ok "--workers 2: the same" is "$(scan "$TMPD/out") $(jq -r .transports.ws "$TMPD/s2.json")" "$(scan "$TMPD/w1.ndjson") 8"

finish test_ws
