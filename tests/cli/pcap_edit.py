# pcap_edit.py -- a copy of a classic pcap file with one frame dropped, one
# byte of it changed, or the frames before it dropped, for the tests that
# need a capture with a hole, a corrupt record, or that starts in the middle
# of connections, or whose TCP segment is cut in two (standard library only).
#
# Usage: python3 pcap_edit.py IN OUT drop FRAME
#        python3 pcap_edit.py IN OUT flip FRAME OFFSET   (OFFSET from the frame's start)
#        python3 pcap_edit.py IN OUT from FRAME
#        python3 pcap_edit.py IN OUT split FRAME BYTES  (Ethernet, IPv4, TCP: its payload's
#                                                        first BYTES, then the rest)
#        python3 pcap_edit.py IN OUT later FRAME N      (FRAME moved after the N that follow it)
#        python3 pcap_edit.py IN OUT recut FRAME BYTES  (the TLS handshake record in FRAME's
#                                                        payload that starts with a Certificate
#                                                        cut in two records after its first
#                                                        BYTES: later segments of that direction
#                                                        moved on 5 bytes, the other's ACKs too)
import struct
import sys



def split(rec, cut):
    """Two frames: the TCP payload's first cut bytes, then the rest."""
    hdr, pkt = rec[:16], rec[16:]
    ip = 14
    ihl = (pkt[ip] & 15) * 4
    tcp = ip + ihl
    thl = (pkt[tcp + 12] >> 4) * 4
    total = struct.unpack(">H", pkt[ip + 2:ip + 4])[0]
    payload = pkt[tcp + thl:ip + total]
    seq = struct.unpack(">I", pkt[tcp + 4:tcp + 8])[0]
    frames = []
    for off, part in ((0, payload[:cut]), (cut, payload[cut:])):
        p = bytearray(pkt[:tcp + thl]) + part
        p[ip + 2:ip + 4] = struct.pack(">H", ihl + thl + len(part))
        p[tcp + 4:tcp + 8] = struct.pack(">I", (seq + off) & 0xFFFFFFFF)
        h = bytearray(hdr)
        h[8:16] = struct.pack(endian + "II", len(p), len(p))
        frames.append(bytes(h) + bytes(p))
    return frames


def tcp_at(pkt):
    """Offsets of the TCP header and payload, and the payload's end (Ethernet, IPv4)."""
    ip = 14
    tcp = ip + (pkt[ip] & 15) * 4
    return tcp, tcp + (pkt[tcp + 12] >> 4) * 4, ip + struct.unpack(">H", pkt[ip + 2:ip + 4])[0]


def ends(pkt):
    tcp = tcp_at(pkt)[0]
    return bytes(pkt[26:30] + pkt[tcp:tcp + 2]), bytes(pkt[30:34] + pkt[tcp + 2:tcp + 4])


def recut(rec, cut):
    """FRAME with its Certificate record cut in two after cut bytes of its body."""
    hdr, pkt = rec[:16], bytearray(rec[16:])
    tcp, data, end = tcp_at(pkt)
    pos = data
    while pos + 5 <= end:
        length = struct.unpack(">H", pkt[pos + 3:pos + 5])[0]
        if pkt[pos] == 22 and pkt[pos + 5] == 11:
            break
        pos += 5 + length
    else:
        sys.exit("pcap_edit.py: no Certificate record in frame %d" % frame)
    first = bytes(pkt[pos:pos + 3]) + struct.pack(">H", cut)
    second = bytes(pkt[pos:pos + 3]) + struct.pack(">H", length - cut)
    body = pkt[pos + 5:pos + 5 + length]
    pkt[pos:pos + 5 + length] = first + body[:cut] + second + body[cut:]
    pkt[16:18] = struct.pack(">H", end - 14 + 5)
    h = bytearray(hdr)
    h[8:16] = struct.pack(endian + "II", len(pkt), len(pkt))
    return bytes(h) + bytes(pkt)


def moved(rec, cut_ends):
    """A frame after the recut one: its sequence (that direction) or ACK (the other) 5 on."""
    pkt = bytearray(rec[16:])
    tcp = tcp_at(pkt)[0]
    field = {cut_ends: 4, cut_ends[::-1]: 8}.get(ends(pkt))
    if field:
        value = struct.unpack(">I", pkt[tcp + field:tcp + field + 4])[0]
        pkt[tcp + field:tcp + field + 4] = struct.pack(">I", (value + 5) & 0xFFFFFFFF)
    return rec[:16] + bytes(pkt)


src, dst, op, frame = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cut_ends = None
data = open(src, "rb").read()
magic = data[:4]
endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
out, pos, n = [data[:24]], 24, 0
while pos + 16 <= len(data):
    caplen = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
    rec = data[pos:pos + 16 + caplen]
    pos += 16 + caplen
    n += 1
    if op == "from" and n < frame:
        continue
    if n == frame and op != "from":
        if op == "drop":
            continue
        if op == "split":
            out.extend(split(rec, int(sys.argv[5])))
            continue
        if op == "recut":
            out.append(recut(rec, int(sys.argv[5])))
            cut_ends = ends(rec[16:])
            continue
        if op == "later":
            held, wait = rec, int(sys.argv[5])
            continue
        body = bytearray(rec)
        body[16 + int(sys.argv[5])] ^= 0x55  # past the record header
        rec = bytes(body)
    out.append(moved(rec, cut_ends) if cut_ends else rec)
    if op == "later" and n > frame and n - frame == wait:
        out.append(held)
if n < frame:
    sys.exit("pcap_edit.py: %s has %d frames, not %d" % (src, n, frame))
open(dst, "wb").write(b"".join(out))
