#!/usr/bin/env bash
# test_sctp.sh -- SIP over SCTP in captures (RFC 4168; tests/data/capture/
# sctp.pcap, made by make_tunnels.py). Each OPTIONS (Call-ID sctp-N) is one
# user message: in a DATA chunk alone, two bundled after a SACK, one on a port
# that is not a SIP port (the start-line heuristic, over IPv6), and split over
# several chunks (RFC 9260 6.9): in two packets, in three last part first with
# a retransmission, both parts in one packet, on a port that is not a SIP
# port, and a message of 1.2 kB in three. A first part never followed is
# given up; Diameter on 3868, whole and split, is not SIP; a chunk whose length
# runs past its packet is bad_ip. The messages, and the frame each is read
# at, are checked against tshark -Y sip on the same file (which puts split
# messages back together too). With limits.max_message 512 the 1.2 kB
# message is read as an oversized one (SIP-MAL-002) and its tail skipped.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_sctp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

PCAP=tests/data/capture/sctp.pcap
stat() { jq -r "$2" "$1"; }

expect_exit 0 "inspect sctp.pcap" "$FS38" inspect --json --stats-json "$TMPD/s.json" "$PCAP"
ok "9 messages over SCTP" is "$(stat "$TMPD/s.json" .transports.sctp)" 9
# SIP-SCAN-001 per source counts its messages (the two IPv6 senders share a /64)
ok "SCAN-001 per source, counting its messages" is \
    "$(jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.observables[] | select(.kind == "ip") | .value)=\(.evidence.count)"' "$TMPD/out" | sort -V | tr '\n' ' ')" \
    "10.2.0.1=1 10.2.0.2=2 10.2.0.5=1 10.2.0.8=1 10.2.0.9=1 10.2.0.13=1 2001:db8:2::4=2 "
ok "SCTP packets counted" is "$(stat "$TMPD/s.json" .capture.sctp_packets)" 20
ok "parts of split messages counted" is "$(stat "$TMPD/s.json" .capture.sctp_fragmented)" 16
ok "5 split messages put back together" is "$(stat "$TMPD/s.json" .capture.sctp_reassembled)" 5
ok "the unfinished one given up" is "$(stat "$TMPD/s.json" .capture.sctp_dropped)" 1
ok "the overlong chunk is bad_ip" is "$(stat "$TMPD/s.json" .capture.bad_ip)" 1
ok "nothing else is SIP" is "$(stat "$TMPD/s.json" .not_sip)" 0
ok "no message is malformed" is "$(jq -r 'select(.rule.id == "SIP-MAL-001" or .rule.id == "SIP-MAL-002")' "$TMPD/out")" ""

# each sample's Call-ID at the frame tshark reads that message at
tshark -r "$PCAP" -Y sip -T fields -e frame.number -e sip.Call-ID 2>/dev/null |
    awk -F'\t' '{ n = split($2, c, ","); for (i = 1; i <= n; i++) print $1, c[i] }' | sort >"$TMPD/tshark"
ok "tshark finds 9 messages" is "$(wc -l <"$TMPD/tshark")" 9
ok "tshark puts the split ones back together" is "$(awk '$2 ~ /sctp-(5|6|7|8|10)$/ {print $2}' "$TMPD/tshark" | sort -V | tr '\n' ' ')" \
    "sctp-5 sctp-6 sctp-7 sctp-8 sctp-10 "
jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.evidence.sample["x-capture"].frame) \(.evidence.sample.call_id)"' "$TMPD/out" |
    sort >"$TMPD/ours"
ok "each sample read at tshark's frame" is "$(comm -23 "$TMPD/ours" "$TMPD/tshark")" ""
ok "samples of the split messages among them" is "$(grep -c -E 'sctp-(5|6|7|10)$' "$TMPD/ours")" 4

expect_exit 0 "inspect --workers 2" "$FS38" inspect --workers 2 --json --stats-json "$TMPD/s2.json" "$PCAP"
ok "--workers 2: the same 9 messages" is "$(stat "$TMPD/s2.json" .transports.sctp)" 9
ok "--workers 2: the same 5 put back together" is "$(stat "$TMPD/s2.json" .capture.sctp_reassembled)" 5

expect_exit 0 "the summary" "$FS38" inspect "$PCAP"
ok "the summary names the part given up" grep -q "SCTP message parts dropped 1" "$TMPD/out"
ok "...and the overlong chunk as what it is" grep -q "bad IP/UDP/TCP header or SCTP chunk 1" "$TMPD/out"

printf 'limits:\n  max_message: 512\n' >"$TMPD/small.yaml"
expect_exit 0 "max_message 512" "$FS38" inspect --config "$TMPD/small.yaml" --json --stats-json "$TMPD/s3.json" "$PCAP"
ok "the 1.2 kB message is oversized, at its second part" is \
    "$(jq -r 'select(.rule.id == "SIP-MAL-002") | "\(.evidence.details.anomalies) \(.evidence.sample["x-capture"].frame)"' "$TMPD/out")" \
    "LIMIT_MESSAGE_SIZE 19"
ok "its second and third parts not read" is "$(stat "$TMPD/s3.json" .capture.sctp_dropped)" 3

# a message whose last part never comes (at 0 s), then 40 split in two parts half a second apart
# on the same association, one a second, for 40 s: each is read; only the unfinished one is given
# up, frag_timeout_s (30) after it came. Before, the whole association's parts were given up 30 s
# after the unfinished one came, with them the first part of the message under way: 39 of 40 read
python3 - "$TMPD/timeout.pcap" <<'PY'
import struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth
def opt(n):
    return (b'OPTIONS sip:100@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/SCTP 10.2.0.20:5060;branch=z9hG4bK-o%d\r\n'
            b'Max-Forwards: 70\r\nFrom: <sip:100@192.0.2.200>;tag=o%d\r\nTo: <sip:100@192.0.2.200>\r\n'
            b'Call-ID: sctp-o%d\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n' % (n, n, n))
def part(payload, flags, tsn, ssn):
    c = struct.pack('!BBHIHHI', 0, flags, 16 + len(payload), tsn, 0, ssn, 0) + payload
    sctp = struct.pack('!HHII', 5060, 5060, 0x0a0b0c0d, 0) + c + b'\0' * (-len(c) % 4)
    return eth(ip4('10.2.0.20', '192.0.2.200', 132, sctp))
frames = [(0.0, part(opt(0)[:100], 2, 1, 0))]
for k in range(1, 41):
    m = opt(k)
    frames += [(k - 0.5, part(m[:100], 2, 2 * k, k)), (k, part(m[100:], 1, 2 * k + 1, k))]
out = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
for t, f in frames:
    out += struct.pack('<IIII', 1700000200 + int(t), int(t % 1 * 1e6), len(f), len(f)) + f
open(sys.argv[1], 'wb').write(out)
PY
expect_exit 0 "an unfinished message, then 40 s of split ones" "$FS38" inspect --json --stats-json "$TMPD/t.json" "$TMPD/timeout.pcap"
ok "...all 40 read, only the unfinished part given up" is \
    "$(jq -r '"\(.transports.sctp) \(.capture.sctp_reassembled) \(.capture.sctp_dropped)"' "$TMPD/t.json")" "40 40 1"
ok "...tshark reads the 40 too" is "$(tshark -r "$TMPD/timeout.pcap" -Y sip.Call-ID 2>/dev/null | wc -l)" 40

# 100 associations of one client each sending a message in four DATA chunks,
# interleaved (all first parts, then all second ...): all read with one
# worker and with two (a worker's SCTP reassembly is bounded by its share of
# the fragment limits: 64 directions once left it none of the 100)
python3 - "$TMPD/many.pcap" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4
def opt(n):
    return (b'OPTIONS sip:100@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/SCTP 10.2.0.30:%d;branch=z9hG4bK-m%d\r\n'
            b'Max-Forwards: 70\r\nFrom: <sip:100@192.0.2.200>;tag=m%d\r\nTo: <sip:100@192.0.2.200>\r\n'
            b'Call-ID: sctp-m%d\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 2400\r\n\r\n'
            % (40000 + n, n, n, n) + b'x' * 2400)
frames = []
for c in range(4):
    for a in range(100):
        m = opt(a)
        step = -(-len(m) // 4)
        flags = (2 if c == 0 else 0) | (1 if c == 3 else 0)
        body = m[c * step:(c + 1) * step]
        ch = struct.pack('!BBHIHHI', 0, flags, 16 + len(body), 100 + c, 0, 0, 0) + body
        sctp = struct.pack('!HHII', 40000 + a, 5060, 0x1000 + a, 0) + ch + b'\0' * (-len(ch) % 4)
        frames.append(eth(ip4('10.2.0.30', '192.0.2.200', 132, sctp)))
out = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
for i, f in enumerate(frames):
    out += struct.pack('<IIII', 1700000300, i * 1000, len(f), len(f)) + f
open(sys.argv[1], 'wb').write(out)
PY
for w in 1 2; do
    expect_exit 0 "100 associations' split messages, interleaved, --workers $w" \
        "$FS38" inspect --workers $w --json --stats-json "$TMPD/many$w.json" "$TMPD/many.pcap"
    ok "--workers $w: all 100 read, none given up" is \
        "$(jq -r '"\(.capture.sctp_reassembled) \(.capture.sctp_dropped)"' "$TMPD/many$w.json")" "100 0"
done

# max_message 512 and messages of 1.2 kB whose first part alone is longer (800 bytes, as a
# 1,452-byte part is over a smaller limit): read cut, oversized (SIP-MAL-002), the rest skipped,
# as when the limit is passed at a later part. In between, a message whose last part comes after
# the long one's parts is read. Before, the long first part was dropped with no event, and
# with it every other part its direction held: 0 of 3 read
python3 - "$TMPD/bigfirst.pcap" <<'PY'
import struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth
def opt(n, pad):
    return (b'OPTIONS sip:100@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/SCTP 10.2.0.30:5060;branch=z9hG4bK-b%d\r\n'
            b'Max-Forwards: 70\r\nFrom: <sip:100@192.0.2.200>;tag=b%d\r\nTo: <sip:100@192.0.2.200>\r\n'
            b'Call-ID: sctp-b%d\r\nCSeq: 1 OPTIONS\r\nX-Pad: %s\r\nUser-Agent: friendly-scanner\r\n'
            b'Content-Length: 0\r\n\r\n' % (n, n, n, pad))
def part(payload, flags, tsn, ssn):
    c = struct.pack('!BBHIHHI', 0, flags, 16 + len(payload), tsn, 0, ssn, 0) + payload
    sctp = struct.pack('!HHII', 5060, 5060, 0x0a0b0c0e, 0) + c + b'\0' * (-len(c) % 4)
    return eth(ip4('10.2.0.30', '192.0.2.200', 132, sctp))
small, big, big2 = opt(1, b'x'), opt(2, b'y' * 1000), opt(3, b'z' * 1000)
frames = [part(small[:100], 2, 1, 1), part(big[:800], 2, 3, 2), part(big[800:], 1, 4, 2), part(small[100:], 1, 2, 1),
          part(big2[:800], 2, 5, 3), part(big2[800:], 1, 6, 3)]
out = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
for i, f in enumerate(frames):
    out += struct.pack('<IIII', 1700000300, i * 1000, len(f), len(f)) + f
open(sys.argv[1], 'wb').write(out)
PY
expect_exit 0 "max_message 512, first parts of 800 bytes" "$FS38" inspect --config "$TMPD/small.yaml" --json --stats-json "$TMPD/b.json" "$TMPD/bigfirst.pcap"
ok "...all 3 read, the 2 long ones oversized, their last parts skipped" is \
    "$(jq -r '"\(.transports.sctp) \(.anomalies.LIMIT_MESSAGE_SIZE) \(.capture.sctp_reassembled) \(.capture.sctp_dropped)"' "$TMPD/b.json")" "3 2 1 2"
ok "...tshark reads the 3" is "$(tshark -r "$TMPD/bigfirst.pcap" -Y sip.Call-ID 2>/dev/null | wc -l)" 3

finish test_sctp
