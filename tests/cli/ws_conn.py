"""ws_conn.py -- one SIP over WebSocket connection for test_ws.sh's captures.

ws_conn(cli, port, ext) opens it: the TCP handshake from cli:<32000 + port> to
192.0.2.200:<port>, the upgrade asking for and granted the "sip" subprotocol
(ext: a Sec-WebSocket-Extensions line both sides send, or b''). It returns
(frames, seg): seg('c' | 's', data, flags) appends a segment of that side.
ws_opt(...) is a scanner's OPTIONS over WebSocket.
"""
import sys

sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, tcp, eth  # noqa: E402

SRV = '192.0.2.200'


def ws_conn(cli, port, ext=b''):
    out, seq = [], {'c': 1000, 's': 5000}

    def seg(d, data=b'', flags=0x18):
        src, dst, sp, dp = (cli, SRV, 32000 + port, port) if d == 'c' else (SRV, cli, port, 32000 + port)
        out.append(eth(ip4(src, dst, 6, tcp(sp, dp, seq[d], flags, data))))
        seq[d] += len(data) + (1 if flags & 0x02 else 0)

    seg('c', flags=0x02); seg('s', flags=0x12); seg('c', flags=0x10)
    seg('c', b'GET /ws HTTP/1.1\r\nHost: 192.0.2.200\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
             b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n'
             b'Sec-WebSocket-Version: 13\r\n' + ext + b'\r\n')
    seg('s', b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
             b'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n' + ext + b'\r\n')
    return out, seg


def ws_opt(cli, tag, call_id, pad=b''):
    """OPTIONS from a friendly-scanner at cli; tag names branch and From tag, pad goes before User-Agent."""
    return (b'OPTIONS sip:100@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/WS %s:5060;branch=z9hG4bK-%s\r\n'
            b'Max-Forwards: 70\r\nFrom: <sip:100@192.0.2.200>;tag=%s\r\nTo: <sip:100@192.0.2.200>\r\n'
            b'Call-ID: %s\r\nCSeq: 1 OPTIONS\r\n%sUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n'
            % (cli.encode(), tag, tag, call_id, pad))
