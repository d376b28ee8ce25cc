# pcap_edit.py -- a copy of a classic pcap file with one frame dropped, one
# byte of it changed, or the frames before it dropped, for the tests that
# need a capture with a hole, a corrupt record, or that starts in the middle
# of connections (standard library only).
#
# Usage: python3 pcap_edit.py IN OUT drop FRAME
#        python3 pcap_edit.py IN OUT flip FRAME OFFSET   (OFFSET from the frame's start)
#        python3 pcap_edit.py IN OUT from FRAME
import struct
import sys

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
        body = bytearray(rec)
        body[16 + int(sys.argv[5])] ^= 0x55  # past the record header
        rec = bytes(body)
    out.append(rec)
if n < frame:
    sys.exit("pcap_edit.py: %s has %d frames, not %d" % (src, n, frame))
open(dst, "wb").write(b"".join(out))
