# pcapgen.py -- the packet builders and the pcap writer the fixture scripts
# here share (make_fixtures.py, make_tunnels.py). Standard library only.
import os, socket, struct, subprocess

def ip4(src, dst, proto, payload, ident=1, frag=0):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + payload
def ip6(src, dst, nh, payload):
    return struct.pack('!IHBB16s16s', 0x60000000, len(payload), nh, 64, socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload
def udp(sp, dp, data): return struct.pack('!HHHH', sp, dp, 8 + len(data), 0) + data
def tcp(sp, dp, seq, flags, data): return struct.pack('!HHIIBBHHH', sp, dp, seq, 0, 5 << 4, flags, 65535, 0, 0) + data
def eth(l3, t=0x0800, tags=()):
    b = b'\x02\0\0\0\0\x01\x02\0\0\0\0\x02'
    for tg in tags: b += struct.pack('!HH', tg, 100)
    return b + struct.pack('!H', t) + l3

# UDP and TCP with their checksums over the pseudo-header (ESP's NULL
# heuristic and fs38's checks read them)
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def addr(a): return socket.inet_pton(socket.AF_INET6 if ':' in a else socket.AF_INET, a)
def pseudo(src, dst, proto, n):
    if ':' in src: return addr(src) + addr(dst) + struct.pack('!IxxxB', n, proto)
    return addr(src) + addr(dst) + struct.pack('!xBH', proto, n)
def udp_c(src, dst, sp, dp, data, zero=False):
    u = struct.pack('!HHHH', sp, dp, 8 + len(data), 0) + data
    if zero: return u
    c = csum(pseudo(src, dst, 17, len(u)) + u) or 0xffff
    return u[:6] + struct.pack('!H', c) + u[8:]
def tcp_c(src, dst, sp, dp, seq, flags, data):
    t = tcp(sp, dp, seq, flags, data)
    c = csum(pseudo(src, dst, 6, len(t)) + t)
    return t[:16] + struct.pack('!H', c) + t[18:]

def sll(l3, t=0x0800):
    """A Linux cooked (SLL) header before l3."""
    return struct.pack('!HHH8sH', 0, 1, 6, b'\x02' * 6 + b'\0\0', t) + l3

def write_pcap(path, frames, t0=1700000000, usec=0, cut=None, linktype=1, order='<', snaplen=65535):
    """pcap of link type linktype (Ethernet), microseconds, frame i at t0 + i
    seconds, in byte order order ('<' little, '>' big endian); cut: keep only
    the first cut bytes of the file. Returns the bytes written."""
    out = struct.pack(order + 'IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, snaplen, linktype)
    for i, f in enumerate(frames):
        out += struct.pack(order + 'IIII', t0 + i, usec, len(f), len(f)) + f
    if cut: out = out[:cut]
    open(path, 'wb').write(out)
    return out


# pcapng (little-endian): a file is png_shb() + interfaces and packets in any order
def png_block(t, body):
    body += b'\0' * ((4 - len(body) % 4) % 4)
    return struct.pack('<II', t, 12 + len(body)) + body + struct.pack('<I', 12 + len(body))
def png_shb():
    return png_block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1))
def png_idb(linktype, tsresol=None, snaplen=262144):
    """An interface; tsresol: the if_tsresol option's byte (None: microseconds)."""
    opts = struct.pack('<HHB3xHH', 9, 1, tsresol, 0, 0) if tsresol is not None else b''
    return png_block(1, struct.pack('<HHI', linktype, 0, snaplen) + opts)
def png_epb(ifid, t, data):
    """An Enhanced Packet of interface ifid at t in the interface's units."""
    return png_block(6, struct.pack('<IIIII', ifid, t >> 32, t & 0xffffffff, len(data), len(data)) + data)


def esp_seal(enc, ekey, auth, akey, spi, seq, nh, payload, seq_hi=None):
    """payload sealed into ESP by esp_seal.c (built by the caller, its path
    in $SEAL): make_esp_sa.sh, make_esp_esn.sh and make_ims_aka.sh. seq_hi:
    the SA has extended sequence numbers, these the high 32 bits."""
    hi = [] if seq_hi is None else [hex(seq_hi)]
    out = subprocess.run([os.environ['SEAL'], enc, ekey, auth, akey, hex(spi), str(seq), str(nh)] + hi,
                         input=payload.hex() + '\n', capture_output=True, text=True, check=True).stdout
    return bytes.fromhex(out.strip())


def scanner_options(n, src, cid, tag):
    """A SIPVicious OPTIONS from src (User-Agent friendly-scanner: SIP-SCAN-001
    at once), Call-ID cid + n, tag and branch suffix tag + n: make_esp_sa.sh,
    make_esp_esn.sh."""
    return (b'OPTIONS sip:100@192.0.2.200 SIP/2.0\r\n'
            b'Via: SIP/2.0/UDP ' + src.encode() + b':5060;branch=z9hG4bK-' + tag + str(n).encode() + b'\r\n'
            b'Max-Forwards: 70\r\nFrom: <sip:100@192.0.2.200>;tag=' + tag + str(n).encode() + b'\r\n'
            b'To: <sip:100@192.0.2.200>\r\nCall-ID: ' + cid + str(n).encode() + b'\r\nCSeq: 1 OPTIONS\r\n'
            b'User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n')
