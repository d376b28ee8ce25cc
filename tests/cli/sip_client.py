# sip_client.py -- a SIP over TLS (RFC 3261 26.2, RFC 5630) and SIP over
# WebSocket (RFC 7118, plain or secure) client for the live tests, standard
# library only. From SRC it connects to HOST:PORT (with TLS: writing the
# session keys to KEYLOG, the NSS key log format SSLKEYLOGFILE makes OpenSSL
# write), sends its requests and reads an answer to each, then closes.
#
# MODE: tls13          TLS 1.3 (the suite OpenSSL prefers: AES-256-GCM)
#       tls12-aes128   TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256
#       tls12-aes256   TLS 1.2, ECDHE-RSA-AES256-GCM-SHA384
#       tls12-chacha   TLS 1.2, ECDHE-RSA-CHACHA20-POLY1305
#       tls12-cbc      TLS 1.2, ECDHE-RSA-AES128-SHA (AES-CBC, HMAC-SHA1,
#                      encrypt-then-MAC as OpenSSL agrees by default)
#       wss13          TLS 1.3, then a WebSocket for "sip" (masked frames)
#       ws             no TLS (KEYLOG is not used): a WebSocket for "sip"
# Requests: N OPTIONS with a scanner's User-Agent (Call-ID <tag>-<i>), each
# in its own write; with BIG, then two OPTIONS in one write and a MESSAGE
# of 12,000 bytes written in three parts (three TLS records; over WebSocket
# one frame).
#
# Usage: python3 sip_client.py SRC HOST PORT KEYLOG MODE N TAG [BIG]
import os
import socket
import ssl
import sys

src, host, port, keylog, mode, n, tag = sys.argv[1:8]
port, n, big = int(port), int(n), len(sys.argv) > 8

raw = socket.socket()
raw.bind((src, 0))
raw.settimeout(5)
raw.connect((host, port))
if mode == "ws":
    s = raw
else:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = keylog
    if mode.startswith("tls12"):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers({"tls12-aes128": "ECDHE-RSA-AES128-GCM-SHA256",
                         "tls12-aes256": "ECDHE-RSA-AES256-GCM-SHA384",
                         "tls12-chacha": "ECDHE-RSA-CHACHA20-POLY1305",
                         "tls12-cbc": "ECDHE-RSA-AES128-SHA"}[mode])
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    s = ctx.wrap_socket(raw)
ws = mode.startswith("ws")
got = b""


def frame(payload):
    key = os.urandom(4)
    size = len(payload)
    if size < 126:
        hdr = bytes([0x81, 0x80 | size])
    elif size < 65536:
        hdr = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        hdr = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


if ws:
    s.sendall(b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n" % (host.encode(), port))
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("the server closed the connection during the handshake")
        got += chunk
    if not got.startswith(b"HTTP/1.1 101"):
        sys.exit("handshake refused: %r" % got[:80])
    got = got[got.index(b"\r\n\r\n") + 4:]

via = "%s df7jal23ls0d.invalid" % mode[:3].upper().rstrip("1") if ws else "TLS %s" % src


def request(method, i, body=b""):
    head = ("%s sip:100@%s SIP/2.0\r\nVia: SIP/2.0/%s;branch=z9hG4bK-%s%d\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:100@%s>;tag=t%d\r\nTo: <sip:100@%s>\r\nCall-ID: %s-%d\r\n"
            "CSeq: 1 %s\r\nUser-Agent: friendly-scanner\r\n%sContent-Length: %d\r\n\r\n"
            % (method, host, via, tag, i, host, i, host, tag, i, method,
               "Content-Type: text/plain\r\n" if body else "", len(body)))
    return head.encode() + body


def send(data):
    s.sendall(frame(data) if ws else data)


msgs = [request("OPTIONS", i) for i in range(n)]
for m in msgs:
    send(m)
want = n
if big:
    if ws:
        send(request("OPTIONS", n))
        send(request("OPTIONS", n + 1))
    else:
        send(request("OPTIONS", n) + request("OPTIONS", n + 1))
    message = request("MESSAGE", n + 2, b"x" * 12000)
    if ws:
        send(message)
    else:  # one message in three TLS records
        for a, b in ((0, 300), (300, 6300), (6300, len(message))):
            send(message[a:b])
    want += 3


def answers(buf):
    """Complete answers at the front of buf (plain SIP or WebSocket frames)."""
    count = 0
    while True:
        if ws:
            if len(buf) < 2:
                return count, buf
            size, hl = buf[1] & 0x7f, 2
            if size == 126:
                if len(buf) < 4:
                    return count, buf
                size, hl = int.from_bytes(buf[2:4], "big"), 4
            if len(buf) < hl + size:
                return count, buf
            msg, buf = buf[hl:hl + size], buf[hl + size:]
        else:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return count, buf
            head = buf[:end].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n"):
                if line.startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if len(buf) < end + 4 + length:
                return count, buf
            msg, buf = buf[:end + 4 + length], buf[end + 4 + length:]
        if not msg.startswith(b"SIP/2.0 "):
            sys.exit("unexpected answer: %r" % msg[:60])
        count += 1


replies = 0
while replies < want:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("the server closed the connection after %d answers" % replies)
    got += chunk
    k, got = answers(got)
    replies += k
if ws:
    s.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + b"\x03\xe8")
s.close()
print("answers", replies)
