# ws_client.py -- a SIP over WebSocket client (RFC 7118) for
# tests/cli/test_ws_live.sh, standard library only: from SRC it opens a
# WebSocket for the "sip" subprotocol to HOST:PORT, sends N OPTIONS (a
# scanner's User-Agent, Call-ID wslive-<i>) in masked text frames, reads a
# 200 for each, and closes.
#
# Usage: python3 ws_client.py SRC HOST PORT N
import os
import socket
import sys

src, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket()
s.bind((src, 0))
s.settimeout(5)
s.connect((host, port))
s.sendall(b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n"
          b"Sec-WebSocket-Version: 13\r\n\r\n" % (host.encode(), port))
got = b""
while b"\r\n\r\n" not in got:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("the server closed the connection during the handshake")
    got += chunk
if not got.startswith(b"HTTP/1.1 101"):
    sys.exit("handshake refused: %r" % got[:80])
got = got[got.index(b"\r\n\r\n") + 4:]


def frame(payload, opcode=1):
    key = os.urandom(4)
    size = len(payload)
    hdr = bytes([0x80 | opcode, 0x80 | (size if size < 126 else 126)])
    if size >= 126:
        hdr += size.to_bytes(2, "big")
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


for i in range(n):
    s.sendall(frame(("OPTIONS sip:100@%s SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-ws%d\r\n"
                     "Max-Forwards: 70\r\nFrom: <sip:100@%s>;tag=w%d\r\nTo: <sip:100@%s>\r\nCall-ID: wslive-%d\r\n"
                     "CSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"
                     % (host, i, host, i, host, i)).encode()))
replies = 0
while replies < n:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("the server closed the connection after %d replies" % replies)
    got += chunk
    while len(got) >= 2:
        size, hl = got[1] & 0x7f, 2
        if size == 126:
            if len(got) < 4:
                break
            size, hl = int.from_bytes(got[2:4], "big"), 4
        if len(got) < hl + size:
            break
        payload, got = got[hl:hl + size], got[hl + size:]
        if not payload.startswith(b"SIP/2.0 200"):
            sys.exit("unexpected reply: %r" % payload[:60])
        replies += 1
s.sendall(frame(b"\x03\xe8", 8))
s.close()
print("replies", replies)
