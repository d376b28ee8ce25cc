#!/usr/bin/env python3
"""pg_lost_commit.py LISTEN_PORT PG_PORT ARMFILE -- a loopback TCP proxy to PostgreSQL
(tests/cli/test_hub.sh).
While ARMFILE exists, the first simple-protocol COMMIT that the server answers
"COMMIT" (so the transaction IS durable) has its answer swallowed and the
connection cut: what a client sees when PostgreSQL is killed, or the network
drops, between the commit and the reply. ARMFILE is removed when it fires."""
import os, select, socket, sys, threading, time
lp, pp, arm = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
Q = b"Q\x00\x00\x00\x0bCOMMIT\x00"
C = b"C\x00\x00\x00\x0bCOMMIT\x00"
lock = threading.Lock()
def pump(c):
    s = socket.create_connection(("127.0.0.1", pp))
    waiting = False
    try:
        while True:
            r, _, _ = select.select([c, s], [], [], 300)
            if not r: return
            for x in r:
                d = x.recv(65536)
                if not d: return
                if x is c:
                    if Q in d:
                        with lock:
                            if os.path.exists(arm):
                                os.unlink(arm); waiting = True
                    s.sendall(d)
                else:
                    if waiting and C in d:
                        print(time.strftime("%T"), "pgproxy: COMMIT answered by the server; answer dropped, connection cut", flush=True)
                        return
                    c.sendall(d)
    except OSError:
        pass
    finally:
        c.close(); s.close()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lp)); ls.listen(64)
end = time.time() + 120
while time.time() < end:
    ls.settimeout(5)
    try: c, _ = ls.accept()
    except socket.timeout: continue
    threading.Thread(target=pump, args=(c,), daemon=True).start()
