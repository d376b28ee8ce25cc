#!/usr/bin/env bash
# make_esp_esn.sh -- regenerates tests/data/capture/esp_esn.pcap and
# esp_esn.xfrm (kept in the repo): SIP in encrypted ESP whose SAs have
# extended sequence numbers (RFC 4303 2.2.1; `flag esn`, when IKEv2
# negotiated them), and those SAs as `ip xfrm state` prints them, with the
# counters of their "anti-replay esn context". The high 32 bits of a
# sequence number are on no wire: the HMAC covers them after the packet,
# GCM's AAD holds them (RFC 4106 5), so a reader must work them out. Each
# message is an OPTIONS with Call-ID esn-<n>; (hi, lo) is its sequence number:
#   SA 0x4001 AES-128-CBC + HMAC-SHA-1-96, the sender's dump after the
#             capture (oseq-hi 0x3, oseq 0x1): esn-1..4 at (2, 0xfffffffe),
#             (2, 0xffffffff), (3, 0), (3, 1) -- across a wrap, behind the dump
#   SA 0x4002 AES-256-GCM in UDP 4500, inner IPv4 (SWu), the receiver's dump
#             in a newer kernel's form (seq-hi 0x7, seq 0x2 only):
#             esn-5..8 at (6, 0xffffffff), (7, 0), (7, 1), (7, 2)
#   SA 0x4003 AES-CTR + HMAC-SHA-256-128, dumped before any traffic, the
#             context on one line (oseq-hi 0x0, oseq 0x0), `ip -s` notes:
#             esn-9..10 at (0, 1), (0, 2) -- ESN with nothing past 2^32
#   SA 0x4004 IPv6, 3DES-CBC + HMAC-MD5-96, dumped before the wrap
#             (seq-hi 0x4, seq 0xfffffff0): esn-11..13 at (4, 0xfffffffe),
#             (5, 0), (5, 3) -- ahead of the dump, across a wrap
# tests/cli/test_esp.sh reads them with the dump, and without `esn` in it.
set -eu
cd "$(dirname "$0")"
source ./esp_seal.sh
python3 - <<'PY'
import sys
sys.path.insert(0, '.')
from pcapgen import scanner_options, ip4, ip6, udp, eth, write_pcap, udp_c, esp_seal

def options(n, src):
    return scanner_options(n, src, b'esn-', b'e')

K128, K192 = '00112233445566778899aabbccddeeff', '00112233445566778899aabbccddeeff0011223344556677'
K256 = K128 + 'ffeeddccbbaa99887766554433221100'
A20, A16, A32 = '0102030405060708090a0b0c0d0e0f1011121314', '1f1e1d1c1b1a19181716151413121110', '0a' * 32
UE, PCSCF, UE6, PCSCF6 = '10.49.0.1', '10.49.0.100', '2001:db8:49::1', '2001:db8:49::100'
frames = []
n = 0
def nxt():
    global n
    n += 1
    return n

for hi, lo in [(2, 0xfffffffe), (2, 0xffffffff), (3, 0), (3, 1)]:
    m = nxt()
    frames.append(eth(ip4(UE, PCSCF, 50, esp_seal('aes-cbc', K128, 'sha1-96', A20, 0x4001, lo, 17,
                                                  udp_c(UE, PCSCF, 5062, 5064, options(m, UE)), hi))))
INNER = '10.49.1.2'
for hi, lo in [(6, 0xffffffff), (7, 0), (7, 1), (7, 2)]:
    m = nxt()
    inner = ip4(INNER, PCSCF, 17, udp_c(INNER, PCSCF, 5060, 5060, options(m, INNER)))
    frames.append(eth(ip4('198.18.49.1', '198.18.49.2', 17,
                          udp(4500, 4500, esp_seal('aes-gcm16', K256 + 'b0b1b2b3', 'null', '-', 0x4002, lo, 4, inner, hi)))))
for hi, lo in [(0, 1), (0, 2)]:
    m = nxt()
    frames.append(eth(ip4('10.49.0.3', PCSCF, 50, esp_seal('aes-ctr', K128 + 'a0a1a2a3', 'sha256-128', A32, 0x4003, lo, 17,
                                                           udp_c('10.49.0.3', PCSCF, 5062, 5064, options(m, '10.49.0.3')), hi))))
for hi, lo in [(4, 0xfffffffe), (5, 0), (5, 3)]:
    m = nxt()
    frames.append(eth(ip6(UE6, PCSCF6, 50, esp_seal('3des-cbc', K192, 'md5-96', A16, 0x4004, lo, 17,
                                                    udp_c(UE6, PCSCF6, 5062, 5064, options(m, UE6)), hi)), 0x86dd))
write_pcap('esp_esn.pcap', frames)

out = ['# the SAs of esp_esn.pcap as `ip xfrm state` prints them (test keys only; make_esp_esn.sh)',
       'src %s dst %s' % (UE, PCSCF),
       '\tproto esp spi 0x00004001 reqid 1 mode transport',
       '\treplay-window 0 flag af-unspec esn',
       '\tauth-trunc hmac(sha1) 0x%s 96' % A20,
       '\tenc cbc(aes) 0x%s' % K128,
       '\tanti-replay esn context:',
       '\t seq-hi 0x0, seq 0x0, oseq-hi 0x3, oseq 0x1',
       '\t replay_window 128, bitmap-length 4',
       '\t 00000000 00000000 00000000 00000000 ',
       '\tsel src 0.0.0.0/0 dst 0.0.0.0/0 ',
       'src 198.18.49.1 dst 198.18.49.2',
       '\tproto esp spi 0x00004002 reqid 2 mode tunnel',
       '\treplay-window 0 flag af-unspec esn',
       '\taead rfc4106(gcm(aes)) 0x%sb0b1b2b3 128' % K256,
       '\tencap type espinudp sport 4500 dport 4500 addr 0.0.0.0',
       '\tlastused 2026-11-27 19:00:00',
       '\tanti-replay esn context:',
       '\t seq-hi 0x7, seq 0x2',
       '\t replay_window 128, bitmap-length 4',
       '\t 00000000 00000000 00000000 0000000f ',
       '\tdir in',
       'src 10.49.0.3 dst %s' % PCSCF,
       '\tproto esp spi 0x00004003(16387) reqid 3(0x00000003) mode transport',
       '\treplay-window 0 seq 0x00000000 flag af-unspec esn (0x00100080)',
       '\tauth-trunc hmac(sha256) 0x%s (256 bits) 128' % A32,
       '\tenc rfc3686(ctr(aes)) 0x%sa0a1a2a3 (160 bits)' % K128,
       '\tanti-replay esn context:\t oseq-hi 0x0, oseq 0x0',
       '\tdir out',
       '\tlifetime current:',
       '\t  0(bytes), 0(packets)',
       'src %s dst %s' % (UE6, PCSCF6),
       '\tproto esp spi 0x00004004 reqid 4 mode transport',
       '\treplay-window 0 flag af-unspec esn',
       '\tauth hmac(md5) 0x%s' % A16,
       '\tenc cbc(des3_ede) 0x%s' % K192,
       '\tanti-replay esn context:',
       '\t seq-hi 0x4, seq 0xfffffff0, oseq-hi 0x0, oseq 0x0',
       '\t replay_window 128, bitmap-length 4',
       '\t 00000000 00000000 00000000 00000000 ']
open('esp_esn.xfrm', 'w').write('\n'.join(out) + '\n')
PY
echo "wrote esp_esn.pcap and esp_esn.xfrm"
