#!/usr/bin/env bash
# test_ims_aka.sh -- ESP keys learned from IMS AKA registrations (3GPP TS
# 33.203; src/inspect/insp_aka.c) in tests/data/capture/ims_aka.pcap (made
# by make_ims_aka.sh): a P-CSCF's capture with both sides of four
# registrations, then SIP in the ESP each agreed on. Every message in ESP
# has a scanner's User-Agent, so each one fs38 reads is SIP-SCAN-001
# evidence; none in the clear is. Checked against tshark given the same SAs,
# derived by the generator (ims_aka.keys): fs38 must read in ESP exactly
# what tshark decrypts with a good ICV, without being given a key.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_ims_aka.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 2

PCAP=tests/data/capture/ims_aka.pcap KEYS=tests/data/capture/ims_aka.keys
stat() { jq -r "$2" "$1"; }
# Call-ID/CSeq of the scanner's requests fs38 read (--pcap-out --pcap-limit 0
# keeps every message behind the SIP-SCAN-001 incidents)
in_esp_ids() {
    tshark -r "$1" -Y sip.Method -T fields -E separator=, -e sip.Call-ID -e sip.CSeq.seq -e sip.Method 2>/dev/null |
        sort | tr '\n' ' '
}

expect_exit 0 "inspect ims_aka.pcap" "$FS38" inspect --json --stats-json "$TMPD/s.json" --pcap-out "$TMPD/w1.pcapng" \
    --pcap-limit 0 "$PCAP"
cp "$TMPD/out" "$TMPD/w1.ndjson"
ok "4 registrations learned, 16 SAs" is "$(stat "$TMPD/s.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_sas_learned)"')" "4 16"
ok "ESP: 11 packets, 10 decrypted (UE D's keys are not in the capture), none failed" is \
    "$(stat "$TMPD/s.json" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_failed) \(.capture.esp_null)"')" "11 10 0 0"
ok "every SIP message counted: 16 in the clear, 10 in ESP" is "$(stat "$TMPD/s.json" .sip_messages)" 26
ok "the UEs A, B, C and the P-CSCF raise SIP-SCAN-001; UE D does not" is \
    "$(jq -r 'select(.rule.id == "SIP-SCAN-001") | .observables[] | select(.role == "source") | .value' \
        "$TMPD/w1.ndjson" | sort | tr '\n' ' ')" \
    "10.48.0.1 10.48.0.100 10.48.0.3 2001:db8:48::/64 2001:db8:48::2 "
ok "samples name the ESP layer and its SPI" bash -c \
    "jq -e 'select(.rule.id == \"SIP-SCAN-001\") | .evidence.sample[\"x-encap\"][0].kind == \"esp\"' '$TMPD/w1.ndjson' | grep -qv false"

# tshark with the SAs the generator derived: the same messages in ESP
tshark_args=()
while IFS= read -r line; do
    case $line in '#'* | '') continue ;; esac
    tshark_args+=(-o "uat:esp_sa:$line")
done <"$KEYS"
theirs=$(tshark -r "$PCAP" -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE \
    "${tshark_args[@]}" -Y 'esp && sip.User-Agent == "friendly-scanner" && sip.Method && !(esp.icv_bad == 1)' \
    -T fields -E separator=, -e sip.Call-ID -e sip.CSeq.seq -e sip.Method 2>/dev/null | sort | tr '\n' ' ')
ok "tshark decrypts the scanner's 5 requests with the derived keys" is "$(echo "$theirs" | wc -w)" 5
ok "fs38 read in ESP what tshark decrypts, learning the keys itself" is "$(in_esp_ids "$TMPD/w1.pcapng")" "$theirs"

# the re-registration inside the old SAs: learned from what was decrypted
ok "the re-registration's OPTIONS (new SA 0x8b8) read" bash -c \
    "echo '$theirs' | grep -q 'opt-aka-a2,1,OPTIONS'"

expect_exit 0 "--workers 2" "$FS38" inspect --workers 2 --json --stats-json "$TMPD/s2.json" --pcap-out "$TMPD/w2.pcapng" \
    --pcap-limit 0 "$PCAP"
ok "--workers 2: the same agreements and decryption" is \
    "$(stat "$TMPD/s2.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_sas_learned) \(.capture.esp_decrypted)"')" "4 16 10"
ok "--workers 2: the same messages out of ESP" is "$(in_esp_ids "$TMPD/w2.pcapng")" "$theirs"

# --esp-sa-out: the learned SAs for Wireshark, the generator's own derivation
expect_exit 0 "--esp-sa-out" "$FS38" inspect -q --esp-sa-out "$TMPD/learned.keys" "$PCAP"
ok "...: the 16 SAs ims_aka.keys holds (TS 33.203 Annex I, derived by the generator)" is \
    "$(grep -v '^#' "$TMPD/learned.keys" | sort | md5sum)" "$(grep -v '^#' "$KEYS" | sort | md5sum)"
ok "...: readable by its owner only" is "$(command stat -c %a "$TMPD/learned.keys")" 600
fs38_args=()
while IFS= read -r line; do
    case $line in '#'* | '') continue ;; esac
    fs38_args+=(-o "uat:esp_sa:$line")
done <"$TMPD/learned.keys"
ok "...: tshark decrypts the same requests with fs38's file" is \
    "$(tshark -r "$PCAP" -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE \
        "${fs38_args[@]}" -Y 'esp && sip.User-Agent == "friendly-scanner" && sip.Method && !(esp.icv_bad == 1)' \
        -T fields -E separator=, -e sip.Call-ID -e sip.CSeq.seq -e sip.Method 2>/dev/null | sort | tr '\n' ' ')" "$theirs"
printf 'capture:\n  ims_aka_keys: false\n' >"$TMPD/off.yaml"
expect_exit 0 "...: and --esp-sa reads it back (learning off)" "$FS38" inspect --config "$TMPD/off.yaml" \
    --esp-sa "$TMPD/learned.keys" --stats-json "$TMPD/back.json" "$PCAP"
ok "...: 10 decrypted, none learned" is \
    "$(stat "$TMPD/back.json" '"\(.capture.esp_decrypted) \(.capture.ims_aka_agreements)"')" "10 0"
expect_exit 2 "--esp-sa-out to a full disk" "$FS38" inspect -q --esp-sa-out /dev/full "$PCAP"
ok "...: says so" grep -q -- "--esp-sa-out /dev/full" "$TMPD/err"
expect_exit 2 "--esp-sa-out in a folder that does not exist: before any work" "$FS38" inspect -q \
    --esp-sa-out "$TMPD/no/such/dir/x.keys" "$PCAP"
expect_exit 0 "--esp-sa-out, learning off: a note, and no SA" "$FS38" inspect --config "$TMPD/off.yaml" \
    --esp-sa-out "$TMPD/none.keys" "$PCAP"
ok "...: the note" grep -q "ims_aka_keys is off" "$TMPD/err"
ok "...: comments only" is "$(grep -vc '^#' "$TMPD/none.keys")" 0

# --raw: messages without addresses (0.0.0.0) make no SA, with any number of workers
python3 - "$TMPD" <<'PY'
import sys
def m(first, hdrs):
    return (first + '\r\n' + ''.join('%s: %s\r\n' % h for h in hdrs) + 'Content-Length: 0\r\n\r\n').encode()
base = [('Via', 'SIP/2.0/UDP 10.54.0.1:5060;branch=z9hG4bK-r'), ('From', '<sip:a@x>;tag=1'), ('To', '<sip:a@x>'),
        ('Call-ID', 'raw-1'), ('CSeq', '1 REGISTER')]
mech = 'ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=%d;spi-s=%d;port-c=5062;port-s=5064'
open(sys.argv[1] + '/raw1.sip', 'wb').write(m('REGISTER sip:x SIP/2.0', base + [('Security-Client', mech % (1, 2))]))
open(sys.argv[1] + '/raw2.sip', 'wb').write(m('SIP/2.0 401 Unauthorized',
    base + [('WWW-Authenticate', 'Digest nonce="r1", ck="%s", ik="%s"' % ('2' * 32, '3' * 32))]))
open(sys.argv[1] + '/raw3.sip', 'wb').write(m('SIP/2.0 401 Unauthorized',
    base + [('WWW-Authenticate', 'Digest nonce="r1"'), ('Security-Server', mech % (3, 4))]))
PY
for w in 1 2; do
    expect_exit 0 "a registration in --raw files, --workers $w" "$FS38" inspect -q --raw --workers $w \
        --stats-json "$TMPD/raw$w.json" --esp-sa-out "$TMPD/raw$w.keys" "$TMPD/raw1.sip" "$TMPD/raw2.sip" "$TMPD/raw3.sip"
    ok "...: 3 messages, no registration learned, no SA written" is \
        "$(stat "$TMPD/raw$w.json" '"\(.sip_messages) \(.capture.ims_aka_agreements)"') $(grep -vc '^#' "$TMPD/raw$w.keys")" "3 0 0"
done

# off in the config: nothing learned, nothing read, and the summary says how
expect_exit 0 "ims_aka_keys: false" "$FS38" inspect --config "$TMPD/off.yaml" --stats-json "$TMPD/s3.json" "$PCAP"
ok "...: nothing learned or decrypted" is \
    "$(stat "$TMPD/s3.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_decrypted)"')" "0 0"
ok "...: the summary names both ways to read ESP" bash -c \
    "grep -q -- '--esp-sa FILE' '$TMPD/out' && grep -q 'IMS AKA registrations' '$TMPD/out'"
expect_exit 0 "on: the summary counts the registrations" "$FS38" inspect "$PCAP"
ok "...: 'ESP keys learned from 4 IMS AKA registrations (16 SAs)'" grep -q \
    "ESP keys learned from 4 IMS AKA registrations (16 SAs)" "$TMPD/out"

# without the S-CSCF's 401 to UE A (frame 3) its keys are unknown: neither
# its ESP nor the re-registration inside it is read, nor the new SAs learned
tshark -r "$PCAP" -w "$TMPD/cut.pcap" -Y '!(frame.number == 3)' -F pcap 2>/dev/null
expect_exit 0 "without UE A's Mw 401" "$FS38" inspect --stats-json "$TMPD/s4.json" "$TMPD/cut.pcap"
ok "...: B's and C's agreements only, their 3 packets read" is \
    "$(stat "$TMPD/s4.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_decrypted)"')" "2 3"

# the S-CSCF's 401 after the P-CSCF's (two probes merged, clocks apart): the
# UE's 401 waits for its keys
python3 - "$PCAP" "$TMPD/late.pcap" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
out, i, frames = b[:24], 24, []
while i < len(b):
    n = struct.unpack('<I', b[i + 8:i + 12])[0]
    frames.append(b[i:i + 16 + n])
    i += 16 + n
frames[2], frames[3] = frames[3], frames[2]  # UE A's: Gm 401 first, then Mw 401
open(sys.argv[2], 'wb').write(out + b''.join(frames))
PY
expect_exit 0 "keys after the UE's 401" "$FS38" inspect -q --stats-json "$TMPD/late.json" "$TMPD/late.pcap"
ok "...: all 4 agreements, 10 packets read" is \
    "$(stat "$TMPD/late.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_decrypted)"')" "4 10"

# UE A's 401 from the P-CSCF seen twice (retransmitted over UDP, or captured
# at two points), after its keys and, in late.pcap, before them: the same
# registration, counted once
python3 - "$PCAP" "$TMPD/late.pcap" "$TMPD/rtx.pcap" "$TMPD/rtx-late.pcap" <<'PY'
import struct, sys
def frames_of(path):
    b = open(path, 'rb').read()
    out, i, frames = b[:24], 24, []
    while i < len(b):
        n = struct.unpack('<I', b[i + 8:i + 12])[0]
        frames.append(b[i:i + 16 + n])
        i += 16 + n
    return out, frames
head, f = frames_of(sys.argv[1])
open(sys.argv[3], 'wb').write(head + b''.join(f[:4] + [f[3]] + f[4:]))  # frame 4: UE A's Gm 401
head, f = frames_of(sys.argv[2])
open(sys.argv[4], 'wb').write(head + b''.join(f[:3] + [f[2]] + f[3:]))  # its Gm 401 first there
PY
expect_exit 0 "UE A's 401 seen twice" "$FS38" inspect --stats-json "$TMPD/rtx.json" "$TMPD/rtx.pcap"
ok "...: still 4 registrations, 16 SAs, 10 packets read" is \
    "$(stat "$TMPD/rtx.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_sas_learned) \(.capture.esp_decrypted)"')" "4 16 10"
ok "...: the summary says so" grep -q "ESP keys learned from 4 IMS AKA registrations (16 SAs)" "$TMPD/out"
expect_exit 0 "...twice before its keys" "$FS38" inspect -q --stats-json "$TMPD/rtx-late.json" "$TMPD/rtx-late.pcap"
ok "...: 4 registrations, 16 SAs" is \
    "$(stat "$TMPD/rtx-late.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_sas_learned)"')" "4 16"

# the registration of UE A in HEP (a P-CSCF's siptrace), its ESP captured as it is: the
# same agreement with any number of workers (the reader looks inside HEP, as it does in
# the clear), and with a hep_auth_key the packets lack, none (the decoder refuses them)
python3 - "$PCAP" "$TMPD/hep.pcap" "$TMPD/hep-frames" "$TMPD/hep-bad.pcap" <<'PY'
import socket, struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, udp, eth, write_pcap
def hep(payload, src, dst, sp, dp, ts):
    def ch(t, v): return struct.pack('!HHH', 0, t, 6 + len(v)) + v
    b = (ch(1, b'\x02') + ch(2, b'\x11') + ch(3, socket.inet_aton(src)) + ch(4, socket.inet_aton(dst)) +
         ch(7, struct.pack('!H', sp)) + ch(8, struct.pack('!H', dp)) + ch(9, struct.pack('!I', ts)) +
         ch(10, struct.pack('!I', 0)) + ch(11, b'\x01') + ch(12, struct.pack('!I', 7)) + ch(15, payload))
    return b'HEP3' + struct.pack('!H', 6 + len(b)) + b
b = open(sys.argv[1], 'rb').read()
frames, i = [], 24
while i < len(b):
    n = struct.unpack('<I', b[i + 8:i + 12])[0]
    frames.append((struct.unpack('<I', b[i:i + 4])[0], b[i + 16:i + 16 + n]))
    i += 16 + n
out, heps, bad = [], [], []
# a malformed HEP packet (its one chunk cut short) whose length fits, first in each datagram
junk = b'HEP3' + struct.pack('!H', 10) + b'\0\0\0\x01'
for k, (ts, f) in enumerate(frames[:8]):  # UE A: REGISTER, Mw REGISTER and 401, Gm 401; then its ESP
    if k < 4:
        ip = f[14:]
        sp, dp = struct.unpack('!HH', ip[20:24])
        h = hep(ip[28:], socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), sp, dp, ts)
        heps.append(h.hex())
        out.append(eth(ip4('10.99.0.2', '10.99.0.1', 17, udp(40000, 9060, h))))
        bad.append(eth(ip4('10.99.0.2', '10.99.0.1', 17, udp(40000, 9060, junk + h))))
    else:
        out.append(f)
        bad.append(f)
write_pcap(sys.argv[2], out, t0=frames[0][0])
write_pcap(sys.argv[4], bad, t0=frames[0][0])
open(sys.argv[3], 'w').write('\n'.join(heps) + '\n')
PY
for w in 1 2; do
    expect_exit 0 "UE A's registration in HEP, --workers $w" "$FS38" inspect -q --workers $w \
        --stats-json "$TMPD/hep$w.json" "$TMPD/hep.pcap"
    ok "...: 1 registration, 4 SAs, its 4 ESP packets read" is \
        "$(stat "$TMPD/hep$w.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_sas_learned) \(.capture.esp_decrypted)"')" "1 4 4"
    printf 'capture:\n  hep_auth_key: "s3cret"\n' >"$TMPD/hepkey.yaml"
    expect_exit 0 "...with a hep_auth_key they lack, --workers $w" "$FS38" inspect -q --workers $w \
        -c "$TMPD/hepkey.yaml" --stats-json "$TMPD/hepk$w.json" "$TMPD/hep.pcap"
    ok "...: nothing learned" is \
        "$(stat "$TMPD/hepk$w.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_decrypted)"')" "0 0"
    # a malformed packet before each: counted bad, the packets after it read and learned from
    expect_exit 0 "...each after a malformed HEP packet, --workers $w" "$FS38" inspect -q --workers $w \
        --stats-json "$TMPD/hepb$w.json" "$TMPD/hep-bad.pcap"
    ok "...: still 1 registration, 4 SAs, 4 ESP packets read" is \
        "$(stat "$TMPD/hepb$w.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_sas_learned) \(.capture.esp_decrypted)"')" "1 4 4"
done
# the same HEP received live (--hep), --workers 2: its SAs in --esp-sa-out
port=$(free_port)
timeout -k 5 30 "$FS38" inspect -c /dev/null --hep 127.0.0.1:"$port" --workers 2 --duration 3 -q \
    --esp-sa-out "$TMPD/hep-live.keys" 2>"$TMPD/hep-live.err" &
pid=$!
for ((i = 0; i < 150; i++)); do ss -Hlnu "src 127.0.0.1:$port" 2>/dev/null | grep -q . && break; sleep 0.1; done
python3 - "$port" "$TMPD/hep-frames" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in open(sys.argv[2]):
    s.sendto(bytes.fromhex(line.strip()), ('127.0.0.1', int(sys.argv[1])))
    time.sleep(0.05)
PY
wait $pid
ok "--hep live, --workers 2: UE A's 4 SAs in --esp-sa-out" is "$(grep -vc '^#' "$TMPD/hep-live.keys")" 4

# the registration over SCTP (RFC 4168): learned with any number of workers (the
# reader reads an SCTP packet's first whole message, as it reads a UDP datagram)
python3 - "$TMPD/sctp.pcap" <<'PY'
import struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap
def sctp(vtag, tsn, payload):
    return struct.pack('!HHII', 5060, 5060, vtag, 0) + struct.pack('!BBHIHHI', 0, 3, 16 + len(payload), tsn, 0, 0, 0) + \
        payload + b'\0' * (-len(payload) % 4)
U, P, S = '10.53.0.1', '10.53.0.100', '10.53.1.10'
def m(first, hdrs):
    return (first + '\r\n' + ''.join('%s: %s\r\n' % h for h in hdrs) + 'Content-Length: 0\r\n\r\n').encode()
base = [('Via', 'SIP/2.0/SCTP 10.53.0.1:5060;branch=z9hG4bK-s'), ('From', '<sip:a@x>;tag=1'), ('To', '<sip:a@x>'),
        ('Call-ID', 'sctp-1'), ('CSeq', '1 REGISTER')]
mech = 'ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=%d;spi-s=%d;port-c=5062;port-s=5064'
write_pcap(sys.argv[1], [
    eth(ip4(U, P, 132, sctp(0x111, 11, m('REGISTER sip:x SIP/2.0', base + [('Security-Client', mech % (1, 2))])))),
    eth(ip4(S, P, 132, sctp(0x222, 21, m('SIP/2.0 401 Unauthorized',
        base + [('WWW-Authenticate', 'Digest nonce="s1", ck="%s", ik="%s"' % ('2' * 32, '3' * 32))])))),
    eth(ip4(P, U, 132, sctp(0x333, 31, m('SIP/2.0 401 Unauthorized',
        base + [('WWW-Authenticate', 'Digest nonce="s1"'), ('Security-Server', mech % (3, 4))]))))])
PY
for w in 1 2; do
    expect_exit 0 "the registration over SCTP, --workers $w" "$FS38" inspect -q --workers $w \
        --stats-json "$TMPD/sctp$w.json" "$TMPD/sctp.pcap"
    ok "...: 3 messages, 1 registration, 4 SAs" is \
        "$(stat "$TMPD/sctp$w.json" '"\(.sip_messages) \(.capture.ims_aka_agreements) \(.capture.esp_sas_learned)"')" "3 1 4"
done

# hostile Security-Client/Server and ck/ik values never crash and are passed over
python3 - "$TMPD/bad.pcap" <<'PY'
import sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap, udp_c
U, P, S = '10.49.0.1', '10.49.0.100', '10.49.1.10'
def m(first, hdrs):
    return (first + '\r\n' + ''.join('%s: %s\r\n' % h for h in hdrs) + 'Content-Length: 0\r\n\r\n').encode()
base = [('Via', 'SIP/2.0/UDP 10.49.0.1:5060;branch=z9hG4bK-x'), ('From', '<sip:a@x>;tag=1'), ('To', '<sip:a@x>'),
        ('Call-ID', 'bad-1'), ('CSeq', '1 REGISTER')]
fr = []
for sc in ['ipsec-3gpp;alg=hmac-sha-1-96;spi-c=99999999999;spi-s=1', 'ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-gcm;spi-c=1;spi-s=2',
           'ipsec-3gpp', ';;;', 'ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;spi-s=2;q=9.99999', '"' * 40,
           'ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;spi-s=2']:
    fr.append(eth(ip4(U, P, 17, udp_c(U, P, 5060, 5060, m('REGISTER sip:x SIP/2.0', base + [('Security-Client', sc)])))))
for ck in ['"zz"', '"' + '0' * 31 + '"', '', '"' + 'g' * 32 + '"', '"' + '1' * 32 + '"']:
    fr.append(eth(ip4(S, P, 17, udp_c(S, P, 5060, 5060, m('SIP/2.0 401 Unauthorized',
        base + [('WWW-Authenticate', 'Digest nonce="n1", ck=%s, ik=%s' % (ck, ck))])))))
for ss in ['ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;spi-c=3;spi-s=4', 'ipsec-3gpp;alg=hmac-md5-96;spi-c=3',
           'x' * 3000]:
    fr.append(eth(ip4(P, U, 17, udp_c(P, U, 5060, 5060, m('SIP/2.0 401 Unauthorized',
        base + [('WWW-Authenticate', 'Digest nonce="n1"'), ('Security-Server', ss)])))))
# a P-CSCF that passes the keys on to the UE (SIP-INFO-003 with zones)
fr.append(eth(ip4(P, U, 17, udp_c(P, U, 5060, 5060, m('SIP/2.0 401 Unauthorized',
    base + [('WWW-Authenticate', 'Digest nonce="n2", ck="%s", ik="%s"' % ('2' * 32, '3' * 32))])))))
write_pcap(sys.argv[1], fr)
PY
expect_exit 0 "hostile agreement headers" "$FS38" inspect --stats-json "$TMPD/s5.json" "$TMPD/bad.pcap"
ok "...: the one complete agreement (ealg absent: NULL) learned, 4 SAs" is \
    "$(stat "$TMPD/s5.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_sas_learned)"')" "1 4"

# a registration on a port that is not a SIP port, capture.heuristic off: not SIP
# to the decoder, so not learned from, by one worker or by the reader of several
python3 - "$TMPD/p5070.pcap" <<'PY'
import sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap, udp_c
U, P, S = '10.52.0.1', '10.52.0.100', '10.52.1.10'
def m(first, hdrs):
    return (first + '\r\n' + ''.join('%s: %s\r\n' % h for h in hdrs) + 'Content-Length: 0\r\n\r\n').encode()
base = [('Via', 'SIP/2.0/UDP 10.52.0.1:5070;branch=z9hG4bK-p'), ('From', '<sip:a@x>;tag=1'), ('To', '<sip:a@x>'),
        ('Call-ID', 'p5070'), ('CSeq', '1 REGISTER')]
mech = 'ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=%d;spi-s=%d;port-c=5062;port-s=5064'
write_pcap(sys.argv[1], [
    eth(ip4(U, P, 17, udp_c(U, P, 5070, 5070, m('REGISTER sip:x SIP/2.0', base + [('Security-Client', mech % (1, 2))])))),
    eth(ip4(S, P, 17, udp_c(S, P, 5070, 5070, m('SIP/2.0 401 Unauthorized',
        base + [('WWW-Authenticate', 'Digest nonce="p1", ck="%s", ik="%s"' % ('2' * 32, '3' * 32))])))),
    eth(ip4(P, U, 17, udp_c(P, U, 5070, 5070, m('SIP/2.0 401 Unauthorized',
        base + [('WWW-Authenticate', 'Digest nonce="p1"'), ('Security-Server', mech % (3, 4))]))))])
PY
printf 'capture:\n  heuristic: false\n' >"$TMPD/noheur.yaml"
printf 'capture:\n  heuristic: false\n  sip_ports: [5070]\n' >"$TMPD/p5070.yaml"
for w in 1 2; do
    expect_exit 0 "registration on 5070, heuristic off, --workers $w" "$FS38" inspect -q --workers $w \
        -c "$TMPD/noheur.yaml" --stats-json "$TMPD/p5070-$w.json" "$TMPD/p5070.pcap"
    ok "...: not SIP, nothing learned" is \
        "$(stat "$TMPD/p5070-$w.json" '"\(.sip_messages) \(.capture.ims_aka_agreements)"')" "0 0"
    expect_exit 0 "...with 5070 a SIP port, --workers $w" "$FS38" inspect -q --workers $w \
        -c "$TMPD/p5070.yaml" --stats-json "$TMPD/p5070s-$w.json" "$TMPD/p5070.pcap"
    ok "...: learned" is \
        "$(stat "$TMPD/p5070s-$w.json" '"\(.sip_messages) \(.capture.ims_aka_agreements)"')" "3 1"
done

# a UE offering all six alg x ealg pairs (as deployed UEs do), the P-CSCF
# picking the last, sha1 + AES-CBC: the offer must not stop at four
python3 - "$TMPD/six.pcap" <<'PY'
import sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap, udp_c
U, P, S = '10.50.0.1', '10.50.0.100', '10.50.1.10'
def m(first, hdrs):
    return (first + '\r\n' + ''.join('%s: %s\r\n' % h for h in hdrs) + 'Content-Length: 0\r\n\r\n').encode()
base = [('Via', 'SIP/2.0/UDP 10.50.0.1:5060;branch=z9hG4bK-x'), ('From', '<sip:a@x>;tag=1'), ('To', '<sip:a@x>'),
        ('Call-ID', 'six-1'), ('CSeq', '1 REGISTER')]
pairs = [(a, e) for a in ['hmac-md5-96', 'hmac-sha-1-96'] for e in ['des-ede3-cbc', 'null', 'aes-cbc']]
offers = ['ipsec-3gpp;alg=%s;ealg=%s;prot=esp;mod=trans;spi-c=%d;spi-s=%d;port-c=5062;port-s=5064' %
          (a, e, 1000 + 2 * i, 1001 + 2 * i) for i, (a, e) in enumerate(pairs)]
ss = 'ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=7000;spi-s=7001;port-c=6000;port-s=6002'
fr = [eth(ip4(U, P, 17, udp_c(U, P, 5060, 5060, m('REGISTER sip:x SIP/2.0', base + [('Security-Client', ','.join(offers))])))),
      eth(ip4(S, P, 17, udp_c(S, P, 5060, 5060, m('SIP/2.0 401 Unauthorized',
          base + [('WWW-Authenticate', 'Digest nonce="n6", ck="%s", ik="%s"' % ('2' * 32, '3' * 32))])))),
      eth(ip4(P, U, 17, udp_c(P, U, 5060, 5060, m('SIP/2.0 401 Unauthorized',
          base + [('WWW-Authenticate', 'Digest nonce="n6"'), ('Security-Server', ss)]))))]
write_pcap(sys.argv[1], fr)
PY
expect_exit 0 "six mechanisms offered, the sixth picked" "$FS38" inspect -q --esp-sa-out "$TMPD/six.keys" "$TMPD/six.pcap"
ok "...: its 4 SAs, the UE's SPIs those of its sixth offer (0x3f2, 0x3f3)" is \
    "$(grep -v '^#' "$TMPD/six.keys" | cut -d, -f4 | sort | tr '\n' ' ')" '"0x000003f2" "0x000003f3" "0x00001b58" "0x00001b59" '

# the P-CSCF's best mechanism the UE offered is one fs38 does not read (Rel-18's
# AES-GCM, HMAC-SHA-256): the UE uses it, so no SA is learned and its ESP is not
# "failed"; a UE that did not offer it takes the next (sha1 + AES-CBC), learned
python3 - "$TMPD/gcm.pcap" <<'PY'
import os, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap, udp_c
P, S = '10.51.0.100', '10.51.1.10'
def m(first, hdrs):
    return (first + '\r\n' + ''.join('%s: %s\r\n' % h for h in hdrs) + 'Content-Length: 0\r\n\r\n').encode()
def mech(alg, ealg, c, s, q=''):
    return 'ipsec-3gpp;%salg=%s;%sprot=esp;mod=trans;spi-c=%d;spi-s=%d;port-c=5062;port-s=5064' % (
        'q=%s;' % q if q else '', alg, 'ealg=%s;' % ealg if ealg else '', c, s)
gcm = mech('hmac-sha-256-128', 'aes-gcm', 9000, 9001, '0.9') + ',' + mech('hmac-sha-1-96', 'aes-cbc', 9000, 9001, '0.5')
sha256 = mech('hmac-sha-256-128', None, 9000, 9001, '0.9') + ',' + mech('hmac-sha-1-96', 'aes-cbc', 9000, 9001, '0.5')
fr = []
for i, (U, offers, ss) in enumerate([
        ('10.51.0.1', [('hmac-sha-1-96', 'aes-cbc'), ('HMAC-SHA-256-128', 'AES-GCM')], gcm),
        ('10.51.0.2', [('hmac-sha-1-96', 'aes-cbc')], gcm),
        ('10.51.0.3', [('hmac-sha-1-96', 'aes-cbc'), ('hmac-sha-256-128', 'null')], sha256)]):  # no ealg: null
    base = [('Via', 'SIP/2.0/UDP %s:5060;branch=z9hG4bK-g%d' % (U, i)), ('From', '<sip:a@x>;tag=1'), ('To', '<sip:a@x>'),
            ('Call-ID', 'gcm-%d' % i), ('CSeq', '1 REGISTER')]
    sc = ','.join(mech(a, e, 1000 + 10 * i, 1001 + 10 * i) for a, e in offers)
    fr += [eth(ip4(U, P, 17, udp_c(U, P, 5060, 5060, m('REGISTER sip:x SIP/2.0', base + [('Security-Client', sc)])))),
           eth(ip4(S, P, 17, udp_c(S, P, 5060, 5060, m('SIP/2.0 401 Unauthorized',
               base + [('WWW-Authenticate', 'Digest nonce="g%d", ck="%s", ik="%s"' % (i, '2' * 32, '3' * 32))])))),
           eth(ip4(P, U, 17, udp_c(P, U, 5060, 5060, m('SIP/2.0 401 Unauthorized',
               base + [('WWW-Authenticate', 'Digest nonce="g%d"' % i), ('Security-Server', ss)]))))]
# the first UE's ESP in AES-GCM (SPI 9001, the P-CSCF's spi-s): 8 bytes of IV, 64 sealed, a 16-byte tag
fr.append(eth(ip4('10.51.0.1', P, 50, (9001).to_bytes(4, 'big') + (1).to_bytes(4, 'big') + bytes(range(88)))))
write_pcap(sys.argv[1], fr)
PY
expect_exit 0 "the best mechanism is AES-GCM or HMAC-SHA-256" "$FS38" inspect -q --stats-json "$TMPD/gcm.json" \
    --esp-sa-out "$TMPD/gcm.keys" "$TMPD/gcm.pcap"
ok "...: only the UE that offered neither learned (1 registration, 4 SAs)" is \
    "$(stat "$TMPD/gcm.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_sas_learned)"')" "1 4"
ok "...: its SAs are that UE's" is "$(grep -v '^#' "$TMPD/gcm.keys" | grep -c 10.51.0.2)" 4
ok "...: the AES-GCM ESP counted, not read, not failed" is \
    "$(stat "$TMPD/gcm.json" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_failed)"')" "1 0 0"

expect_exit 0 "hostile headers: no zones, no SIP-INFO-003" "$FS38" inspect --json "$TMPD/bad.pcap"
ok "...: none" is "$(jq -r 'select(.rule.id == "SIP-INFO-003") | .rule.id' "$TMPD/out")" ""
printf 'zones:\n  core: {trust: core, networks: [10.49.0.100/32, 10.49.1.0/24]}\n  ues: {trust: untrusted, access: true, networks: [10.49.0.0/24]}\n' \
    >"$TMPD/zones.yaml"
expect_exit 1 "with zones: the P-CSCF that passes ck and ik to the UE (--fail-on high)" "$FS38" inspect --json \
    --fail-on high --config "$TMPD/zones.yaml" "$TMPD/bad.pcap"
ok "...: one SIP-INFO-003 from 10.49.0.100, toward ues, ck and ik" is \
    "$(jq -r 'select(.rule.id == "SIP-INFO-003") | "\(.observables[0].value) \(.evidence.details.toward_zone) \(.evidence.details.disclosed)"' "$TMPD/out")" \
    "10.49.0.100 ues ck ik"
ok "...: the S-CSCF's 401 to the P-CSCF (core to core) is not one" is \
    "$(jq -r 'select(.rule.id == "SIP-INFO-003") | .evidence.count' "$TMPD/out")" 1

# 17 registrations (68 SAs): UE 0's SAs and UE 16's share a decoder's cache
# entry of learned SAs (slot % 64). UE 0's first protected packet is in the
# capture twice, UE 16's in between: the duplicate is still a replay, read once.
python3 - "$TMPD/collide.pcap" <<'PY'
import hashlib, hmac, struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap, udp_c, scanner_options
P, S = '10.63.0.100', '10.63.1.10'
frames, esp = [], {}
def m(first, hdrs):
    return (first + '\r\n' + ''.join('%s: %s\r\n' % h for h in hdrs) + 'Content-Length: 0\r\n\r\n').encode()
def udp(src, dst, msg): frames.append(eth(ip4(src, dst, 17, udp_c(src, dst, 5060, 5060, msg))))
mech = 'ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;ealg=null;spi-c=%d;spi-s=%d;port-c=50001;port-s=50002'
for i in range(17):
    U, ik = '10.63.0.%d' % (i + 1), bytes([i + 1]) * 16
    base = [('Via', 'SIP/2.0/UDP %s:50001;branch=z9hG4bK-c%d' % (U, i)), ('From', '<sip:u%d@x>;tag=1' % i),
            ('To', '<sip:u%d@x>' % i), ('Call-ID', 'col-%d' % i), ('CSeq', '1 REGISTER')]
    udp(U, P, m('REGISTER sip:x SIP/2.0', base + [('Security-Client', mech % (1000 + i, 2000 + i))]))
    udp(S, P, m('SIP/2.0 401 Unauthorized', base + [('WWW-Authenticate',
        'Digest nonce="col%d", ck="%s", ik="%s"' % (i, '00' * 16, ik.hex()))]))
    udp(P, U, m('SIP/2.0 401 Unauthorized', base + [('WWW-Authenticate', 'Digest nonce="col%d"' % i),
        ('Security-Server', mech % (3000 + i, 4000 + i))]))
    esp[i] = (U, 4000 + i, ik + bytes(4))  # UE to the P-CSCF's server port: its spi-s
for i in (0, 16, 0):
    U, spi, key = esp[i]
    u = udp_c(U, P, 50001, 6101, scanner_options(i, U, b'col-', b't'))
    pad = (4 - (len(u) + 2) % 4) % 4
    e = struct.pack('!II', spi, 1) + u + bytes(range(1, pad + 1)) + bytes([pad, 17])
    frames.append(eth(ip4(U, P, 50, e + hmac.new(key, e, hashlib.sha1).digest()[:12])))
write_pcap(sys.argv[1], frames)
PY
expect_exit 0 "17 registrations, a duplicate across a shared cache entry" "$FS38" inspect \
    --stats-json "$TMPD/col.json" "$TMPD/collide.pcap"
ok "...: 17 learned; 3 packets, 2 read, the duplicate replayed" is \
    "$(stat "$TMPD/col.json" '"\(.capture.ims_aka_agreements) \(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_replayed)"')" \
    "17 3 2 1"

finish test_ims_aka
