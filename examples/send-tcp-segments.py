#!/usr/bin/env python3
"""send-tcp-segments.py -- SIP over one TCP connection, cut at awkward places.

Usage: send-tcp-segments.py SRC_IP DST_IP DST_PORT

Sends three OPTIONS over one connection: the first one cut into three TCP
segments (inside the start line, inside a header, before the blank line),
then the second and third together in one segment, and a fourth whose body
(Content-Length: 12) arrives in a segment of its own. Reads the answers and
closes. Used by examples/generate.sh so tcp-mixed.pcap exercises stream
reassembly and Content-Length framing. Loopback only.
"""
import socket
import sys
import time

if len(sys.argv) != 4:
    sys.exit(__doc__)
SRC, DST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
if not (SRC.startswith("127.") and DST.startswith("127.")):
    sys.exit("send-tcp-segments.py: loopback addresses only")


def options(n, lport, body=""):
    extra = "Content-Type: text/plain\r\n" if body else ""
    return (f"OPTIONS sip:{DST}:{PORT};transport=tcp SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {SRC}:{lport};branch=z9hG4bK-seg-{n}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:monitor@{SRC}>;tag=seg{n}\r\n"
            f"To: <sip:{DST}>\r\n"
            f"Call-ID: seg-{n}@{SRC}\r\n"
            f"CSeq: {n} OPTIONS\r\n"
            f"Contact: <sip:monitor@{SRC}:{lport};transport=tcp>\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n{body}").encode()


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.settimeout(3)
s.bind((SRC, 0))
s.connect((DST, PORT))
lport = s.getsockname()[1]
gap = 0.05
m1 = options(1, lport)
cuts = [10, m1.index(b"Call-ID") + 5, len(m1) - 2]
for a, b in zip([0] + cuts, cuts + [len(m1)]):
    s.sendall(m1[a:b])
    time.sleep(gap)
s.sendall(options(2, lport) + options(3, lport))
time.sleep(gap)
m4 = options(4, lport, "keepalive-4\n")
s.sendall(m4[:-12])
time.sleep(gap)
s.sendall(m4[-12:])
got = b""
deadline = time.time() + 3
while got.count(b"SIP/2.0 200") < 4 and time.time() < deadline:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    got += chunk
s.close()
n = got.count(b"SIP/2.0 200")
if n != 4:
    sys.exit(f"send-tcp-segments.py: {n} of 4 answers received")
