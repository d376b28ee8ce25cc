#!/usr/bin/env bash
# test_links.sh -- link types with no Ethernet header (tests/data/capture/
# links-*.pcap, made by make_tunnels.py): PPP (9), PPP serial with PPP and
# Cisco HDLC framing (50), Cisco HDLC (104, an MPLS label in one), Linux NFLOG
# (239), and NFLOG from a big-endian host (libpcap turns its TLV headers to
# our order). Each OPTIONS (Call-ID link-N) comes with a scanner's User-Agent
# from its own source, so each message read is a SIP-SCAN-001 incident; the
# messages and their frames are checked against tshark -Y sip on each file,
# and with --workers 2 (the shard peek reads the same headers). LCP, SLARP
# and an NFLOG record with no payload are not IP.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_links.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

seen() { jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.evidence.sample["x-capture"].frame) \(.evidence.sample.call_id)"' "$1" | sort; }
for name in ppp:2:1 pppserial:2:1 chdlc:3:1 nflog:2:1 nflog-be:1:0; do
    IFS=: read -r kind msgs notip <<<"$name"
    pcap=tests/data/capture/links-$kind.pcap
    expect_exit 0 "inspect links-$kind.pcap" "$FS38" inspect --json --stats-json "$TMPD/s.json" "$pcap"
    seen "$TMPD/out" >"$TMPD/ours"
    tshark -r "$pcap" -Y sip -T fields -e frame.number -e sip.Call-ID 2>/dev/null | tr '\t' ' ' | sort >"$TMPD/tshark"
    ok "$kind: $msgs messages" is "$(wc -l <"$TMPD/ours")" "$msgs"
    ok "$kind: the messages and frames tshark reads" is "$(cat "$TMPD/ours")" "$(cat "$TMPD/tshark")"
    ok "$kind: $notip frame not IP" is "$(jq -r .capture.not_ip "$TMPD/s.json")" "$notip"
    expect_exit 0 "inspect --workers 2 links-$kind.pcap" "$FS38" inspect --workers 2 --json "$pcap"
    ok "$kind: --workers 2 the same" is "$(seen "$TMPD/out")" "$(cat "$TMPD/ours")"
done
expect_exit 0 "the MPLS label in Cisco HDLC" "$FS38" inspect --json tests/data/capture/links-chdlc.pcap
ok "x-encap names the label" is \
    "$(jq -c 'select(.evidence.sample.call_id == "link-7") | .evidence.sample["x-encap"]' "$TMPD/out")" '[{"kind":"mpls","id":100}]'

# NFLOG in a pcapng libpcap refuses (an Ethernet and an NFLOG interface),
# written big-endian: fs38's own reader turns the TLV headers to our byte
# order as libpcap does, so both messages are read, as tshark reads them
python3 - "$TMPD/nflog-be-mixed.pcapng" <<'PY'
import struct, sys
def blk(t, body):
    body += b'\0' * (-len(body) % 4)
    return struct.pack('>II', t, 12 + len(body)) + body + struct.pack('>I', 12 + len(body))
def ip4(src, n):
    m = ("OPTIONS sip:100@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK-nb%d\r\n"
         "From: <sip:100@192.0.2.200>;tag=nb%d\r\nTo: <sip:100@192.0.2.200>\r\nCall-ID: link-be-%d\r\n"
         "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"
         % (src, n, n, n)).encode()
    u = struct.pack('!HHHH', 5060, 5060, 8 + len(m), 0) + m
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(u), 1, 0, 64, 17, 0, bytes(map(int, src.split('.'))),
                       bytes([192, 0, 2, 200])) + u
tlv = lambda ty, v: struct.pack('>HH', 4 + len(v), ty) + v + b'\0' * (-len(v) % 4)
nflog = bytes([2, 0, 0, 5]) + tlv(1, b'\x08\x00\x01\x00') + tlv(10, b'sip\0') + tlv(9, ip4('10.3.1.2', 2))
eth = b'\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00' + ip4('10.3.1.1', 1)
epb = lambda i, d: blk(6, struct.pack('>IIIII', i, 395812, 1700000000 & 0xffffffff, len(d), len(d)) + d)
open(sys.argv[1], 'wb').write(blk(0x0A0D0D0A, struct.pack('>IHHq', 0x1A2B3C4D, 1, 0, -1)) +
    blk(1, struct.pack('>HHI', 1, 0, 262144)) + blk(1, struct.pack('>HHI', 239, 0, 262144)) + epb(0, eth) + epb(1, nflog))
PY
expect_exit 0 "inspect a big-endian pcapng with an NFLOG interface" "$FS38" inspect --json "$TMPD/nflog-be-mixed.pcapng"
seen "$TMPD/out" >"$TMPD/ours"
tshark -r "$TMPD/nflog-be-mixed.pcapng" -Y sip -T fields -e frame.number -e sip.Call-ID 2>/dev/null | tr '\t' ' ' | sort >"$TMPD/tshark"
ok "big-endian NFLOG in fs38's pcapng reader: both messages, as tshark" is "$(cat "$TMPD/ours")" "$(cat "$TMPD/tshark")"
ok "... which are two" is "$(wc -l <"$TMPD/ours")" 2

finish test_links
