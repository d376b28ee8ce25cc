#!/usr/bin/env python3
# make_seeds.py -- writes the structured seeds of the capture, pcapng, config,
# client, sctp and tcp harnesses into fuzz/corpus/NAME/gen_* (kept in the repository;
# run again after changing it: python3 fuzz/make_seeds.py).
#
# Each seed leads a harness to code random mutation rarely reaches from the
# hand-written seeds: every link type, 802.1Q/QinQ stacks, IPv6 extension
# headers, IPv4/IPv6 fragments out of order and overlapping, TCP streams with
# holds, gaps that time out, retransmissions, resync, closes from either
# side and reopening, HEP v3 with every chunk type (and each way to break
# it), pcapng files with every block type, byte order and timestamp option,
# the hub config's replication section, and pulled/shared event lines.
import os, socket, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')


def write(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'gen_' + name), 'wb') as f:
        f.write(data)


# ---- packets ---------------------------------------------------------------
def sip(first, body=b'', cid=b'seed@192.0.2.1', cl=None):
    method = first.split(b' ')[0] if not first.startswith(b'SIP/') else b'INVITE'
    return (first + b'\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n'
            b'From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n'
            b'Call-ID: ' + cid + b'\r\nCSeq: 1 ' + method + b'\r\nContent-Length: ' +
            (str(len(body)).encode() if cl is None else cl) + b'\r\n\r\n' + body)


INV = sip(b'INVITE sip:bob@example.com SIP/2.0', b'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n')
OK = sip(b'SIP/2.0 200 OK')
OPT = sip(b'OPTIONS sip:ping@example.com SIP/2.0')
BIG = sip(b'MESSAGE sip:bob@example.com SIP/2.0', b'x' * 1200)
A, B = '192.0.2.1', '192.0.2.2'
A6, B6 = '2001:db8::1', '2001:db8::2'


def ip4(src, dst, proto, payload, ident=1, frag=0, total=None):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload) if total is None else total, ident, frag,
                       64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst)) + payload


def ip6(src, dst, nh, payload, plen=None):
    return struct.pack('!IHBB16s16s', 0x60000000, len(payload) if plen is None else plen, nh, 64,
                       socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)) + payload


def ext(nh, body_units=0):  # hop-by-hop / routing / destination options: (len+1)*8 bytes
    return bytes([nh, body_units]) + b'\0' * (6 + 8 * body_units)


def ah(nh):  # (len+2)*4 bytes
    return bytes([nh, 4]) + b'\0' * 22


def frag6(nh, off, more, ident, data):
    return struct.pack('!BBHI', nh, 0, off | (1 if more else 0), ident) + data


def udp(sp, dp, data, ulen=None):
    return struct.pack('!HHHH', sp, dp, 8 + len(data) if ulen is None else ulen, 0) + data


def tcp(sp, dp, seq, flags, data=b''):
    return struct.pack('!HHIIBBHHH', sp, dp, seq & 0xffffffff, 0, 5 << 4, flags, 65535, 0, 0) + data


def eth(l3, t=0x0800, tags=()):
    b = b'\x02\0\0\0\0\x01\x02\0\0\0\0\x02'
    for tg in tags:
        b += struct.pack('!HH', tg, 100)
    return b + struct.pack('!H', t) + l3


def sll(l3, t=0x0800):
    return struct.pack('!HHH8sH', 0, 1, 6, b'\2' * 8, t) + l3


def sll2(l3, t=0x0800, tag=None):
    hdr = struct.pack('!HHIHBB8s', tag if tag else t, 0, 2, 1, 0, 6, b'\2' * 8)
    if tag:
        return hdr + struct.pack('!HH', 100, t) + l3
    return hdr + l3


def null(l3, af, le=True):
    return struct.pack('<I' if le else '!I', af) + l3


def hep_chunk(t, v, vendor=0, clen=None):
    return struct.pack('!HHH', vendor, t, 6 + len(v) if clen is None else clen) + v


def hep(payload, v6=False, extra=b'', family=None, ts_us=0, proto=1, ip_proto=17, total=None, drop=()):
    ch = [(1, bytes([10 if v6 else 2] if family is None else [family])), (2, bytes([ip_proto]))]
    if v6:
        ch += [(5, socket.inet_pton(socket.AF_INET6, A6)), (6, socket.inet_pton(socket.AF_INET6, B6))]
    else:
        ch += [(3, socket.inet_aton('198.51.100.1')), (4, socket.inet_aton('198.51.100.2'))]
    ch += [(7, struct.pack('!H', 5060)), (8, struct.pack('!H', 5060)), (9, struct.pack('!I', 1700000000)),
           (10, struct.pack('!I', ts_us)), (11, bytes([proto])), (12, struct.pack('!I', 7)), (15, payload)]
    b = b''.join(hep_chunk(t, v) for t, v in ch if t not in drop) + extra
    return b'HEP3' + struct.pack('!H', 6 + len(b) if total is None else total) + b


# ---- fuzz_decode: byte 0 = link (LINKS index) | limits << 4, then frames ----
L_ETH, L_SLL, L_SLL2, L_RAW, L_RAW12, L_IPV4, L_IPV6, L_NULL, L_LOOP, L_RAW14, L_OTHER = range(11)
STEP = {0: 0, 'tenth': 1, '3s': 2, '400s': 3}


def decode_seed(link, frames, variant=0):
    out = bytes([link | variant << 4])
    for f in frames:
        step = 0
        if isinstance(f, tuple):
            step, f = STEP[f[0]], f[1]
        out += struct.pack('!H', step << 14 | len(f)) + f
    return out


def d(name, link, frames, variant=0):
    write('decode', name, decode_seed(link, frames, variant))


def tcp_flow(seqs, sp=41000, dp=5060, src=A, dst=B, wrap=eth):
    return [wrap(ip4(src, dst, 6, tcp(sp, dp, s, fl, data))) for s, fl, data in seqs]


U = lambda data, sp=5060, dp=5060: ip4(A, B, 17, udp(sp, dp, data))
# link layers
d('vlan', L_ETH, [eth(U(INV), tags=(0x8100,)), eth(U(OK), tags=(0x88a8, 0x8100)), eth(U(OPT), tags=(0x9100,))])
d('vlan_too_many', L_ETH, [eth(U(INV), tags=(0x8100,) * 9), eth(b'', 0x8100)[:16], b'\0' * 13])
d('eth_not_ip', L_ETH, [eth(b'\0' * 40, 0x0806), eth(ip6(A6, B6, 17, udp(5060, 5060, OPT)), 0x86dd)])
d('sll', L_SLL, [sll(U(INV)), sll(ip6(A6, B6, 17, udp(5060, 5060, OK)), 0x86dd), sll(b'')[:10]])
d('sll2_tag', L_SLL2, [sll2(U(INV), tag=0x8100), sll2(U(OK)), sll2(U(OK), tag=0x88a8)[:21],
                       sll2(ip6(A6, B6, 17, udp(5060, 5060, OPT)), 0x86dd)])
d('raw12', L_RAW12, [U(INV), ip6(A6, B6, 17, udp(5060, 5060, OK)), b'\x50' + b'\0' * 30, b''])
d('raw14', L_RAW14, [U(INV), ip6(A6, B6, 17, udp(5060, 5060, OK))])
d('raw101', L_RAW, [U(OPT)])
d('ipv4_link', L_IPV4, [U(INV), b'\x46' + b'\0' * 19, ip4(A, B, 17, udp(5060, 5060, OK), total=0),
                        ip4(A, B, 17, udp(5060, 5060, OK), total=10), ip4(A, B, 17, udp(5060, 5060, OK))[:30]])
d('ipv6_link', L_IPV6, [ip6(A6, B6, 17, udp(5060, 5060, INV)), ip6(A6, B6, 17, udp(5060, 5060, OK), plen=0),
                        ip6(A6, B6, 17, udp(5060, 5060, OK), plen=4000), b'\x40' + b'\0' * 39])
d('null_all_af', L_NULL, [null(U(INV), 2), null(ip6(A6, B6, 17, udp(5060, 5060, OK)), 24),
                          null(ip6(A6, B6, 17, udp(5060, 5060, OK)), 28, le=False),
                          null(ip6(A6, B6, 17, udp(5060, 5060, OK)), 30), null(b'', 99), b'\0\0'])
d('loop_be', L_LOOP, [null(U(INV), 2, le=False), null(U(INV), 2, le=True),
                      null(ip6(A6, B6, 17, udp(5060, 5060, OK)), 30, le=False)])
d('other_link', L_OTHER, [eth(U(INV))])
# UDP corner cases
d('udp_lengths', L_IPV4, [ip4(A, B, 17, udp(5060, 5060, INV, ulen=0)), ip4(A, B, 17, udp(5060, 5060, INV, ulen=4)),
                          ip4(A, B, 17, udp(5060, 5060, INV, ulen=9000)), ip4(A, B, 17, b'\0' * 5),
                          ip4(A, B, 17, udp(5060, 5060, b'\r\n\r\n')), ip4(A, B, 17, udp(40000, 40001, INV)),
                          ip4(A, B, 17, udp(40000, 40001, b'GET / HTTP/1.1\r\n\r\n'))])
# IPv6 extension headers
X = udp(5060, 5060, INV)
d('ip6_ext_all', L_IPV6, [ip6(A6, B6, 0, ext(43, 1) + ext(60) + ah(17) + X),
                          ip6(A6, B6, 60, ext(59) + b'junk'), ip6(A6, B6, 0, ext(0) * 9 + X),
                          ip6(A6, B6, 43, ext(17, 40) + X), ip6(A6, B6, 51, b'\x11\x04'),
                          ip6(A6, B6, 0, b'\x3c'), ip6(A6, B6, 44, frag6(17, 0, False, 5, X)),
                          ip6(A6, B6, 44, b'\x11\0')])
# IPv6 fragments: out of order, nested fragment header inside the datagram
Y = udp(5060, 5060, BIG)
d('ip6_frag_ooo', L_IPV6, [ip6(A6, B6, 0, ext(44) + frag6(17, 800, False, 9, Y[800:])),
                           ip6(A6, B6, 44, frag6(17, 400, True, 9, Y[400:800])),
                           ip6(A6, B6, 44, frag6(17, 0, True, 9, Y[:400])),
                           ip6(A6, B6, 44, frag6(44, 0, True, 10, frag6(17, 8, True, 3, b'\0' * 16))),
                           ip6(A6, B6, 44, frag6(44, 24, False, 10, b'\0' * 8))])
# IPv4 fragments: overlap, duplicate, missing piece expired, many sets
Z = udp(5060, 5060, BIG)
d('ip4_frag_overlap', L_IPV4, [ip4(A, B, 17, Z[600:], 77, 600 // 8), ip4(A, B, 17, Z[:400], 77, 0x2000),
                               ip4(A, B, 17, Z[200:640], 77, 0x2000 | 200 // 8),
                               ip4(A, B, 17, Z[200:640], 77, 0x2000 | 200 // 8),
                               ip4(A, B, 17, Z[:16], 78, 0x2000), ('3s', ip4(A, B, 17, Z[:16], 79, 0x2000)),
                               ('400s', ip4(A, B, 17, Z[16:], 78, 2)),
                               ip4(A, B, 17, Z[:16], 80, 0x2000), ip4(A, B, 17, Z[:16], 80, 0x2000 | 1),
                               ip4(A, B, 17, b'x' * 7, 81, 0x2000), ip4(A, B, 17, b'x' * 16, 81, 8190),
                               ip4(A, B, 6, tcp(41000, 5060, 1, 0x18, OPT)[:16], 82, 0x2000),
                               ip4(A, B, 6, tcp(41000, 5060, 1, 0x18, OPT)[16:], 82, 2)])
d('ip4_frag_sets', L_IPV4, [ip4(A, B, 17, Z[:64], 100 + i, 0x2000) for i in range(12)] +
  [ip4(A, B, 17, Z[64:], 100 + i, 8) for i in range(12)] + [ip4(A, B, 17, Z[i * 8:i * 8 + 8], 200, 0x2000 | i) for i in range(1, 300)], 1)
# TCP streams
I = 1000
d('tcp_inorder_fin', L_ETH, tcp_flow([(I, 0x02, b''), (I + 1, 0x18, OPT + OK), (I + 1 + len(OPT + OK), 0x18, INV[:50]),
                                      (I + 1 + len(OPT + OK) + 50, 0x18, INV[50:]), (I + 1 + len(OPT + OK + INV), 0x11, b'')]) +
  tcp_flow([(5000, 0x12, b''), (5001, 0x18, OK), (5001 + len(OK), 0x11, b'')], 5060, 41000, B, A))
d('tcp_ooo_hold', L_ETH, tcp_flow([(I, 0x02, b''), (I + 1 + 100, 0x18, INV[100:200]), (I + 1 + 200, 0x18, INV[200:]),
                                   (I + 1, 0x18, INV[:100]), (I + 1, 0x18, INV[:150]),
                                   (I + 1 + len(INV) - 10, 0x18, INV[-10:] + OPT), (I + 1 + len(INV + OPT), 0x14, b'')]))
d('tcp_gap_timeout', L_ETH, tcp_flow([(I, 0x02, b''), (I + 1, 0x18, INV[:80]), (I + 1 + 200, 0x18, INV[200:] + OPT),
                                      (I + 1 + len(INV + OPT) + 5, 0x18, b'garbage line\r\n' + OK)]) +
  [('3s', tcp_flow([(I + 1 + len(INV + OPT) + 5 + 14 + len(OK), 0x18, OPT)])[0]),
   tcp_flow([(I + 1 + 80, 0x18, INV[80:200])])[0], ('400s', tcp_flow([(I + 1, 0x18, b'x')])[0])])
d('tcp_resync', L_ETH, tcp_flow([(I, 0x02, b''), (I + 1, 0x18, b'INVITE sip:x SIP/2.0\r\nContent-Length: zz\r\n\r\n'),
                                 (I + 1 + 44, 0x18, b'junk junk\r\nmore junk\r\n' + OPT),
                                 (I + 1 + 44 + 22 + len(OPT), 0x18, b'INVITE sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n' + b'y' * 300),
                                 (I + 1 + 44 + 22 + len(OPT) + 350, 0x18, b'SIP/2.0 200')]), 0)
d('tcp_too_big_tiny', L_ETH, tcp_flow([(I, 0x02, b''), (I + 1, 0x18, BIG[:600]), (I + 601, 0x18, BIG[600:]),
                                       (I + 1 + len(BIG), 0x18, OPT)]), 1)
d('tcp_rst_reverse', L_ETH, tcp_flow([(I, 0x02, b''), (I + 1, 0x18, OPT)]) +
  tcp_flow([(9000, 0x14, b'')], 5060, 41000, B, A) + tcp_flow([(I + 1, 0x18, OPT), (I + 1 + len(OPT), 0x18, OPT),
                                                                (I + 1 + 0x50000000, 0x18, OPT), (77, 0x02, b''), (78, 0x18, INV)]) +
  tcp_flow([(9000, 0x11, b'')], 5060, 41000, B, A) + [('400s', tcp_flow([(I, 0x04, b'')])[0])])
d('tcp_heuristic', L_ETH, tcp_flow([(I, 0x18, b'INV'), (I + 3, 0x18, INV[3:]), (I + len(INV), 0x18, OK)], 33000, 44000) +
  tcp_flow([(I, 0x18, b'\x16\x03\x01\x00\x05hello')], 33001, 44000) + tcp_flow([(I, 0x18, b'OPTI')], 33002, 44000) +
  tcp_flow([(I + 4, 0x18, b'garbage\r\n')], 33002, 44000), 0)
d('tcp_many_flows', L_ETH, [f for p in range(12) for f in tcp_flow([(I, 0x02, b''), (I + 1, 0x18, INV[:90])], 41000 + p)] +
  [('tenth', tcp_flow([(I + 91, 0x18, INV[90:])], 41000 + p)[0]) for p in range(12)], 1)
d('tcp_holds_full', L_ETH, tcp_flow([(I, 0x02, b'')] + [(I + 10 + 20 * k, 0x18, b'z' * 10) for k in range(300)]), 0)
d('tcp_v6_qinq', L_ETH, [eth(ip6(A6, B6, 6, tcp(41000, 5061, I, 0x18, INV)), 0x86dd, (0x88a8, 0x8100)),
                         eth(ip6(A6, B6, 6, tcp(41000, 5061, I, 0x18, INV)[:10]), 0x86dd),
                         eth(ip6(A6, B6, 6, b'\0' * 12 + b'\x10' + b'\0' * 7), 0x86dd)])
d('tcp_odd_ports', L_ETH, tcp_flow([(I, 0x18, INV)], 1, 9060) + [eth(U(INV, 1, 40000)), eth(U(hep(INV), 9060, 40000))], 3)
# HEP inside UDP on port 9060, and every way to refuse it
H = lambda pkt: eth(ip4('10.0.0.1', '10.0.0.2', 17, udp(40000, 9060, pkt)))
d('hep_variants', L_ETH, [H(hep(INV)), H(hep(OK, v6=True)), H(hep(INV, ip_proto=6)), H(hep(INV, ip_proto=132)),
                          H(hep(INV, proto=100)), H(hep(b'\r\n\r\n')), H(hep(INV, ts_us=999999)),
                          H(hep(INV, extra=hep_chunk(0x11, b'corr-id') + hep_chunk(0x0e, b'secret', vendor=0x20))),
                          H(b'\x01\x02\x03'), H(b'\x02\x10'), H(b'HEP3'), H(hep(INV, total=3)), H(hep(INV, total=9000))])
d('hep_refused', L_ETH, [H(hep(INV, family=7)), H(hep(INV, family=10)), H(hep(INV, drop=(3,))), H(hep(INV, drop=(4,))),
                         H(hep(INV, drop=(15,))), H(hep(INV, ts_us=1000000)),
                         H(hep(INV, extra=hep_chunk(2, b'\x11\x11'))), H(hep(INV, extra=b'\0\0\0')),
                         H(hep(INV, extra=hep_chunk(0x20, b'', clen=3))), H(hep(INV, extra=hep_chunk(0x20, b'ab', clen=60)))])
for k, (t, v) in enumerate([(1, b'\2\2'), (2, b''), (3, b'\1\2'), (5, b'\1'), (7, b'\1'), (9, b'\1'), (10, b''),
                            (11, b'\1\1'), (12, b'\1')]):
    write('decode', 'hep_badlen_%d' % k, b'\0' + hep(INV, extra=hep_chunk(t, v)))
write('decode', 'hep_whole_v6', b'\0' + hep(OK, v6=True, ts_us=5))
# chunk 0x10: a compressed payload (zlib as captagent, gzip), beside a plain one, cut, a bomb
import zlib as _zl
def hep_z(payload, packed, extra=b''):
    return hep(payload, drop=(15,), extra=hep_chunk(0x10, packed) + extra)
write('decode', 'hep_zlib', b'\0' + hep_z(INV, _zl.compress(INV)))
write('decode', 'hep_gzip', b'\0' + hep_z(OK, __import__('gzip').compress(OK, mtime=0)))
write('decode', 'hep_zlib_and_plain', b'\0' + hep_z(INV, _zl.compress(INV), hep_chunk(15, OK)))
write('decode', 'hep_zlib_cut', b'\0' + hep_z(INV, _zl.compress(INV)[:-5]))
write('decode', 'hep_zlib_bomb', b'\0' + hep_z(INV, _zl.compress(INV + b' ' * 70000)))
# HEP v1 and v2 (Kamailio siptrace's hep_version 1 and 2), IPv4 and IPv6
_v12 = lambda v, fam, hl, addrs: bytes([v, hl, fam, 17]) + struct.pack('!HH', 5070, 5060) + addrs + \
    (struct.pack('<IIHxx', 1700000000, 5, 38) if v == 2 else b'') + INV
write('decode', 'hep_v1', b'\0' + _v12(1, 2, 16, bytes(range(8))))
write('decode', 'hep_v2_v6', b'\0' + _v12(2, 10, 40, bytes(range(32))))
d('hep_v12_udp', L_ETH, [H(_v12(1, 2, 16, bytes(range(8)))), H(_v12(2, 2, 16, bytes(range(8)))),
                         H(_v12(2, 10, 40, bytes(range(32)))), H(_v12(1, 2, 40, bytes(range(8))))])


# ---- fuzz_pcapng: capture files --------------------------------------------
def blk(t, body, be=False, trailer=None):
    e = '>' if be else '<'
    pad = (4 - len(body) % 4) % 4
    n = 12 + len(body) + pad
    return struct.pack(e + 'II', t, n) + body + b'\0' * pad + struct.pack(e + 'I', n if trailer is None else trailer)


def shb(be=False, major=1):
    e = '>' if be else '<'
    return blk(0x0A0D0D0A, struct.pack(e + 'IHHq', 0x1A2B3C4D, major, 0, -1), be)


def opt(code, val, be=False):
    e = '>' if be else '<'
    return struct.pack(e + 'HH', code, len(val)) + val + b'\0' * ((4 - len(val) % 4) % 4)


def idb(link, snap=65535, opts=b'', be=False):
    e = '>' if be else '<'
    return blk(1, struct.pack(e + 'HHI', link, 0, snap) + opts, be)


def epb(ifid, f, ts=1700000000 * 10 ** 6, be=False, caplen=None):
    e = '>' if be else '<'
    return blk(6, struct.pack(e + 'IIIII', ifid, ts >> 32, ts & 0xffffffff, len(f) if caplen is None else caplen, len(f)) + f, be)


def pb(ifid, f, be=False):
    e = '>' if be else '<'
    ts = 1700000000 * 10 ** 6
    return blk(2, struct.pack(e + 'HHIIII', ifid, 0, ts >> 32, ts & 0xffffffff, len(f), len(f)) + f, be)


def spb(f, orig=None, be=False):
    e = '>' if be else '<'
    return blk(3, struct.pack(e + 'I', len(f) if orig is None else orig) + f, be)


F = eth(U(INV))
R = U(OPT)
E = lambda v, be=False: opt(9, bytes([v]), be)
P = lambda name, data: write('pcapng', name, data)
P('tsresol', shb() + idb(1, opts=E(9) + opt(2, b'eth0') + opt(0, b'')) + epb(0, F, 1700000000 * 10 ** 9) +
  idb(1, opts=E(0x80 | 50) + opt(14, struct.pack('<q', -5))) + epb(1, F, 1 << 60) +
  idb(1, opts=E(3) + opt(14, struct.pack('<q', 100))) + epb(2, F, 1700000000000) +
  idb(1, opts=E(0x80 | 10)) + epb(3, F, 1 << 62) + idb(1, opts=E(0)) + epb(4, F, 1700000000))
P('tsresol_bad', shb() + idb(1, opts=E(20)) + epb(0, F))
P('tsresol_bad2', shb() + idb(1, opts=E(0x80 | 64)) + epb(0, F))
P('opt_past_end', shb() + idb(1, opts=struct.pack('<HH', 2, 200)) + epb(0, F))
P('blocks_all_be', shb(True) + idb(101, 100, be=True) + spb(R, be=True) + pb(0, R, True) + epb(0, R, be=True) +
  blk(5, b'stats', True) + blk(0x80000001, b'custom', True) + idb(100, be=True) + idb(102, be=True) + idb(103, be=True) +
  epb(1, R, be=True))
P('spb_short', shb() + idb(1) + spb(F, orig=20) + spb(F, orig=100000) + blk(3, b''))
P('pb_short', shb() + idb(1) + blk(2, b'\0' * 10) + epb(0, F, caplen=99999))
P('no_iface', shb() + epb(3, F))
P('no_shb', idb(1) + epb(0, F))
P('bad_magic', blk(0x0A0D0D0A, struct.pack('<IHHq', 0x12345678, 1, 0, -1)) + idb(1))
P('version2', shb(major=2) + idb(1) + epb(0, F))
P('bad_trailer', shb() + idb(1) + blk(6, struct.pack('<IIIII', 0, 0, 0, len(F), len(F)) + F, trailer=12))
P('odd_length', shb() + idb(1) + struct.pack('<II', 6, 37) + b'\0' * 40)
P('huge_length', shb() + idb(1) + struct.pack('<II', 6, 0x7ffffff0) + b'\0' * 40)
P('cut_header', shb() + idb(1) + epb(0, F) + b'\6\0\0\0\x40')
P('cut_body', shb() + idb(1) + epb(0, F)[:-20])
P('idb_short', shb() + blk(1, b'\1\0'))
P('many_ifaces', shb() + b''.join(idb(1) for _ in range(70)) + epb(65, F))
P('snaplen_cut', shb() + idb(1, snap=30) + epb(0, F) + shb(True) + idb(1, be=True) + epb(0, F, be=True))
P('big_block', shb() + idb(1, snap=0) + epb(0, eth(U(b'x' * 60000))))
P('mixed_links', shb() + idb(1) + idb(113) + idb(276) + epb(0, F) + epb(1, sll(R)) + epb(2, sll2(R)) + epb(0, F))
# gzip-compressed captures (cap_gzip.c): whole, two members, padded, cut, and
# a classic pcap inside
import gzip as _gz
NG = shb() + idb(1) + epb(0, F) + epb(0, F)
PCAP = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) + b''.join(
    struct.pack('<IIII', 1700000000 + i, 0, len(F), len(F)) + F for i in range(3))
P('gz_pcapng', _gz.compress(NG, mtime=0))
P('gz_pcap', _gz.compress(PCAP, mtime=0))
P('gz_members', _gz.compress(PCAP[:50], mtime=0) + _gz.compress(PCAP[50:], mtime=0) + b'\0' * 16)
P('gz_cut', _gz.compress(PCAP, mtime=0)[:-30])
P('gz_mixed_links', _gz.compress(shb() + idb(1) + idb(113) + epb(0, F) + epb(1, sll(R)), mtime=0))

# ---- fuzz_config: allow_callers (selector 0: the fs38 config) ----------------
write('config', 'allow_callers', b'\0allow_callers:\n  - "+442071234567,Acme call centre"\n  - "+4420799"\n'
      b'  - +44207991234 , night shift\n')

# ---- fuzz_config: business_hours (a tzdata zone read; hours past midnight) and the off-hours thresholds
write('config', 'business_hours', b'\0business_hours:\n  timezone: Europe/Paris\n  days: [mon, tue, sat]\n'
      b'  from: "22:00"\n  to: "06:00"\nrules:\n  FRAUD-IRSF-001: {off_hours_threshold: 2}\n'
      b'  SIP-INFO-006: {expiry_warning_days: 30}\n')
# ---- fuzz_config: the hub's config (selector 2) ----------------------------
HUB = b'''listen: "[::]:8443"
node: hub-2
tls: {cert: tls/hub.crt, key: tls/hub.key, ca: tls/ca.crt}
registry: /etc/fs38/registry.json
store: "postgresql://hub@db.example.net:5432/fs38"
replication:
  nats_urls: [nats://n1.example.net:4222, "tls://n2.example.net:4222"]
  node_id: hub-2
  stream: FS38_EVENTS
  replicas: 3
  await_ms: 2000
'''
# POSIX TZ strings (4) and TZif files (12): tzdata's Paris, and slim ones holding only a rule
for k, tz in enumerate([b'CET-1CEST,M3.5.0,M10.5.0/3', b'<-02>2<-01>,M3.5.0/-1,M10.5.0/0', b'IST-2IDT,M3.4.4/26,M10.5.0',
                        b'<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45', b'EST5EDT,0/0,J365/25', b'CST6CDT,J60,59/-167',
                        b'<+03>-3', b'CET-1CEST']):
    write('config', 'tz_rule_%d' % k, b'\4' + tz)
def slim_tzif(footer):
    block = struct.pack('!6I', 0, 0, 0, 0, 1, 4) + struct.pack('!iBB', 0, 0, 0) + b'XXX\0'
    return (b'TZif2' + bytes(15) + block) * 2 + b'\n' + footer + b'\n'
write('config', 'tzif_slim', b'\x0c' + slim_tzif(b'AEST-10AEDT,M10.1.0,M4.1.0/3'))
write('config', 'tzif_slim_bad', b'\x0c' + slim_tzif(b'AEST-10AEDT,M10.1.0'))
if os.path.exists('/usr/share/zoneinfo/Europe/Paris'):
    write('config', 'tzif_paris', b'\x0c' + open('/usr/share/zoneinfo/Europe/Paris', 'rb').read())
write('config', 'hub_replication', b'\2' + HUB)
write('config', 'hub_replication_csv', b'\2' + HUB.replace(b'[nats://n1.example.net:4222, "tls://n2.example.net:4222"]',
                                                           b'"nats://a:4222,tls://b:4222,nats://c:4222"'))
write('config', 'hub_replication_empty', b'\2listen: 127.0.0.1:0\nstore: "sqlite::memory:"\nreplication:\n'
      b'tls: {cert: a, key: b, ca: c}\n')
write('config', 'hub_replication_bad', b'\2tls: {cert: a, key: b, ca: c}\nreplication:\n  nats_urls: "nats://a:1,,x"\n'
      b'  node_id: "bad name!"\n')
write('config', 'hub_anchor', b'\2tls: &t {cert: a, key: b, ca: c}\nlimits: *t\n')
write('config', 'hub_no_tls', b'\2listen: "h:1"\nnode: "' + b'n' * 80 + b'"\n')

# ---- fuzz_client: pulled and shared event lines ----------------------------
import glob, json
VALID = os.path.join(os.path.dirname(ROOT), '..', 'tests', 'data', 'exchange', 'valid')
events = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(VALID, '*.json')))]
lines = [json.dumps(ev, separators=(',', ':')).encode() for ev in events]
ev = dict(events[0])  # a victim to pseudonymise, then revoked, expired, newer
ev['observables'] = ev['observables'] + [{'kind': 'e164', 'value': '+447700900123', 'role': 'victim'}]
ev['evidence'] = {'count': 3, 'window_s': 60, 'sample': {'callee': '+447700900123', 'method': 'INVITE'}}
more = [dict(ev), dict(ev, status='revoked', version=9), dict(ev, valid_until='2001-01-01T00:00:00Z', event_id=ev['event_id'][:-1] + 'c'),
        dict(ev, version=1), dict(ev, rule={'id': 'INTEL-001'})]
lines += [json.dumps(x, separators=(',', ':')).encode() for x in more]
write('client', 'event_lines', b'\n'.join(lines) + b'\n\n  \n{"x":1}\n')
write('client', 'event_pretty', json.dumps(ev, indent=1).encode())
write('client', 'http_chunked_trailer', b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n'
      b'5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n')
write('client', 'http_until_close', b'HTTP/1.0 503 Busy\r\nConnection: close\r\n\r\n{"error":"busy"}')
write('client', 'http_bad_cl', b'HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\nabc')
write('client', 'sse_multi', b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: ping\r\n\r\nid: 7\r\n'
      b'event: event\r\ndata: ' + lines[0] + b'\r\n\r\nid: 8\ndata: a\ndata: b\nretry: 10\n\n')

# ---- fuzz_detect: scenarios, one record per message ------------------------
# record: who (sender 10.0.0.N-1 | 64 core receiver | 128 worker 1), time step
# (signed, 0.25 s), length | 0x8000 for a reply (receiver -> sender)
def rec(who, msg, step=0, reply=False):
    return struct.pack('!BbH', who, step, len(msg) | (0x8000 if reply else 0)) + msg


def req(method, ruri, cid, cseq=1, frm='<sip:alice@example.com>;tag=a1', to=None, extra=b'', body=b'',
        branch=b'z9hG4bK-%d', src='10.0.0.5'):
    to = to or '<%s>' % ruri
    return (b'%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=%s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\n'
            b'Call-ID: %s\r\nCSeq: %d %s\r\n%sContent-Length: %d\r\n\r\n%s') % (
        method, ruri.encode(), src.encode(), branch % cseq if b'%d' in branch else branch, frm.encode(),
        to.encode(), cid, cseq, method, extra, len(body), body)


def resp(code, reason, method, ruri, cid, cseq=1, to_tag=b';tag=b1', extra=b'', branch=b'z9hG4bK-%d',
         frm='<sip:alice@example.com>;tag=a1'):
    return (b'SIP/2.0 %d %s\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=%s\r\nFrom: %s\r\nTo: <%s>%s\r\n'
            b'Call-ID: %s\r\nCSeq: %d %s\r\n%sContent-Length: 0\r\n\r\n') % (
        code, reason, branch % cseq if b'%d' in branch else branch, frm.encode(), ruri.encode(), to_tag, cid,
        cseq, method, extra)


def det(name, records):
    write('detect', name, b''.join(records))


SDP = b'v=0\r\no=- 1 1 IN IP4 10.1.2.3\r\ns=-\r\nc=IN IP4 10.1.2.3\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'
W = 4  # the sender 10.0.0.5
# SIP-SCAN-002 and SIP-SCAN-001: one source, many targets, a scanner's User-Agent
det('scan', [rec(W | (i % 2) * 64, req(b'OPTIONS', 'sip:%d@192.0.2.%d' % (100 + i, i % 200), b'scan%d' % i,
                        extra=b'User-Agent: friendly-scanner\r\n' if i % 5 == 0 else b''), 1) for i in range(30)])
# SIP-ENUM-001: REGISTER per extension, mostly 404 back
det('enum', [r for i in range(25) for r in (
    rec(W, req(b'REGISTER', 'sip:%d@example.com' % (200 + i), b'enum%d' % i, to='<sip:%d@example.com>' % (200 + i)), 1),
    rec(W, resp(404 if i % 4 else 401, b'Not Found', b'REGISTER', 'sip:%d@example.com' % (200 + i), b'enum%d' % i,
                to_tag=b''), 0, True))])
# SIP-BRUTE-001/002: credentials, 401/403 back; one stale challenge
AUTH = b'Authorization: Digest username="%s", realm="example.com", nonce="n", uri="sip:example.com", response="0123"\r\n'
det('brute', [r for i in range(24) for r in (
    rec(W, req(b'REGISTER', 'sip:example.com', b'brute%d' % (i // 12), cseq=i + 1,
               extra=AUTH % (b'100' if i < 12 else b'%d' % (300 + i))), 2),
    rec(W, resp(401 if i % 3 else 403, b'Unauthorized', b'REGISTER', 'sip:example.com', b'brute%d' % (i // 12), cseq=i + 1,
                extra=b'WWW-Authenticate: Digest realm="example.com", nonce="x"%s\r\n' % (b', stale=true' if i == 5 else b'')), 0, True))])
# SIP-FLOOD-001/002: many INVITEs within seconds
det('flood', [rec(W, req(b'INVITE', 'sip:+4420%07d@example.com' % i, b'fl%d' % i), 0) for i in range(220)])
det('flood_dest', [rec(i % 60 | (i % 7 == 0) * 128, b'OPTIONS sip:x@y SIP/2.0\r\nCall-ID: d%d\r\n\r\n' % i) for i in range(90)])


# calls: INVITE, 180, 200, ACK, BYE (long), CANCEL (wangiri); to high-risk ranges (IRSF)
def call(who, cid, callee, caller='+4477009001', answer=True, hold=0, cancel=False, ring_steps=4):
    ruri = 'sip:%s@ims.example.net;user=phone' % callee
    frm = '"A" <sip:%s@ims.example.net>;tag=a1' % caller
    out = [rec(who, req(b'INVITE', ruri, cid, frm=frm, body=SDP,
                        extra=b'Content-Type: application/sdp\r\nP-Asserted-Identity: <tel:%s>\r\n' % caller.encode()), 1),
           rec(who, resp(100, b'Trying', b'INVITE', ruri, cid, to_tag=b'', frm=frm), 0, True),
           rec(who, resp(180, b'Ringing', b'INVITE', ruri, cid, frm=frm), ring_steps, True)]
    if cancel:
        out += [rec(who, req(b'CANCEL', ruri, cid, frm=frm), 1),
                rec(who, resp(200, b'OK', b'CANCEL', ruri, cid, frm=frm), 0, True),
                rec(who, resp(487, b'Request Terminated', b'INVITE', ruri, cid, frm=frm), 0, True)]
        return out
    if not answer:
        return out + [rec(who, resp(486, b'Busy Here', b'INVITE', ruri, cid, frm=frm), 1, True)]
    out += [rec(who, resp(200, b'OK', b'INVITE', ruri, cid, frm=frm, extra=b'Server: Asterisk PBX 16.2.1\r\n'), 1, True),
            rec(who, req(b'ACK', ruri, cid, frm=frm, to='<%s>;tag=b1' % ruri), 0)]
    out += [rec(who, b'', 127) for _ in range(hold)]
    out += [rec(who, req(b'BYE', ruri, cid, cseq=2, frm=frm, to='<%s>;tag=b1' % ruri), 1),
            rec(who, resp(200, b'OK', b'BYE', ruri, cid, cseq=2, frm=frm), 0, True)]
    return out


det('irsf', [r for i in range(7) for r in call(W, b'irsf%d' % i, '+88213%06d' % i, answer=i % 2 == 0)])
det('irsf_long', call(W, b'long1', '+447012345678', hold=62))
det('wangiri', [r for i in range(12) for r in call(W, b'wg%d' % i, '+4420%07d' % i, caller='+88216000001', cancel=True)])
det('volume', [r for i in range(40) for r in call(W, b'vol%d' % i, '+4420%07d' % i)[:5]] +
    [rec(W, b'', 127) for _ in range(25)])
# trust, CLI, topology, disclosure: from untrusted and partner zones, toward the core
det('trust', [rec(W, req(b'INVITE', 'sip:+441234567@ims.example.net', b'tr1', frm='<sip:+4477009123@ims.example.net>;tag=x',
                         extra=b'P-Asserted-Identity: <sip:+4477009123@ims.example.net>\r\nHistory-Info: <sip:a@b>;index=1\r\n'
                               b'P-Charging-Vector: icid-value=1\r\nPrivacy: id\r\n'), 1),
              rec(40 | 64, req(b'INVITE', 'sip:+441234567@ims.example.net', b'tr2', frm='<sip:abc@x>;tag=x',
                               extra=b'P-Asserted-Identity: <tel:+8821-300-0123>\r\nP-Preferred-Identity: <tel:12>\r\n'), 1),
              rec(W, req(b'INVITE', 'sip:+441234567@ims.example.net', b'tr3', frm='"x" <tel:+44(20)12-34.56;phone-context=x>;tag=x'), 1),
              rec(W, req(b'INVITE', 'sip:00882130001@ims.example.net', b'tr4', frm='<sip:0088213000111@x;user=phone>;tag=x'), 1),
              rec(W, req(b'MESSAGE', 'sip:bob@ims.example.net', b'tr5', frm='<sip:+123456789012345678@x>;tag=x'), 1),
              rec(W | 64, resp(200, b'OK', b'OPTIONS', 'sip:x@10.0.0.9', b'tp1',
                               extra=b'Via: SIP/2.0/UDP 10.20.30.40:5060;received=172.16.0.9;branch=z9hG4bKx\r\n'
                                     b'Contact: <sip:pbx@192.168.1.10:5060>\r\nRecord-Route: <sip:10.9.9.9;lr>\r\n'
                                     b'Server: Kamailio (5.6.1 (x86_64/linux))\r\nWarning: 399 10.0.0.1 "internal"\r\n'
                                     b'Content-Type: application/sdp\r\n'), 0, True),
              rec(W, resp(200, b'OK', b'INVITE', 'sip:x@example.com', b'tp2',
                          extra=b'Contact: <sip:pbx@[fd00::1]:5060>\r\nUser-Agent: FreeSWITCH-mod_sofia/1.10.7\r\n'), 0, True)])
# IMS AKA (insp_aka.c): the UE's offer, the S-CSCF's keys, the P-CSCF's answer
SC = b'Security-Client: ipsec-3gpp;alg=hmac-md5-96;ealg=des-ede3-cbc;spi-c=11;spi-s=12;port-c=1;port-s=2, ' \
     b'ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=11;spi-s=12;port-c=1;port-s=2\r\n'
AKA_RECS = [rec(W, req(b'REGISTER', 'sip:ims.example.net', b'aka1', extra=SC), 1),
            rec(W | 64, resp(401, b'Unauthorized', b'REGISTER', 'sip:ims.example.net', b'aka1',
                             extra=b'WWW-Authenticate: Digest nonce="bm9uY2U=", algorithm=AKAv1-MD5, '
                                   b'ck="00112233445566778899aabbccddeeff", ik="ffeeddccbbaa99887766554433221100"\r\n'),
                0, True),
            rec(W, resp(401, b'Unauthorized', b'REGISTER', 'sip:ims.example.net', b'aka1',
                        extra=b'WWW-Authenticate: Digest nonce="bm9uY2U="\r\nSecurity-Server: ipsec-3gpp;q=0.1;'
                              b'alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=21;spi-s=22;port-c=3;port-s=4\r\n'), 0, True)]
det('ims_aka', AKA_RECS)
# SIP-INFO-004: ServerHellos (0x16, version, suite) of servers choosing TLS 1.0, 3DES, TLS 1.3;
# SIP-INFO-005: cleartext SIP from and to the partner zone that requires TLS (10.0.0.32/27)
det('tls_hellos', [rec(W, b'\x16\x03\x01\xc0\x14', 1, True), rec(W | 64, b'\x16\x03\x03\x00\x0a', 1, True),
                   rec(W, b'\x16\x03\x04\x13\x01', 1, True)])
det('cleartext_partner', [rec(40, req(b'OPTIONS', 'sip:ping@ims.example.net', b'ct1', src='10.0.0.41'), 1),
                          rec(40 | 64, req(b'OPTIONS', 'sip:ping@ims.example.net', b'ct2', src='10.0.0.41'), 1, True)])
det('ims_aka_late', [AKA_RECS[0], AKA_RECS[2], AKA_RECS[1]])  # the UE's 401 before its keys
# protocol violations: missing headers, Max-Forwards, bad branch, unknown method, CL mismatch, oversize
det('proto', [rec(W, b'INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=1234\r\nMax-Forwards: 255\r\nCSeq: 1 INVITE\r\n'
                     b'Call-ID: a\r\nCall-ID: b\r\nContent-Length: 50\r\n\r\nshort', 1),
              rec(W, b'FOO sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\n'
                     b'Call-ID: c\r\nCSeq: 1 FOO\r\nMax-Forwards: 70\r\n\r\n', 1),
              rec(W, b'INVITE sip:' + b'9' * 3000 + b'@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\n\r\n', 1),
              rec(W, b'\r\n\r\n', 1), rec(W, b'garbage\x00\xff', 1)])

# ---- later additions: paths the first round of seeds and a 2-minute run missed
# a HEP timestamp far behind and ahead of capture time (hep_time_untrusted)
def hep_at(payload, secs):
    b = hep(payload)
    return b.replace(struct.pack('!HHHI', 0, 9, 10, 1700000000), struct.pack('!HHHI', 0, 9, 10, secs))


d('hep_time_skew', L_ETH, [H(hep_at(INV, 1600000000)), H(hep_at(OK, 1800000000)), H(hep_at(OPT, 1700000000))])
# a gap given up (2 s of capture time), then its bytes arrive late and frame
# as a whole message: late_data emits them
J = I + 1
d('tcp_late_data', L_ETH, tcp_flow([(I, 0x02, b''), (J, 0x18, OPT), (J + len(OPT + INV), 0x18, OK)]) +
  [('3s', tcp_flow([(J + len(OPT + INV + OK), 0x18, OPT)])[0]), tcp_flow([(J + len(OPT), 0x18, INV + OK[:10])])[0],
   tcp_flow([(J + len(OPT), 0x18, INV)])[0]])
P('epb_caplen_over', shb() + idb(1) + epb(0, F, caplen=99999))

# encapsulations: every frame of tests/data/capture/tunnels.pcap (MPLS,
# PPPoE, GRE/ERSPAN, IP in IP, VXLAN, Geneve, nested, fragmented inside)
def pcap_frames(path):
    with open(path, 'rb') as f:
        b = f.read()
    frames, o = [], 24
    while o + 16 <= len(b):
        incl = struct.unpack('<I', b[o + 8:o + 12])[0]
        frames.append(b[o + 16:o + 16 + incl])
        o += 16 + incl
    return frames


TUN = pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'capture',
                               'tunnels.pcap'))
d('tunnels_all', L_ETH, TUN)
for i, f in enumerate(TUN):
    d('tunnel_%02d' % i, L_ETH, [f])
SCTP = pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'capture',
                                'sctp.pcap'))
d('sctp_all', L_ETH, SCTP)
# ESP with NULL encryption (transport and tunnel mode, IPv6, NAT-T) and ESP not read
ESP = pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'capture',
                               'esp.pcap'))
d('esp_all', L_ETH, ESP)
for i, f in enumerate(ESP):
    d('esp_%02d' % i, L_ETH, [f])
# encrypted ESP with SAs (esp_sa.pcap, whose SAs fuzz_decode loads from
# tests/data/capture/esp_sa.keys): AES-CBC, 3DES, AES-CTR, AES-GCM, tunnel mode
ESP_SA = pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'capture',
                                  'esp_sa.pcap'))
d('esp_sa_all', L_ETH, ESP_SA)
for i, f in enumerate(ESP_SA):
    d('esp_sa_%02d' % i, L_ETH, [f])
# IMS AKA registrations and the ESP they key (ims_aka.pcap: fuzz_decode
# learns the SAs as fs38 inspect does)
AKA = pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'capture',
                               'ims_aka.pcap'))
d('ims_aka_all', L_ETH, AKA)
d('ims_aka_first', L_ETH, AKA[:8])
# SIP over WebSocket: handshakes, masked and fragmented frames (ws.pcap)
WS = pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'capture', 'ws.pcap'))
d('ws_all', L_ETH, WS)
# ... with permessage-deflate (ws-deflate.pcap: context takeover, none, a decompression bomb)
d('ws_deflate_all', L_ETH, pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data',
                                                    'capture', 'ws-deflate.pcap')))
# SIP over TLS and secure WebSocket (tls.pcap, whose keys fuzz_decode loads
# from tests/data/capture/tls.keys): one seed per connection (the client port)
TLS = pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'capture', 'tls.pcap'))
conns = {}
for f in TLS:
    ihl = (f[14] & 15) * 4
    sp, dp = struct.unpack('!HH', f[14 + ihl:14 + ihl + 4])
    conns.setdefault(min(sp, dp) if min(sp, dp) not in (5061, 8443) else max(sp, dp), []).append(f)
for i, port in enumerate(sorted(conns)):
    d('tls_conn_%d' % i, L_ETH, conns[port])
# servers agreeing to TLS 1.0 and 1.1 (tls-weak.pcap: SIP-INFO-004's ServerHellos)
d('tls_weak', L_ETH, pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data',
                                              'capture', 'tls-weak.pcap')))
# HEP v3 over TCP (hep-tcp.pcap: Kamailio's siptrace to a collector's port
# 9060): the first 40 frames; and a stream with bytes that are not HEP3
# between packets, a magic split over two segments
d('hep_tcp', L_ETH, pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data',
                                             'capture', 'hep-tcp.pcap'))[:40])
_h1, _h2 = hep(INV), hep(OK)
d('hep_tcp_resync', L_ETH, tcp_flow([(I - 1, 0x02, b''), (I, 0x18, _h1 + b'junk' + _h2[:2]),
                                     (I + len(_h1) + 6, 0x18, _h2[2:] + hep(OPT)[:30])], 41000, 9060))
# SIP-INFO-006: the certificates of tls-weak.pcap's servers (1024-bit RSA with SHA-1; expired)
CERTS = []
for f in pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'capture',
                                  'tls-weak.pcap')):
    at = f.find(b'\x0b\x00')  # a Certificate handshake message: type 11, then its 24-bit length
    while at >= 0 and len(CERTS) < 6:
        der = at + 10  # after the message's length, the list's length and the first certificate's
        if der + 4 <= len(f) and f[der:der + 2] == b'\x30\x82':
            n = int.from_bytes(f[der + 2:der + 4], 'big') + 4
            if der + n <= len(f):
                CERTS.append(f[der:der + n])
                break
        at = f.find(b'\x0b\x00', at + 1)
det('tls_certs', [rec(W, c, 1, True) for c in CERTS])
# link types with no Ethernet header (the links-*.pcap files): the index in
# fuzz_decode.c's LINKS
for name, link in (('ppp', 11), ('pppserial', 12), ('chdlc', 13), ('nflog', 14)):
    d('link_' + name, link, pcap_frames(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data',
                                                     'capture', 'links-%s.pcap' % name)))


# ---- fuzz_sctp: byte 0 the limits, then 3-byte chunk records -----------------
def sctp_rec(flags, direction, dtsn, length, step=0, mid=0):
    return bytes([flags | direction << 2 | step << 4 | mid << 6, dtsn & 0xff, length - 1])


# a message in 200 parts (the first ones merged past SCTP_MAX_FRAGS)
write('sctp', 'many_parts', b'\3' + sctp_rec(2, 0, 0, 10) + b''.join(sctp_rec(0, 0, 1, 10) for _ in range(198)) +
      sctp_rec(1, 0, 1, 10))
# one outgrowing max_message 63: handed on oversized, its tail skipped, then the next
write('sctp', 'oversized_skip', b'\0' + sctp_rec(2, 0, 0, 40) + sctp_rec(0, 0, 1, 40) + sctp_rec(0, 0, 1, 40) +
      sctp_rec(1, 0, 1, 40) + sctp_rec(2, 0, 1, 5) + sctp_rec(1, 0, 1, 5))
# out of order, two directions interleaved, I-DATA, timeouts
write('sctp', 'ooo_dirs_idata', b'\6' + sctp_rec(1, 0, 2, 20) + sctp_rec(2, 1, 0, 20) + sctp_rec(2, 0, -2, 20, 1) +
      sctp_rec(0, 3, 1, 9, 0, 1) + sctp_rec(2, 3, -1, 9, 0, 1) + sctp_rec(1, 1, 1, 20, 2) +
      sctp_rec(0, 0, 1, 20, 3) + sctp_rec(1, 3, 2, 9, 0, 1))
# middle parts filling an 8 KiB budget, then a message needing room
write('sctp', 'budget', b'\x19' + b''.join(sctp_rec(0, i % 3, 3, 200) for i in range(120)) + sctp_rec(2, 0, 1, 50) +
      sctp_rec(1, 0, 1, 50))


# ---- fuzz_tcp: 4-byte segment records over 2048 flows -------------------------
def tcp_rec(flow, flags=0x08, port=0, seqmode=0, step=0, rev=0, canned=None, raw=b''):
    v = flow | rev << 11 | step << 12
    how = 0xc0 | canned if canned is not None else len(raw)
    return struct.pack('!HBB', v, flags | port << 4 | seqmode << 6, how) + raw


# the undecided slots full while the oldest one's flow was freed (the pool
# of idle structs full): flows 0 and 1 undecided, 1024 SIP-port flows idle out
# and leave the closed list (30 s) while 0 and 1 stay, flow 1 shows it is not
# SIP, 1024 more undecided, then flow 0's INVITE
write('tcp', 'pending_ring_freed',
      tcp_rec(0, canned=0) + tcp_rec(1, canned=0) +
      b''.join(tcp_rec(2 + i, port=1, canned=3) for i in range(1024)) +
      (tcp_rec(0, step=11) + tcp_rec(1)) * 12 + tcp_rec(1, step=11, canned=4) +
      b''.join(tcp_rec(2 + i, canned=0) for i in range(1024)) + tcp_rec(0, canned=1))
# a SIP-port connection: handshake, a message in order, one after a gap, a
# retransmission, the gap filled, another stream on the tuple, FIN both ways
write('tcp', 'one_conn',
      tcp_rec(5, 0x02, 1) + tcp_rec(5, 0x0a, 1, rev=1) + tcp_rec(5, 0x08, 1, canned=2) +
      tcp_rec(5, 0x08, 1, 1, canned=3) + tcp_rec(5, 0x08, 1, 2, raw=b'INVITE sip:x SIP/2.0\r\n') +
      tcp_rec(5, 0x08, 1, 3, canned=2) + tcp_rec(5, 0x09, 1) + tcp_rec(5, 0x09, 1, rev=1))
# WebSocket on a heuristic port, HEP on its port, a TLS hello
write('tcp', 'ws_hep_tls',
      tcp_rec(7, 0x08, 3, canned=5) + tcp_rec(7, 0x08, 3, rev=1, canned=6) + tcp_rec(7, 0x08, 3, canned=7) +
      tcp_rec(8, 0x08, 2, canned=8) + tcp_rec(9, 0x08, 0, canned=9))
