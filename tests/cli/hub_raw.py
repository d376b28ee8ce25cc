"""hub_raw.py W PORT < REQUEST-BYTES: sends the bytes as they are over one
mutual-TLS connection to the hub on 127.0.0.1:PORT (member op1's certificate
from W/pki) and prints every byte of the answers until the hub closes or 10 s
of silence (for requests curl will not write: two Content-Length headers,
pipelined methods)."""
import socket
import ssl
import sys

w, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(w + "/pki/ca.crt")
ctx.check_hostname = False
ctx.load_cert_chain(w + "/pki/op1.crt", w + "/pki/op1.key")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
s.sendall(sys.stdin.buffer.read())
out = b""
while True:
    try:
        d = s.recv(65536)
    except (socket.timeout, ssl.SSLError):
        break
    if not d:
        break
    out += d
sys.stdout.write(out.decode("latin1"))
