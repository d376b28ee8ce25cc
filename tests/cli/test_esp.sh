#!/usr/bin/env bash
# test_esp.sh -- SIP inside ESP with NULL encryption (RFC 2410), as VoLTE's
# Gm runs it between UE and P-CSCF (3GPP TS 33.203: integrity only), in
# tests/data/capture/esp.pcap (made by make_tunnels.py). Each OPTIONS
# (Call-ID tunnel-N) comes from its own UE with a scanner's User-Agent, so
# each one read is a SIP-SCAN-001 incident:
#   - tunnel-31: transport mode, HMAC-SHA-1-96 (12-byte ICV), UDP;
#   - tunnel-32: HMAC-SHA-256-128 (16-byte ICV), TCP;
#   - tunnel-33: tunnel mode, an inner IPv4 packet;
#   - tunnel-34: IPv6, transport mode;
#   - tunnel-35: UDP-encapsulated ESP (NAT-T, port 4500), inner UDP checksum 0;
# and what is not read: encrypted ESP (random bytes), tunnel-36 whose UDP
# checksum is wrong (nothing tells NULL from encrypted ESP but the packet
# checking out, so a reading that does not is dropped), and tunnel-37 after
# a NAT-T non-ESP marker (IKE's, not ESP). Not ESP either, nor counted as
# such: a NAT keepalive on 4500, and tunnel-38, SIP sent to a UA whose SIP
# port is 4500 (read as SIP; tshark takes its "OPTI" for an SPI).
# Checked against tshark with its NULL-encryption heuristic on, which reads
# tunnel-36 too (it does not check the checksum).
#
# Usage: FS38=build/asan/fs38 tests/cli/test_esp.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 2

PCAP=tests/data/capture/esp.pcap
ids() { sort -V | tr '\n' ' ' | sed 's/ $//'; }
scan_ids() { jq -r 'select(.rule.id == "SIP-SCAN-001") | .evidence.sample.call_id' "$1" | ids; }
stat() { jq -r "$2" "$1"; }
esp="tunnel-31 tunnel-32 tunnel-33 tunnel-34 tunnel-35"
want="$esp tunnel-38"

expect_exit 0 "inspect esp.pcap" "$FS38" inspect --json --stats-json "$TMPD/s.json" "$PCAP"
cp "$TMPD/out" "$TMPD/w1.ndjson"
ok "each NULL-encrypted message read" is "$(scan_ids "$TMPD/w1.ndjson")" "$want"
ok "ESP packets counted (7), read (5)" is "$(stat "$TMPD/s.json" '"\(.capture.esp_packets) \(.capture.esp_null)"')" "7 5"
ok "the TCP one over TCP" is "$(jq -r 'select(.evidence.sample.call_id == "tunnel-32") | .evidence.sample.transport' "$TMPD/w1.ndjson")" tcp
ok "incidents name the UEs, not the tunnel endpoints" bash -c \
    "jq -r '.observables[] | select(.kind == \"ip\") | .value' '$TMPD/w1.ndjson' | grep -q '^10\\.46\\.0\\.33$' && ! jq -r '.observables[].value' '$TMPD/w1.ndjson' | grep -q '^198\\.18\\.'"
ok "the summary says what ESP could not be read" bash -c \
    "'$FS38' inspect '$PCAP' 2>&1 | grep -q 'ESP 7 (NULL-encrypted, read 5)'"

# tshark with its NULL heuristic: the same messages, and tunnel-36
tshark -o esp.enable_null_encryption_decode_heuristic:TRUE -r "$PCAP" -Y sip -T fields -e sip.Call-ID 2>/dev/null |
    ids >"$TMPD/tshark"
ok "tshark reads tunnel-36 as well (it does not check the checksum)" is "$(cat "$TMPD/tshark")" "$esp tunnel-36"
# each sample's x-encap: the SPI tshark reads in that message's frame, and its endpoints
tshark -o esp.enable_null_encryption_decode_heuristic:TRUE -r "$PCAP" -Y sip -T fields -E separator='|' \
    -e sip.Call-ID -e esp.spi -e ip.src -e ipv6.src 2>/dev/null >"$TMPD/spi"
compare_spi() {
    python3 - "$TMPD/w1.ndjson" "$TMPD/spi" <<'PY'
import json, sys
ours = {}
for line in open(sys.argv[1]):
    s = json.loads(line)["evidence"]["sample"]
    if "x-encap" not in s:
        continue
    l = s["x-encap"][0]
    ours[s["call_id"]] = (l["kind"], l["id"], l["src"])
bad = n = 0
for line in open(sys.argv[2]):
    cid, spi, v4, v6 = line.rstrip("\n").split("|")
    if cid not in ours:
        continue
    n += 1
    outer_src = (v4 or v6).split(",")[0]
    if ours[cid] != ("esp", int(spi, 0), outer_src):
        bad += 1
        print(cid, ours[cid], spi, outer_src, file=sys.stderr)
print(n, bad)
PY
}
ok "x-encap: the SPI and endpoints tshark reads, for all 5" is "$(compare_spi)" "5 0"
ok "tunnel-38 came through no tunnel" is \
    "$(jq -r 'select(.evidence.sample.call_id == "tunnel-38") | .evidence.sample | has("x-encap")' "$TMPD/w1.ndjson")" false

expect_exit 0 "inspect --workers 2" "$FS38" inspect --workers 2 --json --stats-json "$TMPD/s2.json" "$PCAP"
ok "--workers 2: the same messages" is "$(scan_ids "$TMPD/out")" "$want"
ok "--workers 2: the same counts" is "$(stat "$TMPD/s2.json" '"\(.capture.esp_packets) \(.capture.esp_null)"')" "7 5"

# ---- encrypted ESP read with the SAs' keys (--esp-sa) ------------------------------
# tests/data/capture/esp_sa.pcap, esp_sa.keys and esp_sa.xfrm (make_esp_sa.sh): esp-41
# (and its answer 41r) AES-CBC + HMAC-SHA-1-96, esp-42 IPv6 TCP 3DES +
# HMAC-MD5-96, esp-43 AES-CTR + HMAC-SHA-256-128, esp-44 tunnel mode in UDP
# 4500 with AES-GCM, esp-45 an SA of any addresses, esp-48 AES-GCM with an
# 8-byte ICV; esp-46's SA has another HMAC key (not read), esp-47 has no SA.
# tshark, given the same SAs, decrypts them all and marks esp-46's ICV bad.
SA_PCAP=tests/data/capture/esp_sa.pcap SA_KEYS=tests/data/capture/esp_sa.keys
# all_ids NDJSON: the Call-IDs of every SIP-SCAN-001 incident's messages, by --pcap-out
expect_exit 0 "--esp-sa: inspect" "$FS38" inspect --json --esp-sa "$SA_KEYS" --stats-json "$TMPD/sa.json" \
    --pcap-out "$TMPD/sa.pcapng" --pcap-limit 0 "$SA_PCAP"
cp "$TMPD/out" "$TMPD/sa.ndjson"
ours=$(tshark -r "$TMPD/sa.pcapng" -Y sip -T fields -e sip.Call-ID 2>/dev/null | sort -u | tr '\n' ' ')
ok "--esp-sa: each message decrypted and read (the scanner's OPTIONS)" is "$ours" \
    "esp-41 esp-42 esp-43 esp-44 esp-45 esp-48 "
ok "--esp-sa: 9 ESP packets, 7 decrypted (41r the answer), 1 failed its integrity check" \
    is "$(stat "$TMPD/sa.json" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_failed) \(.sip_messages)"')" "9 7 1 7"
ok "--esp-sa: transports as inside (6 UDP, 1 TCP)" is "$(stat "$TMPD/sa.json" '"\(.transports.udp) \(.transports.tcp)"')" "6 1"
ok "--esp-sa: esp-44's inner IPv6 source (tunnel mode), named with its SPI" \
    is "$(jq -r 'select(.rule.id == "SIP-SCAN-001" and .evidence.sample.call_id == "esp-44") | "\(.evidence.sample.src) \(.evidence.sample["x-encap"] // [] | map(select(.kind == "esp")) | .[0].id)"' "$TMPD/sa.ndjson")" \
    "[2001:db8:4a::44]:5060 8197"
# tshark with the same SAs: what it decrypts with a good (or no) ICV
tshark_args=()
while IFS= read -r line; do
    case "$line" in '#'* | '') continue ;; esac
    tshark_args+=(-o "uat:esp_sa:$line")
done <"$SA_KEYS"
theirs=$(tshark -r "$SA_PCAP" -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE \
    "${tshark_args[@]}" -Y 'sip.Method == "OPTIONS" && !(esp.icv_bad == 1)' -T fields -e sip.Call-ID 2>/dev/null | sort -u | tr '\n' ' ')
ok "--esp-sa: the requests tshark decrypts with a good ICV are fs38's" is "$theirs" "$ours"
ok "--esp-sa: tshark finds esp-46's ICV bad" is \
    "$(tshark -r "$SA_PCAP" -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE \
        "${tshark_args[@]}" -Y 'esp.icv_bad == 1' -T fields -e sip.Call-ID 2>/dev/null)" esp-46
expect_exit 0 "--esp-sa: without the file" "$FS38" inspect --esp-sa /dev/null "$SA_PCAP"
expect_exit 0 "--esp-sa: without SAs, nothing decrypted and the summary says how" "$FS38" inspect "$SA_PCAP"
ok "...: --esp-sa FILE named" grep -q -- "--esp-sa FILE" "$TMPD/out"
# SAs given, but not the packets': the summary says how many had none (esp-47 has none)
expect_exit 0 "--esp-sa: the summary counts the packets with no SA" "$FS38" inspect --esp-sa "$SA_KEYS" "$SA_PCAP"
ok "...: esp-47's" grep -q "ESP packets with no SA in --esp-sa (SPI and addresses) 1$" "$TMPD/out"
sed 's/"0x00002/"0x00009/' "$SA_KEYS" >"$TMPD/wrong.keys"
expect_exit 0 "--esp-sa: SAs of other SPIs" "$FS38" inspect --esp-sa "$TMPD/wrong.keys" "$SA_PCAP"
ok "...: all 9 have none, and the summary says so" grep -q "ESP packets with no SA in --esp-sa (SPI and addresses) 9$" "$TMPD/out"
expect_exit 0 "--esp-sa: --workers 2" "$FS38" inspect --workers 2 --json --esp-sa "$SA_KEYS" --stats-json "$TMPD/sa2.json" "$SA_PCAP"
ok "--esp-sa: --workers 2 reads the same" is \
    "$(stat "$TMPD/sa2.json" '"\(.capture.esp_decrypted) \(.capture.esp_failed) \(.sip_messages)"')" "7 1 7"
# the config key, relative to the config file's folder
mkdir -p "$TMPD/conf"
cp "$SA_KEYS" "$TMPD/conf/sa.keys"
printf 'capture:\n  esp_sa: sa.keys\n' >"$TMPD/conf/site.yaml"
expect_exit 0 "--esp-sa: capture.esp_sa in the config" "$FS38" inspect -c "$TMPD/conf/site.yaml" --stats-json "$TMPD/sa3.json" "$SA_PCAP"
ok "...reads the same" is "$(stat "$TMPD/sa3.json" '"\(.capture.esp_decrypted) \(.sip_messages)"')" "7 7"
# the same SAs as `ip xfrm state` (and `ip -s xfrm state`) prints them
expect_exit 0 "--esp-sa: ip xfrm state output" "$FS38" inspect --json --esp-sa tests/data/capture/esp_sa.xfrm \
    --stats-json "$TMPD/sx.json" --pcap-out "$TMPD/sx.pcapng" --pcap-limit 0 "$SA_PCAP"
ok "--esp-sa xfrm: the same counts as Wireshark's format" \
    is "$(stat "$TMPD/sx.json" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_failed) \(.sip_messages)"')" "9 7 1 7"
ok "--esp-sa xfrm: the same messages" \
    is "$(tshark -r "$TMPD/sx.pcapng" -Y sip -T fields -e sip.Call-ID 2>/dev/null | sort -u | tr '\n' ' ')" "$ours"
bad_xfrm() { printf "$1" >"$TMPD/bad.xfrm"; "$FS38" inspect -q --esp-sa "$TMPD/bad.xfrm" "$SA_PCAP" 2>&1 >/dev/null; echo "rc=$?"; }
ok "--esp-sa xfrm: a block without enc or aead" grep -q "bad.xfrm:1: no enc or aead line.*rc=2" \
    <<<"$(bad_xfrm 'src 10.0.0.1 dst 10.0.0.2\n\tproto esp spi 0x1 reqid 1 mode transport\n' | tr '\n' ' ')"
ok "--esp-sa xfrm: a cipher not read" grep -q "bad.xfrm:3: enc: not one fs38 reads.*rc=2" \
    <<<"$(bad_xfrm 'src 10.0.0.1 dst 10.0.0.2\n\tproto esp spi 0x1\n\tenc cbc(twofish) 0x00\n' | tr '\n' ' ')"
ok "--esp-sa xfrm: addresses of two protocols" grep -q "bad.xfrm:1: expected \"src ADDRESS dst ADDRESS\".*rc=2" \
    <<<"$(bad_xfrm 'src 10.0.0.1 dst ::2\n' | tr '\n' ' ')"
# an SA with auth digest_null, as the kernel prints it (auth-trunc, an empty key, an ICV
# of 0 bits; some iproute2 versions leave out the empty key): esp-45's, read the same
for dn in 'auth-trunc digest_null 0x 0' 'auth-trunc digest_null 0'; do
    sed "/enc cbc(aes) 0x00112233445566778899aabbccddeeffffeeddccbbaa99887766554433221100/a\\	$dn" \
        tests/data/capture/esp_sa.xfrm >"$TMPD/dn.xfrm"
    expect_exit 0 "--esp-sa xfrm: $dn" "$FS38" inspect -q --esp-sa "$TMPD/dn.xfrm" --stats-json "$TMPD/dn.json" "$SA_PCAP"
    ok "...: the same counts" is "$(stat "$TMPD/dn.json" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_failed) \(.sip_messages)"')" "9 7 1 7"
done
ok "--esp-sa xfrm: an ICV longer than its digest" grep -q "bad.xfrm:3: auth-trunc: expected the ICV length.*rc=2" \
    <<<"$(bad_xfrm 'src 10.0.0.1 dst 10.0.0.2\n\tproto esp spi 0x1\n\tauth-trunc hmac(sha1) 0x0102030405060708090a0b0c0d0e0f1011121314 256\n\tenc cbc(aes) 0x00112233445566778899aabbccddeeff\n' | tr '\n' ' ')"
ok "--esp-sa: neither format" grep -q "bad.xfrm:1: neither Wireshark's esp_sa lines.*rc=2" \
    <<<"$(bad_xfrm 'hello\n' | tr '\n' ' ')"

# ---- extended sequence numbers (make_esp_esn.sh): 13 OPTIONS esn-1..13 in 4 SAs with
# `flag esn`, whose high 32 bits (2-7 across wraps) are on no wire but in the ICV or AAD
ESN_PCAP=tests/data/capture/esp_esn.pcap ESN_SA=tests/data/capture/esp_esn.xfrm
esn_ids() { tshark -r "$1" -Y sip -T fields -e sip.Call-ID 2>/dev/null | sort -uV | tr '\n' ' '; }
esp_counts() { stat "$1" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_failed) \(.sip_messages)"'; }
expect_exit 0 "ESN: inspect with the xfrm dump" "$FS38" inspect --json --esp-sa "$ESN_SA" --stats-json "$TMPD/esn.json" \
    --pcap-out "$TMPD/esn.pcapng" --pcap-limit 0 "$ESN_PCAP"
ok "ESN: all 13 decrypted and checked, across wraps, behind and ahead of the dump's counters" \
    is "$(esp_counts "$TMPD/esn.json")" "13 13 0 13"
ok "ESN: every message read" is "$(esn_ids "$TMPD/esn.pcapng")" \
    "esn-1 esn-2 esn-3 esn-4 esn-5 esn-6 esn-7 esn-8 esn-9 esn-10 esn-11 esn-12 esn-13 "
expect_exit 0 "ESN: --workers 2" "$FS38" inspect -q --workers 2 --esp-sa "$ESN_SA" --stats-json "$TMPD/esn2.json" "$ESN_PCAP"
ok "ESN: --workers 2 reads the same" is "$(esp_counts "$TMPD/esn2.json")" "13 13 0 13"
# the same SAs without `esn`: the ICVs and tags cover 32 more bits than such a reader takes
sed 's/ af-unspec esn/ af-unspec/' "$ESN_SA" >"$TMPD/noesn.xfrm"
expect_exit 0 "ESN: the dump without flag esn" "$FS38" inspect --esp-sa "$TMPD/noesn.xfrm" --stats-json "$TMPD/esn3.json" "$ESN_PCAP"
ok "...: nothing checks out" is "$(esp_counts "$TMPD/esn3.json")" "13 0 13 0"
ok "...: the summary says so" grep -q "ESP packets whose SA did not check out (integrity, key, ESN) *13" "$TMPD/out"
# SA 0x4001 (esn-1..4, high bits 2 and 3) without the counters of its context: from 0, 2^33 short
sed 's/oseq-hi 0x3, oseq 0x1/oseq-hi 0x0, oseq 0x0/' "$ESN_SA" >"$TMPD/nohint.xfrm"
expect_exit 0 "ESN: one SA's counters left at 0" "$FS38" inspect -q --esp-sa "$TMPD/nohint.xfrm" \
    --stats-json "$TMPD/esn4.json" --pcap-out "$TMPD/esn4.pcapng" --pcap-limit 0 "$ESN_PCAP"
ok "...: its 4 packets do not check out, the other SAs' do" is "$(esp_counts "$TMPD/esn4.json")" "13 9 4 9"
ok "...: the ones read" is "$(esn_ids "$TMPD/esn4.pcapng")" "esn-5 esn-6 esn-7 esn-8 esn-9 esn-10 esn-11 esn-12 esn-13 "
ok "ESN: a counter that is not one is named" grep -q "bad.xfrm:4: anti-replay esn context: expected.*rc=2" \
    <<<"$(bad_xfrm 'src 10.0.0.1 dst 10.0.0.2\n\tproto esp spi 0x1\n\tanti-replay esn context:\n\t seq-hi 0x100000000, seq 0x1\n\tenc cbc(aes) 0x00112233445566778899aabbccddeeff\n' | tr '\n' ' ')"

# anti-replay (RFC 4303 3.4.3): SA 0x7001 (NULL + HMAC-SHA-1-96) carries sequence numbers
# 1, 3, 2, 3 again, 100, 2 again: the second 3 was read already (a replay, or the capture's
# duplicate) and is not read twice; the second 2 is 98 behind, older than the window of 64,
# where a late packet and a replay look alike: read. Packets read out of order are read.
python3 - "$TMPD/replay.pcap" "$TMPD/replay.keys" <<'PY'
import hashlib, hmac, struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap, udp_c, scanner_options
U, P, AK = '10.62.0.1', '10.62.0.100', bytes(range(1, 21))
frames = []
for seq in (1, 3, 2, 3, 100, 2):
    u = udp_c(U, P, 5060, 5060, scanner_options(seq, U, b'rp-', b't'))
    pad = (4 - (len(u) + 2) % 4) % 4
    esp = struct.pack('!II', 0x7001, seq) + u + bytes(range(1, pad + 1)) + bytes([pad, 17])
    frames.append(eth(ip4(U, P, 50, esp + hmac.new(AK, esp, hashlib.sha1).digest()[:12])))
write_pcap(sys.argv[1], frames)
open(sys.argv[2], 'w').write('"IPv4","%s","%s","0x00007001","NULL","","HMAC-SHA-1-96 [RFC2404]","0x%s"\n' % (U, P, AK.hex()))
PY
for w in 1 2; do
    expect_exit 0 "anti-replay: inspect, --workers $w" "$FS38" inspect --workers $w --esp-sa "$TMPD/replay.keys" \
        --stats-json "$TMPD/rp$w.json" "$TMPD/replay.pcap"
    ok "...: 6 packets, 5 read, 1 replayed, 5 messages" is \
        "$(stat "$TMPD/rp$w.json" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_replayed) \(.sip_messages)"')" "6 5 1 5"
done
ok "...: the summary says so" grep -q "ESP packets replayed (a sequence number read before) 1" "$TMPD/out"

# padding other than 1, 2, 3 ... (RFC 4303 2.4 lets a receiver not look; Linux's xfrm checks the
# pad length only): SA 0x7101 (NULL + HMAC-SHA-1-96) carries the default padding, zeros and 0xa5.
# The ICV checks out, the P-CSCF reads all three, and so does tshark: a sender holding the keys
# cannot hide its SIP behind odd padding.
python3 - "$TMPD/pad.pcap" "$TMPD/pad.keys" <<'PY'
import hashlib, hmac, struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap, udp_c, scanner_options
U, P, AK = '10.62.1.1', '10.62.1.100', bytes(range(1, 21))
frames = []
for seq, fill in ((1, None), (2, 0), (3, 0xa5)):
    u = udp_c(U, P, 5060, 5060, scanner_options(seq, U, b'pad-', b't'))
    pad = (4 - (len(u) + 2) % 4) % 4 + 4
    esp = struct.pack('!II', 0x7101, seq) + u + (bytes(range(1, pad + 1)) if fill is None else bytes([fill]) * pad)
    esp += bytes([pad, 17])
    frames.append(eth(ip4(U, P, 50, esp + hmac.new(AK, esp, hashlib.sha1).digest()[:12])))
write_pcap(sys.argv[1], frames)
open(sys.argv[2], 'w').write('"IPv4","%s","%s","0x00007101","NULL","","HMAC-SHA-1-96 [RFC2404]","0x%s"\n' % (U, P, AK.hex()))
PY
expect_exit 0 "odd padding: inspect" "$FS38" inspect --esp-sa "$TMPD/pad.keys" --stats-json "$TMPD/pad.json" "$TMPD/pad.pcap"
ok "...: 3 packets, 3 read, none failed, 3 messages" is \
    "$(stat "$TMPD/pad.json" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_failed) \(.sip_messages)"')" "3 3 0 3"
ok "...: tshark reads the same 3" is "$(tshark -r "$TMPD/pad.pcap" -o esp.enable_encryption_decode:TRUE \
    -o esp.enable_authentication_check:TRUE -o "uat:esp_sa:$(cat "$TMPD/pad.keys")" -Y 'sip && esp.icv_good == 1' \
    -T fields -e sip.Call-ID 2>/dev/null | tr '\n' ' ')" "pad-1 pad-2 pad-3 "

# one line for many SAs (SPI "*": IMS AKA gives the UE's two SAs to the P-CSCF the same keys):
# each SA numbers its packets from 1, so each has its own anti-replay window. SAs 0x7201 and
# 0x7202 carry 1, 2 each, then 0x7201's 2 again: 5 packets, 4 read, the duplicate replayed.
python3 - "$TMPD/wild.pcap" "$TMPD/wild.keys" <<'PY'
import hashlib, hmac, struct, sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import ip4, eth, write_pcap, udp_c, scanner_options
U, P, AK = '10.62.2.1', '10.62.2.100', bytes(range(1, 21))
frames = []
for n, (spi, seq) in enumerate(((0x7201, 1), (0x7202, 1), (0x7201, 2), (0x7202, 2), (0x7201, 2))):
    u = udp_c(U, P, 5060, 5060, scanner_options(n if n < 4 else 2, U, b'wild-', b't'))
    pad = (4 - (len(u) + 2) % 4) % 4
    esp = struct.pack('!II', spi, seq) + u + bytes(range(1, pad + 1)) + bytes([pad, 17])
    frames.append(eth(ip4(U, P, 50, esp + hmac.new(AK, esp, hashlib.sha1).digest()[:12])))
write_pcap(sys.argv[1], frames)
open(sys.argv[2], 'w').write('"IPv4","%s","%s","*","NULL","","HMAC-SHA-1-96 [RFC2404]","0x%s"\n' % (U, P, AK.hex()))
PY
for w in 1 2; do
    expect_exit 0 "SPI *: inspect, --workers $w" "$FS38" inspect --workers $w --esp-sa "$TMPD/wild.keys" \
        --stats-json "$TMPD/wild$w.json" "$TMPD/wild.pcap"
    ok "...: 5 packets, 4 read, 1 replayed, 4 messages" is \
        "$(stat "$TMPD/wild$w.json" '"\(.capture.esp_packets) \(.capture.esp_decrypted) \(.capture.esp_replayed) \(.sip_messages)"')" "5 4 1 4"
done

# bad files: each named with its line and field
bad_sa() { printf '%s\n' "$1" >"$TMPD/bad.keys"; "$FS38" inspect -q --esp-sa "$TMPD/bad.keys" "$SA_PCAP" 2>&1 >/dev/null; echo "rc=$?"; }
ok "--esp-sa: a missing file" is "$("$FS38" inspect -q --esp-sa "$TMPD/none" "$SA_PCAP" 2>&1 | grep -c 'No such file')" 1
ok "--esp-sa: not quoted fields" grep -q "bad.keys:2: expected 8 quoted fields.*rc=2" \
    <<<"$(bad_sa '"IPv4","*","*","0x2","NULL","","NULL",""
IPv4,1.2.3.4,*,0x1,NULL,,NULL,' | tr '\n' ' ')"
ok "--esp-sa: an address of the other protocol" grep -q "bad.keys:1: source (field 2).*rc=2" <<<"$(bad_sa '"IPv6","10.0.0.1","*","0x1","NULL","","NULL",""' | tr '\n' ' ')"
ok "--esp-sa: a cipher not read" grep -q "bad.keys:1: encryption (field 5).*rc=2" <<<"$(bad_sa '"IPv4","*","*","0x1","DES-CBC [RFC2405]","0x0011223344556677","NULL",""' | tr '\n' ' ')"
ok "--esp-sa: a key of the wrong length" grep -q "bad.keys:1: AES-CBC takes a 16, 24 or 32-byte key.*rc=2" <<<"$(bad_sa '"IPv4","*","*","0x1","AES-CBC [RFC3602]","0x0011","NULL",""' | tr '\n' ' ')"
ok "--esp-sa: an HMAC without its key" grep -q "bad.keys:1: authentication key (field 8): missing.*rc=2" <<<"$(bad_sa '"IPv4","*","*","0x1","NULL","","HMAC-SHA-1-96 [RFC2404]",""' | tr '\n' ' ')"
ok "--esp-sa: a bad SPI" grep -q "bad.keys:1: SPI (field 4).*rc=2" <<<"$(bad_sa '"IPv4","*","*","12","NULL","","NULL",""' | tr '\n' ' ')"
for spi in 0x-1 0x+10 '0x 10' 0x0x10; do
    ok "--esp-sa: SPI $spi refused" grep -q "bad.keys:1: SPI (field 4).*rc=2" <<<"$(bad_sa '"IPv4","*","*","'"$spi"'","NULL","","NULL",""' | tr '\n' ' ')"
done
ok "--esp-sa xfrm: SPI 0x-1 refused" grep -q "bad.xfrm:2: proto esp: expected spi.*rc=2" \
    <<<"$(bad_xfrm 'src 10.0.0.1 dst 10.0.0.2\n\tproto esp spi 0x-1\n\tenc cbc(aes) 0x00112233445566778899aabbccddeeff\n' | tr '\n' ' ')"

finish test_esp
