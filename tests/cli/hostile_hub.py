#!/usr/bin/env python3
"""hostile_hub.py PORT CERT KEY CA MODE LOG: a hub that misbehaves, for the
clients' bounds (tests/cli/test_share_pull.sh). TLS with the test PKI (a
client certificate is asked for, as the real hub does). Every request's
line is appended to LOG. MODE:
  closing  /v1/events: nothing new; /v1/stream: 200, then the connection closes
  pings    /v1/events: nothing new; /v1/stream: comment lines back to back, never an event
  slow     /v1/events: an answer that trickles, a byte every 0.3 s
  bloat    /v1/events: 16 MiB of "[]," (valid-looking JSON that costs 50 times its size)
  escape   every request: 500 with terminal escape sequences in the body
  handshake  no TLS: the start of a 16 KiB handshake record, then a byte every 0.3 s
  record   /v1/events: the answer in one TLS record that comes a byte every 0.3 s
  record-stream  /v1/events: nothing new; /v1/stream: 200 at once, then an event in
           one TLS record that comes a byte every 0.3 s
  malformed  /v1/events: items without a jws string or a seq
  badjson  POST /v1/events: 200 with a JSON text cut short
  reset    /v1/events: 200 without a length, the start of the JSON, then a TCP reset
  ratelimited  POST /v1/events: 429 with Retry-After until 3 s after the first, then
             both items of the batch stored
  deaf     POST /v1/events: no 100 Continue to an Expect (the line is logged with
           " expect" after it), the body read, both items of the batch stored
  trailers /v1/events: nothing new; /v1/stream: chunked, a ping, the last chunk, then
           trailer lines without end, one every 0.5 s
  jsonstream  /v1/events: nothing new; /v1/stream: 200 with Content-Type application/json,
           nothing new, and the connection closes
  newkid   GET /v1/registry: the file $HH_REG1 (a registry without the signer of $HH_JWS),
           then 503, then the file $HH_REG; /v1/events?after=0: the JWS in the file $HH_JWS
           as seq 1; /v1/events after 1: nothing new
"""
import os, socket, ssl, struct, sys, threading, time

port, cert, key, ca, mode, log = int(sys.argv[1]), *sys.argv[2:7]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_REQUIRED
nothing = b'{"events":[],"next":0}'
first_post = []
registry_answers = []

def answer(c, status, body, ctype=b"application/json"):
    c.sendall(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
              % (status, ctype, len(body)) + body)

def serve(c):
    try:
        req = b""
        while b"\r\n\r\n" not in req:
            got = c.recv(4096)
            if not got: return
            req += got
        line = req.split(b"\r\n", 1)[0].decode(errors="replace")
        expect = b"\r\nexpect: 100-continue\r\n" in req.split(b"\r\n\r\n", 1)[0].lower() + b"\r\n"
        with open(log, "a") as f: f.write(line + (" expect" if expect else "") + "\n")
        path = line.split(" ")[1] if " " in line else ""
        if line.startswith("POST"):  # the whole body before answering
            head, body = req.split(b"\r\n\r\n", 1)
            want = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            while len(body) < want:
                got = c.recv(65536)
                if not got: return
                body += got
        if mode == "ratelimited" and line.startswith("POST"):
            now = time.time()
            if not first_post: first_post.append(now)
            left = first_post[0] + 3 - now
            if left > 0:
                c.sendall(b"HTTP/1.1 429 X\r\nContent-Type: application/json\r\nRetry-After: %d\r\n"
                          b"Content-Length: 2\r\nConnection: close\r\n\r\n{}" % max(1, round(left)))
            else:
                answer(c, 200, b'{"results":[{"i":0,"status":"stored","seq":1},{"i":1,"status":"stored","seq":2}]}')
        elif mode == "deaf" and line.startswith("POST"):
            answer(c, 200, b'{"results":[{"i":0,"status":"stored","seq":1},{"i":1,"status":"stored","seq":2}]}')
        elif mode == "escape":
            answer(c, 500, b'{"error":"\x1b[2J\x1b]0;pwned\x07 hub says no"}')
        elif mode == "trailers" and path.startswith("/v1/stream"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n3\r\n:\n\n\r\n0\r\n")
            end = time.time() + 30
            while time.time() < end:
                c.sendall(b"X-More: 1\r\n"); time.sleep(0.5)
        elif mode == "jsonstream" and path.startswith("/v1/stream"):
            answer(c, 200, nothing)
        elif path.startswith("/v1/stream"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            if mode == "pings":
                block = b":\n" * 4096
                end = time.time() + 30
                while time.time() < end: c.sendall(block)
        elif mode == "slow":
            body = nothing + b" " * 200
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
            for b in body:
                c.sendall(bytes([b])); time.sleep(0.3)
        elif mode == "malformed" and path.startswith("/v1/events"):
            answer(c, 200, b'{"events":[{"jws":5,"seq":1},{"seq":2}],"next":0}')
        elif mode == "badjson" and line.startswith("POST"):
            answer(c, 200, b'{"results":[{"i":0,"status":"stored"')
        elif mode == "reset":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                      b'{"events":[')
            time.sleep(0.3)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "newkid" and path.startswith("/v1/registry"):
            registry_answers.append(1)
            if len(registry_answers) == 2:
                answer(c, 503, b'{"error":"busy"}')
            else:
                with open(os.environ["HH_REG1" if len(registry_answers) == 1 else "HH_REG"], "rb") as f:
                    answer(c, 200, f.read())
        elif mode == "newkid" and path.startswith("/v1/events?after=0&"):
            with open(os.environ["HH_JWS"], "rb") as f:
                answer(c, 200, b'{"events":[{"seq":1,"jws":"%s"}],"next":1}' % f.read().strip())
        elif mode == "newkid" and path.startswith("/v1/events"):
            answer(c, 200, b'{"events":[],"next":1}')
        elif mode == "bloat":
            answer(c, 200, b'{"events":[' + b"[]," * ((16 << 20) // 3) + b'[]],"next":0}')
        else:
            answer(c, 200, nothing)
    except (OSError, ssl.SSLError):
        pass
    finally:
        try: c.close()
        except OSError: pass

def trickle_handshake(c):
    try:
        c.recv(4096)  # the ClientHello
        with open(log, "a") as f: f.write("handshake\n")
        c.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16,384 bytes...
        for _ in range(200):  # ...that comes a byte at a time, each within the read timeout
            c.sendall(b"\x00"); time.sleep(0.3)
    except OSError:
        pass
    finally:
        c.close()

def trickle_record(raw):
    """TLS by hand (memory BIOs): what is sent can be cut inside a record."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_side=True)
    def more():
        d = raw.recv(65536)
        if not d: raise OSError("closed")
        inc.write(d)
    try:
        while True:
            try:
                o.do_handshake(); break
            except ssl.SSLWantReadError:
                raw.sendall(out.read()); more()
        raw.sendall(out.read())
        req = b""
        while b"\r\n\r\n" not in req:
            try: req += o.read(65536)
            except ssl.SSLWantReadError: more()
        line = req.split(b"\r\n", 1)[0].decode(errors="replace")
        expect = b"\r\nexpect: 100-continue\r\n" in req.split(b"\r\n\r\n", 1)[0].lower() + b"\r\n"
        with open(log, "a") as f: f.write(line + (" expect" if expect else "") + "\n")
        if line.split(" ")[1].startswith("/v1/stream"):
            o.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n:\n\n")
            raw.sendall(out.read())
            o.write(b"id: 1\nevent: event\ndata: " + b"x" * 8000 + b"\n\n")
        elif mode == "record-stream":
            o.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % len(nothing) + nothing)
            raw.sendall(out.read())
            return
        else:
            body = nothing + b" " * 8000
            o.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % len(body) + body)
        rec = out.read()
        for i in range(len(rec)):
            raw.sendall(rec[i:i + 1]); time.sleep(0.3)
    except (OSError, ssl.SSLError):
        pass
    finally:
        raw.close()

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(64)
ls.settimeout(60)
end = time.time() + 60
while time.time() < end:
    try:
        raw, _ = ls.accept()
        raw.settimeout(40)
        if mode == "handshake":
            threading.Thread(target=trickle_handshake, args=(raw,), daemon=True).start()
            continue
        if mode.startswith("record"):
            threading.Thread(target=trickle_record, args=(raw,), daemon=True).start()
            continue
        c = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError):
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
