# Generates tests/data/capture/v6rot-*.pcap (kept in the repo; regenerate with
#   python3 tests/data/capture/make_ipv6_rotation.py   (from the repo root)).
#
# Each one is an example capture of examples/ (real svmap, svwar, svcrack and a
# SIPp INVITE flood on loopback) moved to IPv6, with the attacker sending every
# request from another address of its /64, 2001:db8:1:2::/64, as Linux privacy
# addresses or any raw tool can: the IPv4 example network becomes
#   127.0.0.x -> 2001:db8:ffff::x      (core: SBC, PBX)
#   127.0.1.x -> 2001:db8:ffff:1::x    (IPX partner)
#   127.0.3.x -> 2001:db8:ffff:3::x    (customers)
#   127.0.2.x -> 2001:db8:1:2:<random> (the attacker: a new address per request;
#                                       the answers and the ACK of a request go
#                                       to / come from that request's address)
# SIP headers naming an address get the new one (bodies are left as they are,
# so Content-Length stays right). Frames that are not UDP (ICMP) are dropped.
import random, re, socket, struct

rng = random.Random(38)
ATTACKER_NET = '2001:db8:1:2:'

def v6_of(ip4, fresh):
    """The IPv6 address standing for ip4 (a new one for an attacker's request)."""
    a, b, c, d = (int(x) for x in ip4.split('.'))
    if c == 2:
        if fresh is None:
            fresh = '%x:%x:%x:%x' % tuple(rng.randrange(1, 0x10000) for _ in range(4))
        return ATTACKER_NET + fresh, fresh
    net = {0: '2001:db8:ffff::', 1: '2001:db8:ffff:1::', 3: '2001:db8:ffff:3::'}[c]
    return net + '%x' % d, None

def checksum(data):
    if len(data) % 2: data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def udp6(src, dst, sport, dport, payload):
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    ulen = 8 + len(payload)
    pseudo = s + d + struct.pack('!IxxxB', ulen, 17)
    hdr = struct.pack('!HHHH', sport, dport, ulen, 0)
    ck = checksum(pseudo + hdr + payload) or 0xffff
    udp = struct.pack('!HHHH', sport, dport, ulen, ck) + payload
    return struct.pack('!IHBB16s16s', 0x60000000, len(udp), 17, 64, s, d) + udp

BRANCH = re.compile(rb'^Via:[^\r\n]*?branch=([^;\r\n ,]+)', re.M | re.I)

def rewrite_headers(payload, mapping):
    head, sep, body = payload.partition(b'\r\n\r\n')
    for ip4, ip6 in mapping.items():
        head = re.sub(re.escape(ip4.encode()) + rb'(?![0-9])', b'[' + ip6.encode() + b']', head)
    return head + sep + body

def convert(name):
    src = open('examples/%s.pcap' % name, 'rb').read()
    out = [src[:24]]
    by_branch = {}  # top Via branch -> the attacker address of that request
    off = 24
    while off + 16 <= len(src):
        sec, usec, incl, orig = struct.unpack('<IIII', src[off:off + 16])
        frame = src[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) < 14 + 28 or frame[12:14] != b'\x08\x00' or frame[14 + 9] != 17:
            continue
        ip = frame[14:]
        hl = (ip[0] & 15) * 4
        s4, d4 = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        sport, dport = struct.unpack('!HH', ip[hl:hl + 4])
        payload = ip[hl + 8:struct.unpack('!H', ip[2:4])[0]]
        m = BRANCH.search(payload)
        branch = m.group(1) if m else None
        known = by_branch.get(branch)
        s6, fresh = v6_of(s4, known)
        if fresh is not None and branch is not None: by_branch.setdefault(branch, fresh)
        d6, fresh = v6_of(d4, known)
        if fresh is not None and branch is not None: by_branch.setdefault(branch, fresh)
        payload = rewrite_headers(payload, {s4: s6, d4: d6})
        f = frame[:12] + b'\x86\xdd' + udp6(s6, d6, sport, dport, payload)
        out.append(struct.pack('<IIII', sec, usec, len(f), len(f)) + f)
    open('tests/data/capture/v6rot-%s.pcap' % name, 'wb').write(b''.join(out))

for n in ['scan-svmap', 'enum-svwar', 'brute-svcrack', 'flood-invite']:
    convert(n)
