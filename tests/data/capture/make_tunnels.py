# Generates tests/data/capture/tunnels.pcap, esp.pcap, sctp.pcap, ws*.pcap and links-*.pcap (kept in the repo;
# regenerate with this script): one SIP OPTIONS per encapsulation fs38 opens, each from its own
# inner source address with its own Call-ID (tunnel-<n>), a User-Agent that
# SIP-SCAN-001 names, so every message that is decoded shows as an incident of
# its inner source. tests/cli/test_tunnels.sh checks them against tshark.
import struct
from pcapgen import ip4, ip6, udp, tcp, eth, write_pcap, csum, udp_c, tcp_c

def options(n, src, body=b''):
    return (b'OPTIONS sip:100@192.0.2.200 SIP/2.0\r\n'
            b'Via: SIP/2.0/UDP ' + src.encode() + b':5060;branch=z9hG4bK-t' + str(n).encode() + b'\r\n'
            b'Max-Forwards: 70\r\nFrom: <sip:100@192.0.2.200>;tag=t' + str(n).encode() + b'\r\n'
            b'To: <sip:100@192.0.2.200>\r\nCall-ID: tunnel-' + str(n).encode() + b'\r\nCSeq: 1 OPTIONS\r\n'
            b'User-Agent: friendly-scanner\r\nContent-Length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)

SRV, SRV6 = '192.0.2.200', '2001:db8:ff::200'
O1, O2 = '198.18.0.1', '198.18.0.2'  # tunnel endpoints
def sip4(n, src): return ip4(src, SRV, 17, udp(5060, 5060, options(n, src)))
def sip6(n, src): return ip6(src, SRV6, 17, udp(5060, 5060, options(n, src)))
def mpls(labels, payload):
    return b''.join(struct.pack('!I', (l << 12) | (i == len(labels) - 1) << 8 | 64) for i, l in enumerate(labels)) + payload
def pppoe(ppp_proto, payload): return struct.pack('!BBHHH', 0x11, 0, 0x1234, 2 + len(payload), ppp_proto) + payload
def gre(proto, payload, key=None, seq=None):
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    b = struct.pack('!HH', flags, proto)
    if key is not None: b += struct.pack('!I', key)
    if seq is not None: b += struct.pack('!I', seq)
    return b + payload
def erspan2(frame): return struct.pack('!II', 0x10000000 | 7, 0) + frame  # ver 1, session 7
def erspan3(frame):  # ver 2, timestamp, O bit set: an 8-byte platform subheader follows
    return struct.pack('!III', 0x20000000 | 9, 12345, 1) + b'\0' * 8 + frame
def vxlan(frame): return struct.pack('!BBBBI', 0x08, 0, 0, 0, 4242 << 8) + frame
def geneve(frame):  # 8 bytes of options (length field 2)
    return struct.pack('!BBHI', 2, 0, 0x6558, 77 << 8) + struct.pack('!HBB', 0x0102, 0x80, 1) + b'\0' * 4 + frame

def gtpu(ip, pdu_session=False):
    if pdu_session:  # E flag: sequence, N-PDU, next type 0x85, one 4-byte extension (QFI 9)
        body = struct.pack('!HBB', 0, 0, 0x85) + bytes([1, 0x10, 0x09, 0]) + ip
        return struct.pack('!BBHI', 0x34, 0xff, len(body), 0x1000 + 22) + body
    return struct.pack('!BBHI', 0x30, 0xff, len(ip), 0x1000 + 21) + ip

frames = [
    eth(mpls([100, 200], sip4(1, '10.1.0.1')), 0x8847),
    eth(mpls([300], b'\0\0\0\0' + eth(sip4(2, '10.1.0.2'))), 0x8847),          # Ethernet pseudowire, control word
    eth(mpls([301], eth(sip4(19, '10.1.0.19'))), 0x8847),                     # ... and without one
    eth(pppoe(0x0021, sip4(3, '10.1.0.3')), 0x8864),
    eth(pppoe(0x0057, sip6(4, '2001:db8:4::1')), 0x8864),
    eth(ip4(O1, O2, 47, gre(0x0800, sip4(5, '10.1.0.5'), key=5))),
    eth(ip4(O1, O2, 47, gre(0x6558, eth(sip4(6, '10.1.0.6'), tags=(0x8100,))))),
    eth(ip4(O1, O2, 47, gre(0x88be, erspan2(eth(sip4(7, '10.1.0.7'))), seq=1))),
    eth(ip4(O1, O2, 47, gre(0x22eb, erspan3(eth(sip4(8, '10.1.0.8')))))),
    eth(ip4(O1, O2, 4, sip4(9, '10.1.0.9'))),
    eth(ip4(O1, O2, 41, sip6(10, '2001:db8:10::1'))),
    eth(ip4(O1, O2, 17, udp(40000, 4789, vxlan(eth(sip4(11, '10.1.0.11')))))),
    eth(ip6('2001:db8:ee::1', '2001:db8:ee::2', 17, udp(40000, 6081, geneve(eth(sip4(12, '10.1.0.12'))))), 0x86dd),
    # GTP-U (eNodeB to SGW on S1-U): a UE's IPv4; and (gNB to UPF on N3) with
    # the PDU session container extension header, a UE's IPv6
    eth(ip4('198.18.2.1', '198.18.2.2', 17, udp(2152, 2152, gtpu(sip4(21, '10.45.0.21'))))),
    eth(ip4('198.18.2.1', '198.18.2.2', 17, udp(2152, 2152, gtpu(sip6(22, '2001:db8:45::22'), pdu_session=True)))),
    # two deep: VXLAN, then GRE inside it
    eth(ip4(O1, O2, 17, udp(40000, 4789, vxlan(eth(ip4('198.18.1.1', '198.18.1.2', 47,
                                                        gre(0x0800, sip4(13, '10.1.0.13')))))))),
]
# SIP over TCP inside GRE: handshake, then the message in two segments
t14 = options(14, '10.1.0.14').replace(b'SIP/2.0/UDP', b'SIP/2.0/TCP')
def gre_tcp(seq, flags, data): return eth(ip4(O1, O2, 47, gre(0x0800, ip4('10.1.0.14', SRV, 6, tcp(41000, 5060, seq, flags, data)))))
frames += [gre_tcp(1000, 0x02, b''), gre_tcp(1001, 0x18, t14[:50]), gre_tcp(1001 + 50, 0x18, t14[50:])]
# a datagram fragmented inside the tunnel (inner IP fragments): reassembled
u16 = udp(5060, 5060, options(16, '10.1.0.16', b'x' * 1200 + b'\r\n'))
for off, part, more in ((0, u16[:800], 0x2000), (100, u16[800:], 0)):
    frames.append(eth(ip4(O1, O2, 47, gre(0x0800, ip4('10.1.0.16', SRV, 17, part, 160, more | off)))))
# fragments in fragments: a datagram fragmented before it entered a GRE
# tunnel whose MTU is smaller again, so each inner fragment is split over two
# outer ones (on a VLAN): reassembled inside the reassembled outer datagrams
u23 = udp(5060, 5060, options(23, '10.1.0.23', b'y' * 1200 + b'\r\n'))
for ioff, ipart, imore in ((0, u23[:800], 0x2000), (100, u23[800:], 0)):
    g = gre(0x0800, ip4('10.1.0.23', SRV, 17, ipart, 230, imore | ioff))
    cut = (len(g) // 2) & ~7
    ident = 231 + ioff
    frames.append(eth(ip4(O1, O2, 47, g[:cut], ident, 0x2000), tags=(0x8100,)))
    frames.append(eth(ip4(O1, O2, 47, g[cut:], ident, cut // 8), tags=(0x8100,)))
# L2TPv2 on 1701 (LAC to LNS): a data message with its length, PPP with
# address/control and a two-byte protocol (IPv4); one with Ns/Nr and an
# offset, PPP compressed (no address/control, one-byte protocol: IPv6)
def l2tp(payload, tunnel, session, seq=False, offset=None):
    flags = 0x0002 | (0x0800 if seq else 0) | (0x0200 if offset is not None else 0)
    b = struct.pack('!HHH', flags, tunnel, session)
    if seq: b += struct.pack('!HH', 1, 0)
    if offset is not None: b += struct.pack('!H', offset) + b'\0' * offset
    return b + payload
LAC, LNS = '198.18.4.1', '198.18.4.2'
frames.append(eth(ip4(LAC, LNS, 17, udp(1701, 1701, l2tp(b'\xff\x03\x00\x21' + sip4(24, '10.1.0.24'), 7, 9)))))
frames.append(eth(ip4(LAC, LNS, 17, udp(1701, 1701, l2tp(b'\x57' + sip6(25, '2001:db8:25::1'), 7, 10, seq=True, offset=2)))))
# five IP-in-IP layers: one more than the decoder opens (CAP_MAX_ENCAP 4), refused
deep = sip4(15, '10.1.0.15')
for _ in range(5): deep = ip4(O1, O2, 4, deep)
frames.append(eth(deep))
# VXLAN with a reserved flag set (ignored on receipt, RFC 7348)
frames.append(eth(ip4(O1, O2, 17, udp(40000, 4789, b'\x09\0\0\0\0\0\0\0' + eth(sip4(17, '10.1.0.17'))))))
# not a tunnel: SIP itself sent to VXLAN's port (found by the start-line heuristic)
frames.append(eth(ip4('10.1.0.20', SRV, 17, udp(5060, 4789, options(20, '10.1.0.20')))))
# PPTP's enhanced GRE (version 1, RFC 2637): key = payload length and call id,
# sequence and acknowledgement numbers, then PPP
pptp_ppp = b'\xff\x03\x00\x21' + sip4(18, '10.1.0.18')
frames.append(eth(ip4(O1, O2, 47, struct.pack('!HHHHII', 0x3081, 0x880b, len(pptp_ppp), 0x1234, 1, 0) + pptp_ppp)))

write_pcap('tunnels.pcap', frames)

# esp.pcap: SIP in ESP with NULL encryption (RFC 2410), as VoLTE's Gm runs
# it between UE and P-CSCF (3GPP TS 33.203, integrity only), and ESP that is
# not read. tests/cli/test_esp.sh checks it against tshark's NULL heuristic.
import socket, random
def ip4c(src, dst, proto, payload):  # with its header checksum
    h = ip4(src, dst, proto, payload)[:20]
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload
def esp(spi, seq, next_header, payload, icv_len=12):
    pad = (-(len(payload) + 2)) % 4
    return (struct.pack('!II', spi, seq) + payload + bytes(range(1, pad + 1)) + bytes([pad, next_header]) +
            bytes((spi + i * 7) & 0xff for i in range(icv_len)))
UE, PCSCF, UE6, PCSCF6 = '10.46.0.1', '10.0.0.5', '2001:db8:46::1', '2001:db8:5::5'
rnd = random.Random(38)
UE32 = '10.46.0.32'
t32 = options(32, UE32).replace(b'SIP/2.0/UDP', b'SIP/2.0/TCP')
esp_frames = [
    # transport mode, HMAC-SHA-1-96 (12-byte ICV): UDP with its checksum
    eth(ip4(UE, PCSCF, 50, esp(0x1001, 1, 17, udp_c(UE, PCSCF, 5060, 5060, options(31, UE))))),
    # HMAC-SHA-256-128 (16 bytes): TCP
    eth(ip4(UE32, PCSCF, 50, esp(0x1002, 1, 6, tcp_c(UE32, PCSCF, 41000, 5060, 1, 0x18, t32), 16))),
    # tunnel mode: an inner IPv4 packet
    eth(ip4('198.18.3.1', '198.18.3.2', 50, esp(0x1003, 1, 4, ip4c('10.46.0.33', PCSCF, 17, udp(5060, 5060, options(33, '10.46.0.33')))))),
    # IPv6 transport mode (the UDP checksum is mandatory)
    eth(ip6(UE6, PCSCF6, 50, esp(0x1004, 1, 17, udp_c(UE6, PCSCF6, 5060, 5060, options(34, UE6)))), 0x86dd),
    # UDP-encapsulated (NAT-T, RFC 3948), inner UDP checksum 0 (IPv4)
    eth(ip4('10.46.0.35', PCSCF, 17, udp(4500, 4500, esp(0x1005, 1, 17, udp_c('10.46.0.35', PCSCF, 5060, 5060, options(35, '10.46.0.35'), zero=True))))),
    # not read: encrypted ESP; NULL ESP whose UDP checksum is wrong; IKE on 4500 (non-ESP marker)
    eth(ip4(UE, PCSCF, 50, struct.pack('!II', 0x2001, 1) + bytes(rnd.randrange(256) for _ in range(400)))),
    eth(ip4(UE, PCSCF, 50, esp(0x1006, 1, 17, (lambda u: u[:6] + bytes([u[6] ^ 1]) + u[7:])(udp_c(UE, PCSCF, 5060, 5060, options(36, UE)))))),
    eth(ip4('10.46.0.37', PCSCF, 17, udp(4500, 4500, b'\0\0\0\0' + options(37, '10.46.0.37')))),
    # not ESP on 4500: a NAT keepalive; SIP to a UA whose SIP port is 4500 (read as SIP)
    eth(ip4('10.46.0.37', PCSCF, 17, udp(4500, 4500, b'\xff'))),
    eth(ip4(PCSCF, '10.46.0.38', 17, udp(5060, 4500, options(38, PCSCF)))),
]
write_pcap('esp.pcap', esp_frames)

# sctp.pcap: SIP over SCTP (RFC 4168), one OPTIONS per user message (Call-ID
# sctp-<n>): a DATA chunk alone; two bundled after a SACK; one on a port that
# is not a SIP port (found by the start-line heuristic); split user messages
# (RFC 9260 6.9: consecutive TSNs, B on the first, E on the last, one stream
# sequence number): in two packets; in three, last first, with the last
# retransmitted; both parts bundled in one packet; in two on a port that is
# not a SIP port; a first part never followed (given up at the end); Diameter
# on 3868, whole (not SIP) and split (its first part does not start like SIP:
# not held); a chunk whose length runs past the packet (bad_ip); a message
# of 1.2 kB in three parts (over a limits.max_message of 512: its first part
# is read as an oversized message).
def sctp(sp, dp, chunks):
    return struct.pack('!HHII', sp, dp, 0x01020304, 0) + b''.join(c + b'\0' * (-len(c) % 4) for c in chunks)
def data_chunk(payload, flags=3, tsn=1, ppid=0, ssn=None):
    return struct.pack('!BBHIHHI', 0, flags, 16 + len(payload), tsn, 0, tsn if ssn is None else ssn, ppid) + payload
def sctp_opt(n, src): return options(n, '[' + src + ']' if ':' in src else src).replace(b'SIP/2.0/UDP', b'SIP/2.0/SCTP').replace(b'tunnel-', b'sctp-')
sack = struct.pack('!BBHIIHH', 3, 0, 16, 1, 65535, 0, 0)
split = sctp_opt(5, '10.2.0.5')
three = sctp_opt(6, '10.2.0.8')
bundled = sctp_opt(7, '10.2.0.9')
other = sctp_opt(8, '2001:db8:2::a')
unfinished = sctp_opt(9, '10.2.0.11')
big = sctp_opt(10, '10.2.0.13').replace(b'\r\n\r\n', b'\r\nX-Pad: ' + b'a' * 900 + b'\r\n\r\n', 1)
diameter = b'\x01\0\x01\x00' + bytes(range(252))
sframes = [
    eth(ip4('10.2.0.1', SRV, 132, sctp(5060, 5060, [data_chunk(sctp_opt(1, '10.2.0.1'))]))),
    eth(ip4('10.2.0.2', SRV, 132, sctp(5060, 5060, [sack, data_chunk(sctp_opt(2, '10.2.0.2'), tsn=2),
                                                      data_chunk(sctp_opt(3, '10.2.0.2'), tsn=3)]))),
    eth(ip6('2001:db8:2::4', SRV6, 132, sctp(40000, 7000, [data_chunk(sctp_opt(4, '2001:db8:2::4'))])), 0x86dd),
    eth(ip4('10.2.0.5', SRV, 132, sctp(5060, 5060, [data_chunk(split[:60], flags=2, tsn=5)]))),
    eth(ip4('10.2.0.5', SRV, 132, sctp(5060, 5060, [data_chunk(split[60:], flags=1, tsn=6, ssn=5)]))),
    eth(ip4('10.2.0.6', SRV, 132, sctp(3868, 3868, [data_chunk(b'\x01\0\0\x14' + b'\0' * 16, ppid=46)]))),
    eth(ip4('10.2.0.7', SRV, 132, sctp(5060, 5060, [struct.pack('!BBHI', 0, 3, 400, 7) + b'\0' * 12]))),
    eth(ip4('10.2.0.8', SRV, 132, sctp(5060, 5060, [data_chunk(three[120:], flags=1, tsn=12, ssn=10)]))),
    eth(ip4('10.2.0.8', SRV, 132, sctp(5060, 5060, [data_chunk(three[:50], flags=2, tsn=10, ssn=10)]))),
    eth(ip4('10.2.0.8', SRV, 132, sctp(5060, 5060, [data_chunk(three[120:], flags=1, tsn=12, ssn=10)]))),
    eth(ip4('10.2.0.8', SRV, 132, sctp(5060, 5060, [data_chunk(three[50:120], flags=0, tsn=11, ssn=10)]))),
    eth(ip4('10.2.0.9', SRV, 132, sctp(5060, 5060, [data_chunk(bundled[:100], flags=2, tsn=20, ssn=20),
                                                      data_chunk(bundled[100:], flags=1, tsn=21, ssn=20)]))),
    eth(ip6('2001:db8:2::a', SRV6, 132, sctp(40002, 7000, [data_chunk(other[:80], flags=2, tsn=30, ssn=30)])), 0x86dd),
    eth(ip6('2001:db8:2::a', SRV6, 132, sctp(40002, 7000, [data_chunk(other[80:], flags=1, tsn=31, ssn=30)])), 0x86dd),
    eth(ip4('10.2.0.11', SRV, 132, sctp(5060, 5060, [data_chunk(unfinished[:90], flags=2, tsn=40, ssn=40)]))),
    eth(ip4('10.2.0.12', SRV, 132, sctp(3868, 3868, [data_chunk(diameter[:128], flags=2, tsn=50, ppid=46)]))),
    eth(ip4('10.2.0.12', SRV, 132, sctp(3868, 3868, [data_chunk(diameter[128:], flags=1, tsn=51, ssn=50, ppid=46)]))),
    eth(ip4('10.2.0.13', SRV, 132, sctp(5060, 5060, [data_chunk(big[:400], flags=2, tsn=60, ssn=60)]))),
    eth(ip4('10.2.0.13', SRV, 132, sctp(5060, 5060, [data_chunk(big[400:800], flags=0, tsn=61, ssn=60)]))),
    eth(ip4('10.2.0.13', SRV, 132, sctp(5060, 5060, [data_chunk(big[800:], flags=1, tsn=62, ssn=60)]))),
]
write_pcap('sctp.pcap', sframes, t0=1700000100)

# links-*.pcap: link types with no Ethernet header, one OPTIONS per frame
# (Call-ID link-<n>); what is not a packet (LCP, SLARP) is not_ip.
def link_opt(n, src): return options(n, '[' + src + ']' if ':' in src else src).replace(b'tunnel-', b'link-')
def ip4_opt(n, src): return ip4(src, SRV, 17, udp(5060, 5060, link_opt(n, src)))
def ip6_opt(n, src): return ip6(src, SRV6, 17, udp(5060, 5060, link_opt(n, src)))
lcp = b'\xff\x03\xc0\x21' + bytes([1, 1, 0, 4])
# PPP (9): address/control and protocol, then compressed away (IPv6, 0x57 in one byte)
write_pcap('links-ppp.pcap', [b'\xff\x03\x00\x21' + ip4_opt(1, '10.3.0.1'), b'\x57' + ip6_opt(2, '2001:db8:3::2'), lcp],
           t0=1700000200, linktype=9)
# PPP serial (50): PPP in HDLC framing, and Cisco HDLC on the same link; a SLARP keepalive
slarp = b'\x8f\x00\x80\x35' + bytes(18)
write_pcap('links-pppserial.pcap', [b'\xff\x03\x00\x21' + ip4_opt(3, '10.3.0.3'),
                                    b'\x0f\x00\x08\x00' + ip4_opt(4, '10.3.0.4'), slarp], t0=1700000210, linktype=50)
# Cisco HDLC (104): IPv4, IPv6, an MPLS label then IPv4
write_pcap('links-chdlc.pcap', [b'\x0f\x00\x08\x00' + ip4_opt(5, '10.3.0.5'), b'\x0f\x00\x86\xdd' + ip6_opt(6, '2001:db8:3::6'),
                                b'\x0f\x00\x88\x47' + struct.pack('!I', 100 << 12 | 1 << 8 | 64) + ip4_opt(7, '10.3.0.7'), slarp],
           t0=1700000220, linktype=104)
# NFLOG (239): family, version, resource id; TLVs (length and type in the
# capturing host's order, padded to 4): a prefix, the payload
def nflog(family, packet, order='<'):
    def tlv(t, v): return struct.pack(order + 'HH', 4 + len(v), t) + v + b'\0' * (-len(v) % 4)
    return struct.pack('!BBH', family, 0, 5) + tlv(10, b'sip-in\0') + tlv(9, packet)
write_pcap('links-nflog.pcap', [nflog(2, ip4_opt(8, '10.3.0.8')), nflog(10, ip6_opt(9, '2001:db8:3::9')),
                                struct.pack('!BBH', 2, 0, 5) + struct.pack('<HH', 11, 10) + b'no packet\0'],
           t0=1700000230, linktype=239)
# the same from a big-endian host: libpcap turns the TLV headers to the reader's order
write_pcap('links-nflog-be.pcap', [nflog(2, ip4_opt(10, '10.3.0.10'), '>')], t0=1700000240, linktype=239, order='>')

# ws.pcap: SIP over WebSocket (RFC 7118) on TCP 8080 and 80, one connection
# each, from the handshake on: client frames masked, server frames not. On
# 8080 from 10.4.0.1: OPTIONS ws-1 (the server answers 200), ws-2 and ws-3
# in one segment, ws-4 split over two segments, ws-5 fragmented in two
# frames with a ping between them, ws-6 in a binary frame, then a close. On
# 80 from 10.4.0.2: ws-7. On 8081 from 10.4.0.3 a WebSocket of another
# subprotocol ("chat") carrying SIP-looking text: not SIP over WebSocket.
def ws_frame(payload, opcode=1, fin=True, key=None, rsv1=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    hdr = bytes([b0, (0x80 if key else 0) | (n if n < 126 else 126)]) + (struct.pack('!H', n) if n >= 126 else b'')
    if key:
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        hdr += key
    return hdr + payload
def ws_opt(n, src):
    return options(n, src).replace(b'SIP/2.0/UDP', b'SIP/2.0/WS').replace(b'tunnel-', b'ws-')
def ws_ok(n, src):
    m = ws_opt(n, src)
    return b'SIP/2.0 200 OK\r\n' + m[m.index(b'\r\n') + 2:]
def ws_conn(cli, port, proto, messages, t_frames, ext=b''):
    """A TCP connection cli:4xxxx -> SRV:port: handshake naming proto (and
    the extension header lines ext, offered and agreed), then (direction,
    bytes) segments; returns the frames."""
    cp = 40000 + port % 1000
    out, seq = [], {'c': 1000, 's': 5000}
    def seg(d, flags, data=b''):
        src, dst, sp, dp = (cli, SRV, cp, port) if d == 'c' else (SRV, cli, port, cp)
        ack_side = 's' if d == 'c' else 'c'
        f = eth(ip4(src, dst, 6, tcp(sp, dp, seq[d], flags, data)))
        seq[d] += len(data) + (1 if flags & 0x02 else 0)
        out.append(f)
    seg('c', 0x02); seg('s', 0x12); seg('c', 0x10)
    seg('c', 0x18, b'GET /ws HTTP/1.1\r\nHost: 192.0.2.200\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                   b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ' + proto + b'\r\n'
                   b'Sec-WebSocket-Version: 13\r\n' + ext + b'\r\n')
    seg('s', 0x18, b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                   b'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: ' + proto + b'\r\n'
                   + ext + b'\r\n')
    for d, data in messages: seg(d, 0x18, data)
    return out
K = b'\x37\xfa\x21\x3d'
m2, m3, m4, m5 = (ws_opt(i, '10.4.0.1') for i in (2, 3, 4, 5))
f4 = ws_frame(m4, key=K)
wsf = ws_conn('10.4.0.1', 8080, b'sip', [
    ('c', ws_frame(ws_opt(1, '10.4.0.1'), key=K)), ('s', ws_frame(ws_ok(1, '10.4.0.1'))),
    ('c', ws_frame(m2, key=K) + ws_frame(m3, key=K)),
    ('c', f4[:70]), ('c', f4[70:]),
    ('c', ws_frame(m5[:90], fin=False, key=K) + ws_frame(b'hi', opcode=9, key=K) + ws_frame(m5[90:], opcode=0, key=K)),
    ('c', ws_frame(ws_opt(6, '10.4.0.1'), opcode=2, key=K)),
    ('c', ws_frame(struct.pack('!H', 1000), opcode=8, key=K)), ('s', ws_frame(struct.pack('!H', 1000), opcode=8))], None)
wsf += ws_conn('10.4.0.2', 80, b'sip', [('c', ws_frame(ws_opt(7, '10.4.0.2'), key=K))], None)
wsf += ws_conn('10.4.0.3', 8081, b'chat', [('c', ws_frame(ws_opt(8, '10.4.0.3'), key=K))], None)
write_pcap('ws.pcap', wsf, t0=1700000300)

# ws-deflate.pcap: SIP over WebSocket with permessage-deflate (RFC 7692; browsers
# offer it). On 8080 from 10.4.0.4, context takeover (the default): ws-11 to
# ws-14 compressed by one compressor each way (later messages refer back to
# earlier ones), the server's 200 to ws-11 compressed, ws-15 sent uncompressed
# (RSV1 clear: allowed), ws-16 compressed in two frames (RSV1 on the first).
# On 8081 from 10.4.0.5, client_no_context_takeover: ws-21, an empty message,
# ws-22, each from a fresh compressor.
import zlib
def deflate_msg(comp, m):
    d = comp.compress(m) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert d.endswith(b'\x00\x00\xff\xff')
    return d[:-4]
PMD = b'Sec-WebSocket-Extensions: permessage-deflate\r\n'
cc, sc = zlib.compressobj(wbits=-15), zlib.compressobj(wbits=-15)
z = [deflate_msg(cc, ws_opt(i, '10.4.0.4')) for i in (11, 12, 13, 14)]
z16 = deflate_msg(cc, ws_opt(16, '10.4.0.4'))
wsd = ws_conn('10.4.0.4', 8080, b'sip', [
    ('c', ws_frame(z[0], key=K, rsv1=True)), ('s', ws_frame(deflate_msg(sc, ws_ok(11, '10.4.0.4')), rsv1=True)),
    ('c', ws_frame(z[1], key=K, rsv1=True) + ws_frame(z[2], key=K, rsv1=True)),
    ('c', ws_frame(z[3], key=K, rsv1=True)),
    ('c', ws_frame(ws_opt(15, '10.4.0.4'), key=K)),
    ('c', ws_frame(z16[:20], fin=False, key=K, rsv1=True) + ws_frame(z16[20:], opcode=0, key=K))], None, PMD)
wsd += ws_conn('10.4.0.5', 8081, b'sip', [
    ('c', ws_frame(deflate_msg(zlib.compressobj(wbits=-15), m), key=K, rsv1=True))
    for m in (ws_opt(21, '10.4.0.5'), b'', ws_opt(22, '10.4.0.5'))], None,
    b'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n')
# On 8082 from 10.4.0.6 (no context takeover either way): ws-31 with a 2 MB
# header that deflates to 2 kB (a decompression bomb: read cut at the
# message size limit, marked oversized), then ws-32.
bomb = ws_opt(31, '10.4.0.6').replace(b'User-Agent:', b'X-Pad: ' + b'a' * 2000000 + b'\r\nUser-Agent:')
wsd += ws_conn('10.4.0.6', 8082, b'sip', [
    ('c', ws_frame(deflate_msg(zlib.compressobj(wbits=-15), m), key=K, rsv1=True))
    for m in (bomb, ws_opt(32, '10.4.0.6'))], None,
    b'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n')
write_pcap('ws-deflate.pcap', wsd, t0=1700000400)
