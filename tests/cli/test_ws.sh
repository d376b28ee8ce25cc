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

# --- permessage-deflate (RFC 7692), tests/data/capture/ws-deflate.pcap (make_tunnels.py) ---------
# 10.4.0.4: ws-11..14 compressed with context takeover, the server's 200 compressed, ws-15
# uncompressed, ws-16 compressed in two frames; 10.4.0.5: ws-21, an empty one, ws-22 without context
# takeover; 10.4.0.6: ws-31, 2 MB deflated to 2 kB, then ws-32. Before: 1 message of 11 read
# (the uncompressed one), the rest dropped as bytes that are not WebSocket frames.
D=tests/data/capture/ws-deflate.pcap
expect_exit 0 "inspect ws-deflate.pcap" "$FS38" inspect --json --stats-json "$TMPD/d.json" "$D"
cp "$TMPD/out" "$TMPD/d.ndjson"
ok "permessage-deflate: all 11 messages read, 11 compressed ones inflated (one of them empty), none failed" is \
    "$(jq -r '"\(.transports.ws) \(.capture.ws_inflated) \(.capture.ws_inflate_failed)"' "$TMPD/d.json")" "11 11 0"
ok "...no byte dropped" is "$(jq -r '"\(.capture.tcp_bytes_dropped) \(.capture.tcp_resyncs)"' "$TMPD/d.json")" "0 0"
ok "...SCAN-001 counts every request, ws-16's two frames too" is "$(scan "$TMPD/d.ndjson")" \
    "10.4.0.4=6 ws 10.4.0.5=2 ws 10.4.0.6=1 ws "
ok "...the 2 MB bomb is read cut at the size limit, the message after it whole" is \
    "$(jq -r '.anomalies | "\(.LIMIT_MESSAGE_SIZE) \(.HEADERS_UNTERMINATED)"' "$TMPD/d.json")" "1 1"
# tshark inflates them too (all but ws-16, whose compressed payload spans two frames)
tshark -r "$D" -Y sip -T fields -e sip.Call-ID 2>/dev/null | tr ',' '\n' | sort -V | tr '\n' ' ' >"$TMPD/tshark"
ok "...tshark reads the compressed ones fs38 reads" python3 -c '
import sys; t = sys.argv[1].split()
want = "ws-11 ws-11 ws-12 ws-13 ws-14 ws-15 ws-21 ws-22 ws-32".split()
assert all(w in t for w in want), t' "$(cat "$TMPD/tshark")"
expect_exit 0 "...--workers 2" "$FS38" inspect --workers 2 --json --stats-json "$TMPD/d2.json" "$D"
ok "...--workers 2: the same" is "$(scan "$TMPD/out") $(jq -r .capture.ws_inflated "$TMPD/d2.json")" \
    "$(scan "$TMPD/d.ndjson") 11"

# a segment lost (ws-12 and ws-13): ws-14 and ws-16 refer back to it. Neither is read as
# other bytes: the window starts over at the gap, and a reference into it fails, counted
python3 tests/cli/pcap_edit.py "$D" "$TMPD/gap.pcap" drop 8
expect_exit 0 "a compressed WebSocket with a lost segment" "$FS38" inspect --stats-json "$TMPD/g.json" "$TMPD/gap.pcap"
ok "...ws-16 counted as not inflated, no other message malformed than the bomb" is \
    "$(jq -c '[.capture.ws_inflate_failed, .anomalies]' "$TMPD/g.json")" "$(jq -c '[1, .anomalies]' "$TMPD/d.json")"
ok "...the summary says so" grep -q "compressed WebSocket messages not inflated 1" "$TMPD/out"

# a segment lost where the sender compresses each message alone (10.4.0.5, the empty one): the
# direction resumes at the next compressed frame that inflates to a start line (ws-22). Before,
# only an uncompressed frame resumed it, and none came
python3 tests/cli/pcap_edit.py "$D" "$TMPD/gapb.pcap" drop 18
expect_exit 0 "a lost segment without context takeover" "$FS38" inspect --json --stats-json "$TMPD/gb.json" "$TMPD/gapb.pcap"
ok "...ws-22 read after it: 10.4.0.5 scanned twice, nothing failed" is \
    "$(jq -r 'select(.observables[0].value == "10.4.0.5") | .evidence.count' "$TMPD/out") $(jq -r .capture.ws_inflate_failed "$TMPD/gb.json")" "2 0"

finish test_ws
