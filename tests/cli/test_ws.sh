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
# a client that offers sip among other subprotocols ("chat, sip") and a server that picks chat:
# the client's frames are not SIP either (tshark reads none). On 5060 (a SIP port) and on 8086
# with the 101 answer in two segments. Before, the client's direction was read as SIP over
# WebSocket from its GET: its JSON raised SIP-MAL-001 (NOT_SIP), its SIP-looking text was read
python3 - "$TMPD/chat.pcap" <<'PY'
import struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, tcp, eth, write_pcap
srv, out = '192.0.2.200', []
def conn(cli, port, split):
    seq = {'c': 1000, 's': 5000}
    def seg(d, data=b'', flags=0x18):
        src, dst, sp, dp = (cli, srv, 40000 + port % 1000, port) if d == 'c' else (srv, cli, port, 40000 + port % 1000)
        out.append(eth(ip4(src, dst, 6, tcp(sp, dp, seq[d], flags, data))))
        seq[d] += len(data) + (1 if flags & 0x02 else 0)
    def frame(m):  # final text frame, masked with a zero key
        return bytes([0x81, 0x80 | 126]) + struct.pack('!H', len(m)) + b'\0\0\0\0' + m
    seg('c', flags=0x02); seg('s', flags=0x12); seg('c', flags=0x10)
    seg('c', b'GET /ws HTTP/1.1\r\nHost: 192.0.2.200\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
             b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat, sip\r\n'
             b'Sec-WebSocket-Version: 13\r\n\r\n')
    answer = (b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
              b'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n')
    for part in ((answer[:40], answer[40:]) if split else (answer,)): seg('s', part)
    seg('c', frame(b'{"type": "hello", "text": "hi there, this is chat and not SIP at all"}'))
    seg('c', frame(b'OPTIONS sip:100@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/WS ' + cli.encode() + b';branch=z9hG4bK-c\r\n'
                   b'Max-Forwards: 70\r\nFrom: <sip:100@192.0.2.200>;tag=c\r\nTo: <sip:100@192.0.2.200>\r\n'
                   b'Call-ID: ws-chat\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n'))
conn('10.4.0.8', 5060, False)
conn('10.4.0.9', 8086, True)
write_pcap(sys.argv[1], out)
PY
expect_exit 0 "sip offered, chat agreed" "$FS38" inspect --json --stats-json "$TMPD/chat.json" "$TMPD/chat.pcap"
ok "...nothing read as SIP, no event" is "$(jq -r '"\(.transports.ws // 0) \(.not_sip)"' "$TMPD/chat.json") $(wc -l <"$TMPD/out")" "0 0 0"
ok "...tshark reads no SIP message there either" is "$(tshark -r "$TMPD/chat.pcap" -Y sip.Call-ID 2>/dev/null | wc -l)" 0


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
# (its header section cut there by us: oversized, SIP-MAL-002, not HEADERS_UNTERMINATED, SIP-MAL-001)
ok "...the 2 MB bomb is read cut at the size limit, the message after it whole" is \
    "$(jq -r '.anomalies | "\(.LIMIT_MESSAGE_SIZE) \(.HEADERS_UNTERMINATED // 0)"' "$TMPD/d.json")" "1 0"
ok "...the bomb is SIP-MAL-002's alone" is \
    "$(jq -r 'select(.rule.id | startswith("SIP-MAL")) | .rule.id' "$TMPD/d.ndjson" | sort | tr '\n' ' ')" "SIP-MAL-002 "
# tshark inflates them too (all but ws-16, whose compressed payload spans two frames)
tshark -r "$D" -Y sip -T fields -e sip.Call-ID 2>/dev/null | tr ',' '\n' | sort -V | tr '\n' ' ' >"$TMPD/tshark"
ok "...tshark reads the compressed ones fs38 reads" python3 -c '
import sys; t = sys.argv[1].split()
want = "ws-11 ws-11 ws-12 ws-13 ws-14 ws-15 ws-21 ws-22 ws-32".split()
assert all(w in t for w in want), t' "$(cat "$TMPD/tshark")"
expect_exit 0 "...--workers 2" "$FS38" inspect --workers 2 --json --stats-json "$TMPD/d2.json" "$D"
ok "...--workers 2: the same" is "$(scan "$TMPD/out") $(jq -r .capture.ws_inflated "$TMPD/d2.json")" \
    "$(scan "$TMPD/d.ndjson") 11"
# a message whose sender ended the DEFLATE stream (BFINAL set: RFC 7692 7.2.3.3, a final block in
# place of the empty stored one), then two from a fresh compressor: the stream starts over after
# it. Before, the 4 octets appended to it began a stored block in the new stream that swallowed
# the next message: 1 of 3 read, 2 failed
python3 - "$TMPD/bfinal.pcap" <<'PY'
import struct, sys, zlib
sys.path.insert(0, 'tests/cli'); sys.path.insert(0, 'tests/data/capture')
from pcapgen import write_pcap
from ws_conn import ws_conn, ws_opt
def frame(z):  # final, compressed (RSV1), text, unmasked
    return bytes([0xc1, 126]) + struct.pack('!H', len(z)) + z
def opt(n):
    return ws_opt('10.4.0.7', b'b%d' % n, b'ws-4%d' % n)
out, seg = ws_conn('10.4.0.7', 8083, b'Sec-WebSocket-Extensions: permessage-deflate\r\n')
c = zlib.compressobj(wbits=-15)
seg('c', frame(c.compress(opt(1)) + c.flush(zlib.Z_FINISH)))
c = zlib.compressobj(wbits=-15)
for n in (2, 3):
    seg('c', frame((c.compress(opt(n)) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]))
write_pcap(sys.argv[1], out)
PY
expect_exit 0 "a compressed message that ends the DEFLATE stream" "$FS38" inspect --json --stats-json "$TMPD/bf.json" "$TMPD/bfinal.pcap"
ok "...it and the two after it read, none failed" is \
    "$(jq -r '"\(.transports.ws) \(.capture.ws_inflated) \(.capture.ws_inflate_failed)"' "$TMPD/bf.json")" "3 3 0"


# a segment lost (ws-12 and ws-13): ws-14 and ws-16 refer back to it. Neither is read as
# other bytes: the window starts over at the gap, and a reference into it fails, counted
python3 tests/cli/pcap_edit.py "$D" "$TMPD/gap.pcap" drop 8
expect_exit 0 "a compressed WebSocket with a lost segment" "$FS38" inspect --stats-json "$TMPD/g.json" "$TMPD/gap.pcap"
ok "...ws-16 counted as not inflated, no other message malformed than the bomb" is \
    "$(jq -c '[.capture.ws_inflate_failed, .anomalies]' "$TMPD/g.json")" "$(jq -c '[1, .anomalies]' "$TMPD/d.json")"
ok "...the summary says so" grep -q "compressed WebSocket messages not inflated 1" "$TMPD/out"
# a compressed message whose deflated payload is longer than limits.max_message (512 here): its
# first bytes inflated and read as an oversized message (SIP-MAL-002), as the same message sent
# uncompressed is; the one after it read. Before, it was dropped as not inflated: no event
python3 - "$TMPD/zbig.pcap" <<'PY'
import random, struct, sys, zlib
sys.path.insert(0, 'tests/cli'); sys.path.insert(0, 'tests/data/capture')
from pcapgen import write_pcap
from ws_conn import ws_conn, ws_opt
def frame(m, rsv1):  # final text frame, unmasked
    return bytes([0xc1 if rsv1 else 0x81, 126]) + struct.pack('!H', len(m)) + m
def opt(n, pad=b''):
    return ws_opt('10.4.0.10', b'z%d' % n, b'ws-5%d' % n, pad)
out, seg = ws_conn('10.4.0.10', 8087, b'Sec-WebSocket-Extensions: permessage-deflate\r\n')
random.seed(1)
big = opt(1, b'X-Pad: ' + bytes(random.choice(b'0123456789abcdef') for _ in range(3000)) + b'\r\n')
for m in (big, opt(2)):  # each compressed alone: the window after one cut is gone
    c = zlib.compressobj(wbits=-15)
    z = (c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert (len(z) > 512) == (m is big)
    seg('c', frame(z, True))
seg('c', frame(big, False))
write_pcap(sys.argv[1], out)
PY
printf 'limits:\n  max_message: 512\n' >"$TMPD/small.yaml"
expect_exit 0 "a compressed message longer than max_message" "$FS38" inspect --config "$TMPD/small.yaml" --json --stats-json "$TMPD/zb.json" "$TMPD/zbig.pcap"
ok "...read cut and oversized as its uncompressed copy is, the one after it read" is \
    "$(jq -r '"\(.transports.ws) \(.anomalies.LIMIT_MESSAGE_SIZE) \(.capture.ws_inflate_failed)"' "$TMPD/zb.json")" "3 2 0"


# a segment lost where the sender compresses each message alone (10.4.0.5, the empty one): the
# direction resumes at the next compressed frame that inflates to a start line (ws-22). Before,
# only an uncompressed frame resumed it, and none came
python3 tests/cli/pcap_edit.py "$D" "$TMPD/gapb.pcap" drop 18
expect_exit 0 "a lost segment without context takeover" "$FS38" inspect --json --stats-json "$TMPD/gb.json" "$TMPD/gapb.pcap"
ok "...ws-22 read after it: 10.4.0.5 scanned twice, nothing failed" is \
    "$(jq -r 'select(.observables[0].value == "10.4.0.5") | .evidence.count' "$TMPD/out") $(jq -r .capture.ws_inflate_failed "$TMPD/gb.json")" "2 0"
# limits.max_flow_bytes equal to max_message (2048, as configuration.md allows): a message of 2048
# bytes in one masked frame (8 bytes of header) is read, as over plain TCP. Before, the direction's
# buffer could not hold the frame: the message was dropped without an event, and the stream resynced
python3 - "$TMPD/full.pcap" <<'PY'
import struct, sys
sys.path.insert(0, 'tests/cli'); sys.path.insert(0, 'tests/data/capture')
from pcapgen import write_pcap
from ws_conn import ws_conn, ws_opt
def opt(n, size):
    m = ws_opt('10.4.0.11', b'f%d' % n, b'ws-6%d' % n)
    return m.replace(b'User-Agent', b'X-Pad: ' + b'p' * (size - len(m) - 9) + b'\r\nUser-Agent')
out, seg = ws_conn('10.4.0.11', 8088)
for n in (1, 2):
    m = opt(n, 2048)
    f = bytes([0x81, 0x80 | 126]) + struct.pack('!H', len(m)) + b'\0\0\0\0' + m
    for i in range(0, len(f), 1000): seg('c', f[i:i + 1000])
write_pcap(sys.argv[1], out)
PY
printf 'limits:\n  max_message: 2048\n  max_flow_bytes: 2048\n' >"$TMPD/full.yaml"
expect_exit 0 "max_flow_bytes = max_message" "$FS38" inspect --config "$TMPD/full.yaml" --json --stats-json "$TMPD/full.json" "$TMPD/full.pcap"
ok "...two messages of max_message bytes read whole, nothing dropped" is \
    "$(jq -r '"\(.transports.ws) \(.anomalies.LIMIT_MESSAGE_SIZE // 0) \(.capture.tcp_bytes_dropped)"' "$TMPD/full.json")" "2 0 0"


# a client whose upgrade request carries 9 KB of cookies (a web app's, or padding: nginx takes
# 32 KiB of headers), on 8089 (not a SIP port) and on 5060, in segments of 1460 bytes: its
# requests are read, as the server's answers are. Before, a header block longer than 4 KiB (8 KiB
# on a SIP port) was not a handshake: the client's SIP went unread, 3 of 6 messages read
python3 - "$TMPD/cookies.pcap" <<'PY'
import struct, sys
sys.path.insert(0, 'tests/cli'); sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, tcp, eth, write_pcap
from ws_conn import ws_opt
SRV, out = '192.0.2.200', []
def conn(cli, port):
    seq = {'c': 1000, 's': 5000}
    def seg(d, data=b'', flags=0x18):
        src, dst, sp, dp = (cli, SRV, 41000, port) if d == 'c' else (SRV, cli, port, 41000)
        out.append(eth(ip4(src, dst, 6, tcp(sp, dp, seq[d], flags, data))))
        seq[d] += len(data) + (1 if flags & 0x02 else 0)
    seg('c', flags=0x02); seg('s', flags=0x12); seg('c', flags=0x10)
    get = (b'GET /ws HTTP/1.1\r\nHost: 192.0.2.200\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
           b'Cookie: a=' + b'c' * 4500 + b'\r\nCookie: b=' + b'd' * 4500 + b'\r\n'
           b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n')
    for i in range(0, len(get), 1460): seg('c', get[i:i + 1460])
    seg('s', b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
             b'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n')
    for n in range(3):
        m = ws_opt(cli, b'k%d' % n, b'ws-7%d' % n)
        seg('c', bytes([0x81, 0x80 | 126]) + struct.pack('!H', len(m)) + b'\0\0\0\0' + m)
        a = b'SIP/2.0 200 OK\r\nVia: SIP/2.0/WS x;branch=z9hG4bK-k%d\r\nCall-ID: ws-7%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' % (n, n)
        seg('s', bytes([0x81, len(a)]) + a)
conn('10.4.0.12', 8089)
conn('10.4.0.13', 5060)
write_pcap(sys.argv[1], out)
PY
expect_exit 0 "an upgrade request with 9 KB of cookies" "$FS38" inspect --json --stats-json "$TMPD/ck.json" "$TMPD/cookies.pcap"
ok "...every message of both connections read, the requests too" is \
    "$(jq -r '.transports.ws' "$TMPD/ck.json") $(scan "$TMPD/out")" "12 10.4.0.12=3 ws 10.4.0.13=3 ws "

finish test_ws
