#!/usr/bin/env bash
# make_esp_sa.sh -- regenerates tests/data/capture/esp_sa.pcap, esp_sa.keys
# and esp_sa.xfrm (kept in the repo): SIP in encrypted ESP, as VoLTE's Gm (transport mode,
# AES-CBC or 3DES-CBC with HMAC-SHA-1-96 or HMAC-MD5-96, 3GPP TS 33.203) and
# VoWiFi's SWu (tunnel mode over UDP 4500, AES-GCM) run it, and the
# security associations in Wireshark's esp_sa format. Each message is an
# OPTIONS with a SIPVicious User-Agent and Call-ID esp-<n> from its own
# source, so each one read is an incident of that source:
#   41 IPv4 UDP   AES-128-CBC + HMAC-SHA-1-96        (and 41r, the P-CSCF's answer)
#   42 IPv6 TCP   3DES-CBC + HMAC-MD5-96
#   43 IPv4 UDP   AES-128-CTR + HMAC-SHA-256-128
#   44 tunnel     AES-256-GCM (16-byte ICV) over UDP 4500, inner IPv6
#   45 IPv4 UDP   AES-256-CBC, no integrity, an SA with "*" addresses
#   46 IPv4 UDP   AES-128-CBC + HMAC-SHA-1-96 whose SA has another HMAC key: not read
#   47 IPv4 UDP   AES-128-CBC with no SA in the file: not read
#   48 IPv4 UDP   AES-128-GCM (8-byte ICV)
# tests/cli/test_esp.sh checks fs38 against tshark's decryption of the same.
set -eu
cd "$(dirname "$0")"
source ./esp_seal.sh
python3 - <<'PY'
import sys
sys.path.insert(0, '.')
from pcapgen import scanner_options, ip4, ip6, udp, tcp, eth, write_pcap, udp_c, tcp_c, esp_seal

def options(n, src):
    return scanner_options(n, src, b'esp-', b't')

seal = esp_seal

K128, K192 = '00112233445566778899aabbccddeeff', '00112233445566778899aabbccddeeff0011223344556677'
K256 = K128 + 'ffeeddccbbaa99887766554433221100'
A20, A16, A32 = '0102030405060708090a0b0c0d0e0f1011121314', '1f1e1d1c1b1a19181716151413121110', '0a' * 32
UE, PCSCF, UE6, PCSCF6 = '10.47.0.1', '10.47.0.100', '2001:db8:47::1', '2001:db8:47::100'
def msg(n, src, tcp_=False):
    m = options(n, src)
    return m.replace(b'SIP/2.0/UDP', b'SIP/2.0/TCP') if tcp_ else m
answer = (b'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.47.0.1:5062;branch=z9hG4bK-t41\r\n'
          b'From: <sip:100@192.0.2.200>;tag=t41\r\nTo: <sip:100@192.0.2.200>;tag=r41\r\n'
          b'Call-ID: esp-41r\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n')
sas, frames = [], []
def sa(proto, src, dst, spi, enc, ekey, auth, akey):
    sas.append('"%s","%s","%s","0x%08x","%s","%s","%s","%s"' % (proto, src, dst, spi, enc, '0x' + ekey if ekey else '', auth, '0x' + akey if akey else ''))
CBC, TDES, CTR = 'AES-CBC [RFC3602]', 'TripleDES-CBC [RFC2451]', 'AES-CTR [RFC3686]'
GCM16, GCM8 = 'AES-GCM with 16 octet ICV [RFC4106]', 'AES-GCM with 8 octet ICV [RFC4106]'
SHA1, MD5, SHA256, NOAUTH = 'HMAC-SHA-1-96 [RFC2404]', 'HMAC-MD5-96 [RFC2403]', 'HMAC-SHA-256-128 [RFC4868]', 'NULL'

# 41: Gm, UE -> P-CSCF (protected client port 5062 to protected server port 5064), and the answer
sa('IPv4', UE, PCSCF, 0x2001, CBC, K128, SHA1, A20)
sa('IPv4', PCSCF, UE, 0x2002, CBC, K128, SHA1, A20)
frames.append(eth(ip4(UE, PCSCF, 50, seal('aes-cbc', K128, 'sha1-96', A20, 0x2001, 1, 17, udp_c(UE, PCSCF, 5062, 5064, msg(41, UE))))))
frames.append(eth(ip4(PCSCF, UE, 50, seal('aes-cbc', K128, 'sha1-96', A20, 0x2002, 1, 17, udp_c(PCSCF, UE, 5064, 5062, answer)))))
# 42: IPv6, TCP, 3DES + HMAC-MD5-96
sa('IPv6', UE6, PCSCF6, 0x2003, TDES, K192, MD5, A16)
frames.append(eth(ip6(UE6, PCSCF6, 50, seal('3des-cbc', K192, 'md5-96', A16, 0x2003, 1, 6, tcp_c(UE6, PCSCF6, 41000, 5064, 1, 0x18, msg(42, UE6, True)))), 0x86dd))
# 43: AES-CTR + HMAC-SHA-256-128
sa('IPv4', '10.47.0.3', PCSCF, 0x2004, CTR, K128 + 'a0a1a2a3', SHA256, A32)
frames.append(eth(ip4('10.47.0.3', PCSCF, 50, seal('aes-ctr', K128 + 'a0a1a2a3', 'sha256-128', A32, 0x2004, 7, 17, udp_c('10.47.0.3', PCSCF, 5062, 5064, msg(43, '10.47.0.3'))))))
# 44: SWu, tunnel mode in UDP 4500, AES-256-GCM, inner IPv6
INNER = '2001:db8:4a::44'
inner = ip6(INNER, PCSCF6, 17, udp_c(INNER, PCSCF6, 5060, 5060, msg(44, INNER)))
sa('IPv4', '198.18.47.1', '198.18.47.2', 0x2005, GCM16, K256 + 'b0b1b2b3', NOAUTH, '')
frames.append(eth(ip4('198.18.47.1', '198.18.47.2', 17, udp(4500, 4500, seal('aes-gcm16', K256 + 'b0b1b2b3', 'null', '-', 0x2005, 3, 41, inner)))))
# 45: any addresses, AES-256-CBC, no integrity
sa('IPv4', '*', '*', 0x2006, CBC, K256, NOAUTH, '')
frames.append(eth(ip4('10.47.0.5', PCSCF, 50, seal('aes-cbc', K256, 'null', '-', 0x2006, 1, 17, udp_c('10.47.0.5', PCSCF, 5062, 5064, msg(45, '10.47.0.5'))))))
# 46: the SA's HMAC key is not the sender's: integrity check fails
sa('IPv4', '10.47.0.6', PCSCF, 0x2007, CBC, K128, SHA1, 'ff' * 20)
frames.append(eth(ip4('10.47.0.6', PCSCF, 50, seal('aes-cbc', K128, 'sha1-96', A20, 0x2007, 1, 17, udp_c('10.47.0.6', PCSCF, 5062, 5064, msg(46, '10.47.0.6'))))))
# 47: no SA
frames.append(eth(ip4('10.47.0.7', PCSCF, 50, seal('aes-cbc', K128, 'sha1-96', A20, 0x2008, 1, 17, udp_c('10.47.0.7', PCSCF, 5062, 5064, msg(47, '10.47.0.7'))))))
# 48: AES-128-GCM, 8-byte ICV
sa('IPv4', '10.47.0.8', PCSCF, 0x2009, GCM8, K128 + 'c0c1c2c3', NOAUTH, '')
frames.append(eth(ip4('10.47.0.8', PCSCF, 50, seal('aes-gcm8', K128 + 'c0c1c2c3', 'null', '-', 0x2009, 1, 17, udp_c('10.47.0.8', PCSCF, 5062, 5064, msg(48, '10.47.0.8'))))))

write_pcap('esp_sa.pcap', frames)
with open('esp_sa.keys', 'w') as f:
    f.write('# ESP security associations of esp_sa.pcap, in Wireshark\'s esp_sa format\n'
            '# (test keys only; made by make_esp_sa.sh)\n')
    f.write('\n'.join(sas) + '\n')

# The same SAs as Linux prints them (`ip xfrm state`, and `ip -s xfrm state`
# with its notes), for --esp-sa's other format: 45's SA names its addresses
# (the kernel has no wildcards), and an AH SA is passed over.
out = []
def blk(src, dst, spi, lines, mode='transport', s_style=False):
    out.append('src %s dst %s' % (src, dst))
    if s_style:
        out.append('\tproto esp spi 0x%08x(%d) reqid 1(0x00000001) mode %s' % (spi, spi, mode))
        out.append('\treplay-window 0 seq 0x00000000 flag  (0x00000000)')
    else:
        out.append('\tproto esp spi 0x%08x reqid 1 mode %s' % (spi, mode))
        out.append('\treplay-window 32 flag af-unspec')
    out.extend('\t' + l for l in lines)
    out.append('\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000')
    out.append('\tsel src 0.0.0.0/0 dst 0.0.0.0/0 uid 0' if s_style else '\tsel src 0.0.0.0/0 dst 0.0.0.0/0 ')
    if s_style:
        out.extend(['\tlifetime config:', '\t  limit: soft (INF)(bytes), hard (INF)(bytes)',
                    '\t  expire add: soft 0(sec), hard 0(sec)', '\tlifetime current:', '\t  0(bytes), 0(packets)',
                    '\t  add 2026-11-27 03:00:00 use -', '\tstats:', '\t  replay-window 0 replay 0 failed 0'])
blk(UE, PCSCF, 0x2001, ['auth-trunc hmac(sha1) 0x%s 96' % A20, 'enc cbc(aes) 0x%s' % K128])
blk(PCSCF, UE, 0x2002, ['auth-trunc hmac(sha1) 0x%s (160 bits) 96' % A20, 'enc cbc(aes) 0x%s (128 bits)' % K128], s_style=True)
blk(UE6, PCSCF6, 0x2003, ['auth hmac(md5) 0x%s' % A16, 'enc cbc(des3_ede) 0x%s' % K192])
blk('10.47.0.3', PCSCF, 0x2004, ['auth-trunc hmac(sha256) 0x%s 128' % A32, 'enc rfc3686(ctr(aes)) 0x%sa0a1a2a3' % K128])
blk('198.18.47.1', '198.18.47.2', 0x2005, ['aead rfc4106(gcm(aes)) 0x%sb0b1b2b3 128' % K256,
                                          'encap type espinudp sport 4500 dport 4500 addr 0.0.0.0'], mode='tunnel')
blk('10.47.0.5', PCSCF, 0x2006, ['enc cbc(aes) 0x%s' % K256])
blk('10.47.0.6', PCSCF, 0x2007, ['auth-trunc hmac(sha1) 0x%s 96' % ('ff' * 20), 'enc cbc(aes) 0x%s' % K128])
out += ['src 10.47.0.9 dst 10.47.0.100', '\tproto ah spi 0x00003000 reqid 2 mode transport',
        '\tauth-trunc hmac(sha1) 0x%s 96' % A20]
blk('10.47.0.8', PCSCF, 0x2009, ['aead rfc4106(gcm(aes)) 0x%sc0c1c2c3 (160 bits) 64' % K128], s_style=True)
open('esp_sa.xfrm', 'w').write('\n'.join(out) + '\n')
PY
echo "wrote esp_sa.pcap, esp_sa.keys and esp_sa.xfrm"
