#!/usr/bin/env bash
# make_ims_aka.sh -- regenerates tests/data/capture/ims_aka.pcap and
# ims_aka.keys (kept in the repo): VoLTE registrations as a P-CSCF's
# capture holds them (3GPP TS 33.203, TS 24.229), both the UE side (Gm) and
# the S-CSCF side (Mw), then SIP in the ESP they agreed on. fs38 learns the
# SAs from the registrations (insp_aka.c); ims_aka.keys holds the same SAs,
# derived here by TS 33.203 Annex I, in Wireshark's esp_sa format, so that
# tests/cli/test_ims_aka.sh can check fs38's reading against tshark's.
#   UE A 10.48.0.1      offers md5/3des and sha1/aes; P-CSCF picks sha1 + AES-CBC.
#                       In ESP: REGISTER (Authorization, Security-Verify), its
#                       200 (P-CSCF's server port to the UE's client port), a
#                       MESSAGE to the UE's server port and its 200: all four SAs.
#                       Then re-registers inside ESP: new offer, the S-CSCF's
#                       new keys on Mw in the clear, the P-CSCF's 401 inside
#                       the old SA; then an OPTIONS in the new SA.
#   UE B 2001:db8:48::2 offers md5/3des only; P-CSCF lists sha1/aes (q=0.5) and
#                       md5/3des (q=0.1): md5 + 3DES-CBC it is.
#   UE C 10.48.0.3      sha1 with NULL encryption (ealg=null).
#   UE D 10.48.0.4      its Mw 401 is not in the capture: no keys, not read.
# Every message in ESP has User-Agent friendly-scanner, so each UE whose ESP
# fs38 reads raises SIP-SCAN-001 from its address; none in the clear does.
set -eu
cd "$(dirname "$0")"
source ./esp_seal.sh
python3 - <<'PY'
import sys
sys.path.insert(0, '.')
from pcapgen import ip4, ip6, eth, write_pcap, udp_c, esp_seal

PCSCF, PCSCF6, SCSCF = '10.48.0.100', '2001:db8:48::100', '10.48.1.10'
frames, sas = [], []


def sip(first, headers, body=b''):
    h = ''.join('%s: %s\r\n' % kv for kv in headers)
    return (first + '\r\n' + h + 'Content-Length: %d\r\n\r\n' % len(body)).encode() + body

def clear(src, dst, sp, dp, m):
    frames.append(eth(ip6(src, dst, 17, udp_c(src, dst, sp, dp, m)), 0x86dd) if ':' in src
                  else eth(ip4(src, dst, 17, udp_c(src, dst, sp, dp, m))))

seqs = {}
def esp(src, dst, sp, dp, spi, ue, m):
    seqs[spi] = seqs.get(spi, 0) + 1
    p = esp_seal(ue['enc'], ue['ek'], ue['auth'], ue['ak'], spi, seqs[spi], 17, udp_c(src, dst, sp, dp, m))
    frames.append(eth(ip6(src, dst, 50, p), 0x86dd) if ':' in src else eth(ip4(src, dst, 50, p)))

def keys_for(alg, ealg, ck, ik):
    """TS 33.203 Annex I: the ESP keys of an agreement."""
    k = {'auth': 'md5-96' if alg == 'hmac-md5-96' else 'sha1-96',
         'ak': ik if alg == 'hmac-md5-96' else ik + '00000000'}
    k['enc'], k['ek'] = {'aes-cbc': ('aes-cbc', ck), 'des-ede3-cbc': ('3des-cbc', ck + ck[:16]),
                         'null': ('null', '-')}[ealg]
    return k

WS_ENC = {'aes-cbc': 'AES-CBC [RFC3602]', '3des-cbc': 'TripleDES-CBC [RFC2451]', 'null': 'NULL'}
WS_AUTH = {'sha1-96': 'HMAC-SHA-1-96 [RFC2404]', 'md5-96': 'HMAC-MD5-96 [RFC2403]'}
def sa(src, dst, spi, k):
    sas.append('"%s","%s","%s","0x%08x","%s","%s","%s","0x%s"' % (
        'IPv6' if ':' in src else 'IPv4', src, dst, spi, WS_ENC[k['enc']],
        '' if k['ek'] == '-' else '0x' + k['ek'], WS_AUTH[k['auth']], k['ak']))

def mech(alg, ealg, spi_c, spi_s, port_c, port_s, q=None):
    s = 'ipsec-3gpp;' + ('q=%s;' % q if q else '') + 'alg=%s;' % alg
    s += ('ealg=%s;' % ealg if ealg else '') + 'mod=trans;prot=esp;'
    return s + 'spi-c=%d;spi-s=%d;port-c=%d;port-s=%d' % (spi_c, spi_s, port_c, port_s)

def hostport(h, port): return '[%s]:%d' % (h, port) if ':' in h else '%s:%d' % (h, port)

def register(ue, cid, cseq, sc, extra=()):
    return sip('REGISTER sip:ims.example.net SIP/2.0',
               [('Via', 'SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d' % (hostport(ue['host'], ue['port_c']), cid, cseq)),
                ('Max-Forwards', '70'), ('From', '<sip:%s@ims.example.net>;tag=%s' % (ue['imsi'], cid)),
                ('To', '<sip:%s@ims.example.net>' % ue['imsi']), ('Call-ID', cid),
                ('CSeq', '%d REGISTER' % cseq), ('Contact', '<sip:%s>' % hostport(ue['host'], ue['port_s'])),
                ('Expires', '600000'), ('Require', 'sec-agree'), ('Proxy-Require', 'sec-agree'),
                ('Supported', 'path,sec-agree'), ('Security-Client', sc)] + list(extra))

def mw_register(ue, cid, cseq):
    return sip('REGISTER sip:ims.example.net SIP/2.0',
               [('Via', 'SIP/2.0/UDP %s:5060;branch=z9hG4bK-mw-%s-%d' % (PCSCF, cid, cseq)),
                ('Max-Forwards', '69'), ('From', '<sip:%s@ims.example.net>;tag=%s' % (ue['imsi'], cid)),
                ('To', '<sip:%s@ims.example.net>' % ue['imsi']), ('Call-ID', cid),
                ('CSeq', '%d REGISTER' % cseq), ('Path', '<sip:term@%s;lr>' % PCSCF),
                ('Authorization', 'Digest uri="sip:ims.example.net",username="%s@ims.example.net",'
                                  'response="",realm="ims.example.net",nonce=""' % ue['imsi'])])

def challenge(ue, cid, cseq, nonce, ck=None, ik=None, ss=None, via_pcscf=False):
    auth = 'Digest realm="ims.example.net", nonce="%s", algorithm=AKAv1-MD5, qop="auth"' % nonce
    if ck: auth += ', ck="%s", ik="%s"' % (ck, ik)
    hdrs = [('Via', 'SIP/2.0/UDP %s:5060;branch=z9hG4bK-mw-%s-%d' % (PCSCF, cid, cseq)) if via_pcscf else
            ('Via', 'SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d' % (hostport(ue['host'], ue['port_c']), cid, cseq)),
            ('From', '<sip:%s@ims.example.net>;tag=%s' % (ue['imsi'], cid)),
            ('To', '<sip:%s@ims.example.net>;tag=scscf' % ue['imsi']), ('Call-ID', cid),
            ('CSeq', '%d REGISTER' % cseq), ('WWW-Authenticate', auth)]
    if ss: hdrs.append(('Security-Server', ss))
    return sip('SIP/2.0 401 Unauthorized', hdrs)

def in_esp(kind, ue, cid, cseq, sv='', method=''):
    ua = [('User-Agent', 'friendly-scanner')]
    if kind == 'REGISTER':
        return register(ue, cid, cseq, ue['sc'], [('Security-Verify', sv), ('Authorization',
            'Digest username="%s@ims.example.net",realm="ims.example.net",nonce="n",uri="sip:ims.example.net",'
            'response="00",algorithm=AKAv1-MD5,qop=auth,nc=00000001,cnonce="c"' % ue['imsi'])] + ua)
    if kind == 'MESSAGE':
        return sip('MESSAGE sip:%s SIP/2.0' % hostport(ue['host'], ue['port_s']),
                   [('Via', 'SIP/2.0/UDP %s:%d;branch=z9hG4bK-msg-%s' % (PCSCF, ue['pc'], cid)), ('Max-Forwards', '70'),
                    ('From', '<sip:smsc@ims.example.net>;tag=m1'), ('To', '<sip:%s@ims.example.net>' % ue['imsi']),
                    ('Call-ID', 'msg-' + cid), ('CSeq', '1 MESSAGE'), ('Content-Type', 'text/plain')] + ua, b'hello')
    if kind == 'OPTIONS':
        return sip('OPTIONS sip:ims.example.net SIP/2.0',
                   [('Via', 'SIP/2.0/UDP %s;branch=z9hG4bK-opt-%s' % (hostport(ue['host'], ue['port_c']), cid)),
                    ('Max-Forwards', '70'), ('From', '<sip:%s@ims.example.net>;tag=o1' % ue['imsi']),
                    ('To', '<sip:ims.example.net>'), ('Call-ID', 'opt-' + cid), ('CSeq', '1 OPTIONS')] + ua)
    return sip('SIP/2.0 200 OK', [('Via', 'SIP/2.0/UDP x;branch=z9hG4bK-%s' % cid),
               ('From', '<sip:a@ims.example.net>;tag=f'), ('To', '<sip:b@ims.example.net>;tag=t'),
               ('Call-ID', cid), ('CSeq', '%d %s' % (cseq, method))] + ua)

def registration(ue, cid, offers, server, alg, ealg, ck, ik, nonce, with_mw=True, sealed_by=None):
    """The UE's REGISTER with offers, the Mw leg, the P-CSCF's 401 listing
    server; the SAs of (alg, ealg) in ims_aka.keys. sealed_by: the SAs
    (an earlier agreement) the Gm messages travel in, else in the clear."""
    sc = ','.join(offers)
    ue['sc'] = sc
    reg, ans = register(ue, cid, 1, sc), challenge(ue, cid, 1, nonce, ss=','.join(server))
    if sealed_by:
        esp(ue['host'], PCSCF_of(ue), ue['port_c'], sealed_by['ps'], sealed_by['spi_ps'], sealed_by, reg)
    else:
        clear(ue['host'], PCSCF_of(ue), 5060, 5060, reg)
    if with_mw:
        clear(PCSCF, SCSCF, 5060, 5060, mw_register(ue, cid, 1))
        clear(SCSCF, PCSCF, 5060, 5060, challenge(ue, cid, 1, nonce, ck, ik, via_pcscf=True))
    if sealed_by:
        esp(PCSCF_of(ue), ue['host'], sealed_by['ps'], ue['port_c'], sealed_by['spi_uc'], sealed_by, ans)
    else:
        clear(PCSCF_of(ue), ue['host'], 5060, 5060, ans)
    return keys_for(alg, ealg, ck, ik)

def PCSCF_of(ue): return PCSCF6 if ':' in ue['host'] else PCSCF

def use(ue, k, spi_uc, spi_us, spi_pc, spi_ps, pc, ps, learned=True):
    """The four SAs (TS 33.203 7.1: each with its receiver's SPI) and
    traffic in each."""
    ue.update(k)
    ue.update(spi_uc=spi_uc, spi_us=spi_us, spi_pc=spi_pc, spi_ps=spi_ps, pc=pc, ps=ps)
    P, U = PCSCF_of(ue), ue['host']
    if learned:
        sa(U, P, spi_ps, k); sa(U, P, spi_pc, k); sa(P, U, spi_uc, k); sa(P, U, spi_us, k)

CK_A, IK_A = '3c9d6e5f00112233a1b2c3d4e5f60718', '9e8d7c6b5a4938271605f4e3d2c1b0a9'
CK_A2, IK_A2 = 'aabbccddeeff00112233445566778899', '0123456789abcdeffedcba9876543210'
CK_B, IK_B = '00ff11ee22dd33cc44bb55aa66997788', 'f0e1d2c3b4a5968778695a4b3c2d1e0f'
CK_C, IK_C = '11111111222222223333333344444444', '55555555666666667777777788888888'
CK_D, IK_D = '99999999888888887777777766666666', '44444444333333332222222211111111'

# UE A: two offers, sha1/aes chosen; P-CSCF ports 6100/6101
A = {'host': '10.48.0.1', 'imsi': '001010000000001', 'port_c': 50001, 'port_s': 50002}
k = registration(A, 'aka-a', [mech('hmac-md5-96', 'des-ede3-cbc', 1101, 1102, 50001, 50002),
                              mech('hmac-sha-1-96', 'aes-cbc', 1111, 1112, 50001, 50002)],
                 [mech('hmac-sha-1-96', 'aes-cbc', 2221, 2222, 6100, 6101, q='0.1')],
                 'hmac-sha-1-96', 'aes-cbc', CK_A, IK_A, 'bm9uY2UtYQ==')
use(A, k, 1111, 1112, 2221, 2222, 6100, 6101)
esp(A['host'], PCSCF, 50001, 6101, 2222, A, in_esp('REGISTER', A, 'aka-a', 2, sv=mech('hmac-sha-1-96', 'aes-cbc', 2221, 2222, 6100, 6101)))
esp(PCSCF, A['host'], 6101, 50001, 1111, A, in_esp('200', A, 'aka-a', 2, method='REGISTER'))
esp(PCSCF, A['host'], 6100, 50002, 1112, A, in_esp('MESSAGE', A, 'aka-a', 1))
esp(A['host'], PCSCF, 50002, 6100, 2221, A, in_esp('200', A, 'msg-aka-a', 1, method='MESSAGE'))

# UE B (IPv6): md5/3des only offered; the P-CSCF prefers sha1/aes but takes md5/3des
B = {'host': '2001:db8:48::2', 'imsi': '001010000000002', 'port_c': 50101, 'port_s': 50102}
k = registration(B, 'aka-b', [mech('hmac-md5-96', 'des-ede3-cbc', 3101, 3102, 50101, 50102)],
                 [mech('hmac-sha-1-96', 'aes-cbc', 4201, 4202, 6200, 6201, q='0.5'),
                  mech('hmac-md5-96', 'des-ede3-cbc', 4201, 4202, 6200, 6201, q='0.1')],
                 'hmac-md5-96', 'des-ede3-cbc', CK_B, IK_B, 'bm9uY2UtYg==')
use(B, k, 3101, 3102, 4201, 4202, 6200, 6201)
esp(B['host'], PCSCF6, 50101, 6201, 4202, B, in_esp('REGISTER', B, 'aka-b', 2))
esp(PCSCF6, B['host'], 6201, 50101, 3101, B, in_esp('200', B, 'aka-b', 2, method='REGISTER'))

# UE C: integrity only (ealg=null)
C = {'host': '10.48.0.3', 'imsi': '001010000000003', 'port_c': 50201, 'port_s': 50202}
k = registration(C, 'aka-c', [mech('hmac-sha-1-96', 'null', 5101, 5102, 50201, 50202)],
                 [mech('hmac-sha-1-96', 'null', 6301, 6302, 6300, 6301, q='0.1')],
                 'hmac-sha-1-96', 'null', CK_C, IK_C, 'bm9uY2UtYw==')
use(C, k, 5101, 5102, 6301, 6302, 6300, 6301)
esp(C['host'], PCSCF, 50201, 6301, 6302, C, in_esp('REGISTER', C, 'aka-c', 2))

# UE D: the S-CSCF's 401 (its keys) is not in the capture
D = {'host': '10.48.0.4', 'imsi': '001010000000004', 'port_c': 50301, 'port_s': 50302}
k = registration(D, 'aka-d', [mech('hmac-sha-1-96', 'aes-cbc', 7101, 7102, 50301, 50302)],
                 [mech('hmac-sha-1-96', 'aes-cbc', 8401, 8402, 6400, 6401, q='0.1')],
                 'hmac-sha-1-96', 'aes-cbc', CK_D, IK_D, 'bm9uY2UtZA==', with_mw=False)
use(D, k, 7101, 7102, 8401, 8402, 6400, 6401, learned=False)
esp(D['host'], PCSCF, 50301, 6401, 8402, D, in_esp('REGISTER', D, 'aka-d', 2))

# UE A re-registers inside its SAs: new offer, new keys (Mw, in the clear),
# the P-CSCF's 401 inside the old SA; then an OPTIONS in the new one.
old = dict(A)
A2 = dict(A)
k = registration(A2, 'aka-a', [mech('hmac-sha-1-96', 'aes-cbc', 1121, 1122, 50001, 50002)],
                 [mech('hmac-sha-1-96', 'aes-cbc', 2231, 2232, 6100, 6101, q='0.1')],
                 'hmac-sha-1-96', 'aes-cbc', CK_A2, IK_A2, 'bm9uY2UtYTI=', sealed_by=old)
use(A2, k, 1121, 1122, 2231, 2232, 6100, 6101)
esp(A2['host'], PCSCF, 50001, 6101, 2232, A2, in_esp('OPTIONS', A2, 'aka-a2', 1))

write_pcap('ims_aka.pcap', frames)
with open('ims_aka.keys', 'w') as f:
    f.write('# The SAs fs38 learns from ims_aka.pcap, derived by TS 33.203 Annex I,\n'
            '# in Wireshark\'s esp_sa format (test keys only; made by make_ims_aka.sh)\n')
    f.write('\n'.join(sas) + '\n')
PY
echo "wrote ims_aka.pcap and ims_aka.keys"
