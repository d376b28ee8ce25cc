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


src, dst, op, frame = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
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
        if op == "later":
            held, wait = rec, int(sys.argv[5])
            continue
        body = bytearray(rec)
        body[16 + int(sys.argv[5])] ^= 0x55  # past the record header
        rec = bytes(body)
    out.append(rec)
    if op == "later" and n > frame and n - frame == wait:
        out.append(held)
if n < frame:
    sys.exit("pcap_edit.py: %s has %d frames, not %d" % (src, n, frame))
open(dst, "wb").write(b"".join(out))
