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

finish test_esp
