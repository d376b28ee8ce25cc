#!/usr/bin/env python3
# make_cases.py -- writes the inputs of tests/data/cve (one SIP message per
# file, named after the CVE / advisory / issue it reproduces; see
# MANIFEST.tsv for the source and the verdict). Run again after changing it.
import os
D = os.path.dirname(os.path.abspath(__file__))
def req(method=b'INVITE', ruri=b'sip:bob@biloxi.example.com', hdrs=None, body=b'', ct=None, cl=None, via=None, frm=None, to=None, cseq=None, cid=b'cve-test-1@192.0.2.1', extra=b''):
    via = via if via is not None else b'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds'
    frm = frm if frm is not None else b'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774'
    to = to if to is not None else b'To: Bob <sip:bob@biloxi.example.com>'
    cseq = cseq if cseq is not None else b'CSeq: 314159 ' + method
    lines = [method + b' ' + ruri + b' SIP/2.0', via, b'Max-Forwards: 70', to, frm,
             b'Call-ID: ' + cid if cid is not None else None, cseq, b'Contact: <sip:alice@192.0.2.1>']
    lines = [l for l in lines if l is not None]
    if extra: lines += extra.split(b'\r\n')
    if ct: lines.append(b'Content-Type: ' + ct)
    lines.append(b'Content-Length: ' + (str(len(body)).encode() if cl is None else cl))
    return b'\r\n'.join(lines) + b'\r\n\r\n' + body
SDP = (b'v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n'
       b't=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n')
cases = {}
# libosip2 CVE-2016-10324: osip_clrncpy (trim helper) overflow on a value of whitespace only
cases['CVE-2016-10324.sip'] = req(cid=None, extra=b'Call-ID:    \t  ')
# libosip2 CVE-2017-7853: msg_osip_body_parse overflow: multipart body cut right after a delimiter
cases['CVE-2017-7853.sip'] = req(ct=b'multipart/mixed;boundary=unique-boundary-1',
    body=b'--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n' + SDP + b'--unique-boundary-1')
# Kamailio CVE-2018-14767: two To headers, empty To tag
cases['CVE-2018-14767.sip'] = req(to=b'To: <sip:bob@biloxi.example.com>;tag=\r\nTo: <sip:eve@evil.example.com>')
# Kamailio CVE-2018-16657: invalid Via (no sent-by) reaching check_via_address / To-tag CRC
cases['CVE-2018-16657.sip'] = req(method=b'OPTIONS', via=b'Via: SIP/2.0/UDP ;branch=z9hG4bKx', to=b'To: <sip:bob@biloxi.example.com>;tag=a')
# Kamailio CVE-2018-8828: REGISTER with a malformed (empty) branch and From tag, off-by-one in tmx pretran
cases['CVE-2018-8828.sip'] = req(method=b'REGISTER', ruri=b'sip:biloxi.example.com',
    via=b'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=', frm=b'From: <sip:alice@biloxi.example.com>;tag=', to=b'To: <sip:alice@biloxi.example.com>')
# Kamailio CVE-2016-2385: SEAS encode_msg overflow with a large SIP packet (long header fields)
cases['CVE-2016-2385.sip'] = req(extra=b'X-Pad: ' + b'A' * 6000)
# Kamailio issue 2044: INVITE with every line end removed
cases['kamailio-2044.sip'] = req().replace(b'\r\n', b'')
# Kamailio issue 4656: two adjacent boundary delimiters (empty MIME part)
cases['kamailio-4656.sip'] = req(ct=b'multipart/mixed;boundary=myboundary',
    body=b'--myboundary\r\nContent-Type: application/sdp\r\n\r\n' + SDP + b'\r\n--myboundary\r\n--myboundary--\r\n')
# Kamailio issue 4657: a part's headers run to the end of the body (no empty line, no closing delimiter)
cases['kamailio-4657.sip'] = req(ct=b'multipart/mixed;boundary=myboundary',
    body=b'--myboundary\r\nContent-Type: application/sdp')
# OpenSIPS issue 78: Content-Length 2147483648 with a short body (SIP torture test 2390)
cases['opensips-78.sip'] = req(ct=b'application/sdp', body=SDP, cl=b'2147483648')
# OpenSIPS issue 2285: Contact with a stray '"' after the '>'
cases['opensips-2285.sip'] = req().replace(b'Contact: <sip:alice@192.0.2.1>', b'Contact: <sip:42@192.0.2.1:5060;ob>"')
# Asterisk AST-2016-009: CTL octet between header name and colon ("To\x01:"), a second To
cases['AST-2016-009.sip'] = req(to=b'To: <sip:bob@biloxi.example.com>;tag=in-dialog\r\nTo\x01: <sip:bob@biloxi.example.com>')
# belle-sip CVE-2021-43611: From display name ending in a backslash
cases['CVE-2021-43611.sip'] = req(frm=b'From: "Alice \\" <sip:alice@atlanta.example.com>;tag=1928301774')
# belle-sip CVE-2021-33056: a single '/' as the From/To URI ("</>")
cases['CVE-2021-33056.sip'] = req(frm=b'From: </>;tag=1928301774')
# PJSIP issue 2093 (AST-2018-002): SDP media format 4294967296
cases['pjsip-2093.sip'] = req(ct=b'application/sdp', body=SDP.replace(b'RTP/AVP 0', b'RTP/AVP 4294967296'))
# PJSIP issue 2092 (AST-2018-003): NUL inside an SDP a=fmtp attribute name
cases['pjsip-2092.sip'] = req(ct=b'application/sdp', body=SDP + b'a=fmtp\x00:101 0-16\r\n')
# PJSIP issue 2016 (AST-2017-002): crafted CSeq + Via without branch (RFC 2543 key overflow)
cases['pjsip-2016.sip'] = req(via=b'Via: SIP/2.0/UDP 192.0.2.1:5060', cseq=b'CSeq: 99999999999999999999 INVITE')
# PJSIP issue 2017 (AST-2017-003): zero-length multipart body part
cases['pjsip-2017.sip'] = req(ct=b'multipart/mixed;boundary=b1',
    body=b'--b1\r\nContent-Type: text/plain\r\n\r\n\r\n--b1\r\nContent-Type: application/sdp\r\n\r\n' + SDP + b'\r\n--b1--\r\n')
# PJSIP CVE-2022-21723 (AST-2022-006): malformed multipart: boundary parameter that never occurs in the body
cases['CVE-2022-21723.sip'] = req(ct=b'multipart/mixed;boundary=nothere',
    body=b'--elsewhere\r\nContent-Type: application/sdp\r\n\r\n' + SDP + b'--elsewhere--\r\n')
# PJSIP issue 1092: "Contact: *" in an INVITE
cases['pjsip-1092.sip'] = req().replace(b'Contact: <sip:alice@192.0.2.1>', b'Contact: *')
# sofia-sip GHSA-79jq-hh82-cv9g: sip_method_d OOB read: CSeq number with no method
cases['GHSA-79jq-hh82-cv9g.sip'] = req(cseq=b'CSeq: 1 ')
# sofia-sip GHSA-g3x6-p824-x6hm: url_canonize OOB read on a trailing '%'; drachtio issue 243 "Contact: %"
cases['GHSA-g3x6-p824-x6hm.sip'] = req(method=b'REGISTER', ruri=b'sip:biloxi.example.com',
    to=b'To: <sip:alice@biloxi.example.com>', frm=b'From: <sip:alice@biloxi.example.com>;tag=2013202359').replace(
    b'Contact: <sip:alice@192.0.2.1>', b'Contact: %')
# FreeSWITCH issue 1518: non-ASCII octet in the SDP m= proto ("TCP/\xc3\x84/MSRP")
cases['freeswitch-1518.sip'] = req(ct=b'application/sdp', body=SDP.replace(b'RTP/AVP 0', b'TCP/\xc3\x84/MSRP 3 97'))
# sngrep issue 541: empty Warning header (zero-length warn-code copy)
cases['sngrep-541.sip'] = (req(extra=b'Warning:'))
# sngrep PR 267: CSeq 115211521152
cases['sngrep-267.sip'] = req(cseq=b'CSeq: 115211521152 INVITE')
# sngrep issue 512: 4096-octet Call-ID
cases['sngrep-512.sip'] = req(cid=b'A' * 4096)
# sngrep issue 114: empty user part in From
cases['sngrep-114.sip'] = req(frm=b'From: <sip:@192.168.0.200>;tag=0fa1db9751ba499a828ee898b7dda1b1')
# pkts PR 110 / issue 106: To and From separated by a bare LF (parser looped)
cases['pkts-110.sip'] = req().replace(b'\r\nFrom:', b'\nFrom:')
# Zeek PR 43: a request line and nothing else, no line end (binpac read out of bounds)
cases['zeek-43.sip'] = b'INVITE sip:bob@biloxi.example.com SIP/2.0'
for k, v in cases.items():
    open(os.path.join(D, k), 'wb').write(v)

x = {}
base = req()
x['diff-bare-cr-header.sip'] = base.replace(b'Max-Forwards: 70\r\n', b'Max-Forwards: 70\r\nSubject: hi\rTo: <sip:eve@evil.example.com>;tag=forged\r\n')
x['diff-bare-cr-eoh.sip'] = base.replace(b'Max-Forwards: 70\r\n', b'Max-Forwards: 70\r\nSubject: hi\r\r\n')
x['diff-nul-value.sip'] = base.replace(b'Call-ID: cve-test-1@192.0.2.1', b'Call-ID: cve-test-1@192.0.2.1\x00injected')
x['diff-nul-name.sip'] = base.replace(b'To: Bob', b'To\x00: Bob')
x['diff-del-value.sip'] = base.replace(b'Max-Forwards: 70\r\n', b'Max-Forwards: 70\r\nSubject: a\x7fb\r\n')
x['diff-cl-dup-stream.sip'] = req(method=b'MESSAGE', ct=b'text/plain', body=b'', cl=b'0\r\nContent-Length: 37') + req(method=b'BYE', cid=b'smuggled@192.0.2.1')[:37]
x['diff-cl-compact-dup.sip'] = req(method=b'MESSAGE', ct=b'text/plain', body=b'hello', cl=b'5\r\nl: 0')
x['diff-cl-plus.sip'] = req(method=b'MESSAGE', ct=b'text/plain', body=b'hello', cl=b'+5')
x['diff-cl-folded.sip'] = req(method=b'MESSAGE', ct=b'text/plain', body=b'hello', cl=b'\r\n 5')
x['diff-compact-dup-from.sip'] = base.replace(b'Max-Forwards: 70', b'Max-Forwards: 70\r\nf: <sip:eve@evil.example.com>;tag=2')
x['diff-udp-second-msg.sip'] = req(method=b'OPTIONS', cl=b'0') + req(method=b'INVITE', cid=b'smuggled@192.0.2.1')
for k, v in x.items():
    open(os.path.join(D, k), 'wb').write(v)
