#!/usr/bin/env python3
"""send-malformed.py -- send invalid SIP messages as UDP datagrams.

Usage: send-malformed.py SRC_IP DST_IP DST_PORT [GAP_MS]

Each message below is one datagram. They are written for this project after
the categories of RFC 4475 section 3.1.2 (invalid messages): each breaks the
SIP grammar of RFC 3261 in a way a parser must reject without harm. Loopback
destinations only.
"""
import socket
import sys
import time

CRLF = "\r\n"


def msg(lines, body=""):
    return (CRLF.join(lines) + CRLF + CRLF + body).encode("latin-1")


def common(method, ruri, branch, cseq=1):
    return [
        f"Via: SIP/2.0/UDP {SRC}:5060;branch=z9hG4bK-mal-{branch}",
        "Max-Forwards: 70",
        f"From: <sip:mal@{SRC}>;tag=mal{branch}",
        f"To: <{ruri}>",
        f"Call-ID: mal-{branch}@{SRC}",
        f"CSeq: {cseq} {method}",
    ]


def messages():
    target = f"sip:200@{DST}"
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.2.50\r\ns=-\r\nc=IN IP4 127.0.2.50\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    out = []
    # 1 negative Content-Length (RFC 4475 3.1.2.1 style)
    out.append(msg([f"INVITE {target} SIP/2.0"] + common("INVITE", target, 1) +
                   ["Content-Type: application/sdp", "Content-Length: -999"], sdp))
    # 2 Request-URI enclosed in <> (3.1.2.5 style)
    out.append(msg([f"INVITE <{target}> SIP/2.0"] + common("INVITE", target, 2) +
                   ["Content-Length: 0"]))
    # 3 whitespace inside the Request-URI (3.1.2.6 style)
    out.append(msg([f"INVITE sip:200@{DST}; transport=udp SIP/2.0"] + common("INVITE", target, 3) +
                   ["Content-Length: 0"]))
    # 4 leading whitespace before the method (3.1.2.7 style)
    out.append(msg([f"   OPTIONS {target} SIP/2.0"] + common("OPTIONS", target, 4) +
                   ["Content-Length: 0"]))
    # 5 unknown protocol version (3.1.2.14 style)
    out.append(msg([f"OPTIONS {target} SIP/7.0"] + common("OPTIONS", target, 5) +
                   ["Content-Length: 0"]))
    # 6 status code far beyond three digits (3.1.2.16 style)
    out.append(msg(["SIP/2.0 4294967301 better not break the receiver"] + common("OPTIONS", target, 6) +
                   ["Content-Length: 0"]))
    # 7 Content-Length larger than the datagram (3.1.2.10 style)
    out.append(msg([f"INVITE {target} SIP/2.0"] + common("INVITE", target, 7) +
                   ["Content-Type: application/sdp", "Content-Length: 9999"], sdp))
    # 8 header line without a colon, and a CSeq number beyond 2^32 (3.1.2.2 style)
    out.append(msg([f"OPTIONS {target} SIP/2.0",
                    f"Via SIP/2.0/UDP {SRC}:5060;branch=z9hG4bK-mal-8",
                    "Max-Forwards: 70", f"From: <sip:mal@{SRC}>;tag=mal8", f"To: <{target}>",
                    f"Call-ID: mal-8@{SRC}", "CSeq: 99999999999999999999 OPTIONS", "Content-Length: 0"]))
    # 9 unterminated quoted display name (3.1.2.8 style)
    out.append(msg([f"INVITE {target} SIP/2.0",
                    f"Via: SIP/2.0/UDP {SRC}:5060;branch=z9hG4bK-mal-9", "Max-Forwards: 70",
                    f"From: \"Mal Formed <sip:mal@{SRC}>;tag=mal9", f"To: <{target}>",
                    f"Call-ID: mal-9@{SRC}", "CSeq: 1 INVITE", "Content-Length: 0"]))
    # 10 control bytes and NUL inside the header section
    out.append(msg([f"OPTIONS {target} SIP/2.0"] + common("OPTIONS", target, 10) +
                   ["X-Junk: \x00\x01\x02\x7f\x1b[2J", "Content-Length: 0"]))
    # 11 start line only, no header section end (truncated)
    out.append(f"REGISTER sip:{DST} SIP/2.0\r\nVia: SIP/2.0/UDP {SRC}:5060;bra".encode())
    return out


if len(sys.argv) not in (4, 5):
    sys.exit(__doc__)
SRC, DST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
GAP = (int(sys.argv[4]) if len(sys.argv) == 5 else 100) / 1000.0
for a in (SRC, DST):
    if not a.startswith("127."):
        sys.exit("send-malformed.py: loopback addresses only")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((SRC, 5060))
for m in messages():
    s.sendto(m, (DST, PORT))
    time.sleep(GAP)
s.close()
