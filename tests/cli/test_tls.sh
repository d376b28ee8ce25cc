#!/usr/bin/env bash
# test_tls.sh -- SIP over TLS and over secure WebSocket in a capture,
# read with the session keys (tests/data/capture/tls.pcap and tls.keys,
# made by make_tls.sh with real peers: Kamailio, Python's ssl, openssl
# s_client; see tests/cli/tls_peers.sh). Nine connections: TLS 1.3
# (AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305 with a KeyUpdate both ways),
# TLS 1.2 (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, AES-128-CBC with
# HMAC-SHA1 encrypt-then-MAC, AES-256-CBC with HMAC-SHA384 MAC-then-encrypt),
# and a secure WebSocket on 8443, which is not a SIP port. 35 requests, 35 answers,
# two requests in one record, a MESSAGE over three records. Checked
# against tshark -o tls.keylog_file on the same file, and what happens
# without keys, with some of them, with a corrupt record, with a hole.
# And SIP-INFO-004 on tls-weak.pcap (make_tls_weak.sh): servers that agree
# to TLS 1.0 and 1.1, from the handshake, as tshark reads it; SIP-INFO-006
# on the certificates there, as openssl x509 judges them; SIP-INFO-005 for
# a zone that requires TLS, on examples/ (cleartext) and tls.pcap.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_tls.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

PCAP=tests/data/capture/tls.pcap
KEYS=tests/data/capture/tls.keys
stat() { jq -r "$2" "$1"; }
tls() { jq -r '.capture | "\(.tls_handshakes) \(.tls_no_key) \(.tls_unsupported) \(.tls_failed)"' "$1"; }
scan() { jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.observables[] | select(.role == "source") | .value)=\(.evidence.count) \(.evidence.sample.transport)"' "$1" | sort | tr '\n' ' '; }
tshark_ids() { # FILE KEYS: every message's Call-ID, one a line, sorted
    tshark -r "$1" -o "tls.keylog_file:$2" -Y sip -T fields -e sip.Call-ID 2>/dev/null | tr ',' '\n' | grep . | sort -V
}
SCANS="127.0.3.1=25 tls 127.0.3.2=6 wss 127.0.3.3=2 tls 127.0.3.4=1 tls 127.0.3.5=1 tls "

expect_exit 0 "inspect with the key log" "$FS38" inspect --tls-keylog "$KEYS" --json --stats-json "$TMPD/s.json" "$PCAP"
cp "$TMPD/out" "$TMPD/k.ndjson"
ok "58 messages over TLS, 12 over secure WebSocket" is "$(stat "$TMPD/s.json" '"\(.transports.tls) \(.transports.wss)"')" "58 12"
ok "nothing read as plain TCP or WebSocket" is "$(stat "$TMPD/s.json" '"\(.transports.tcp // 0) \(.transports.ws // 0)"')" "0 0"
ok "35 requests, 35 answers" is "$(stat "$TMPD/s.json" '"\(.requests) \(.responses)"')" "35 35"
ok "9 connections, every direction read" is "$(tls "$TMPD/s.json")" "9 0 0 0"
ok "no byte dropped, no resync" is "$(stat "$TMPD/s.json" '"\(.capture.tcp_bytes_dropped) \(.capture.tcp_resyncs)"')" "0 0"
ok "SCAN-001 per client, counting its requests" is "$(scan "$TMPD/k.ndjson")" "$SCANS"
ok "no message malformed" is "$(jq -r 'select(.rule.id | startswith("SIP-MAL")) | .rule.id' "$TMPD/k.ndjson")" ""

tshark_ids "$PCAP" "$KEYS" >"$TMPD/tshark"
ok "tshark reads the same 70" is "$(wc -l <"$TMPD/tshark")" 70
ok "tshark reads each request and its answer, the KeyUpdate's too" is \
    "$(uniq -c "$TMPD/tshark" | awk '$1 != 2' | wc -l) $(grep -c '^ku-' "$TMPD/tshark")" "0 4"
# each incident's sample at the frame tshark reads that message at
tshark -r "$PCAP" -o "tls.keylog_file:$KEYS" -Y sip -T fields -e frame.number -e sip.Call-ID 2>/dev/null |
    awk -F'\t' '{ n = split($2, c, ","); for (i = 1; i <= n; i++) print $1, c[i] }' | sort >"$TMPD/frames"
jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.evidence.sample["x-capture"].frame) \(.evidence.sample.call_id)"' \
    "$TMPD/k.ndjson" | sort >"$TMPD/ours"
ok "five samples, each at tshark's frame" is "$(wc -l <"$TMPD/ours") $(comm -23 "$TMPD/ours" "$TMPD/frames" | wc -l)" "5 0"

expect_exit 0 "--workers 2" "$FS38" inspect --workers 2 --tls-keylog "$KEYS" --json --stats-json "$TMPD/s2.json" "$PCAP"
ok "--workers 2: the same" is "$(scan "$TMPD/out") $(tls "$TMPD/s2.json")" "$SCANS 9 0 0 0"

# TLS 1.3 edge cases between openssl peers (make_tls13_edge.sh): a HelloRetryRequest,
# with each side's middlebox-compatible CCS before the ServerHello (both directions were
# taken for TLS 1.2's "encrypted from here" and lost), and 0-RTT early data after a
# resumption (the client's direction was given up: its early OPTIONS and the next lost)
for n in hrr 0rtt; do
    P=tests/data/capture/tls13-$n.pcap K=tests/data/capture/tls13-$n.keys
    expect_exit 0 "tls13-$n: inspect with the key log" "$FS38" inspect --tls-keylog "$K" --stats-json "$TMPD/e$n.json" "$P"
    want=$(tshark_ids "$P" "$K" | wc -l)
    ok "tls13-$n: the $want messages tshark reads, every key found" \
        is "$(stat "$TMPD/e$n.json" '"\(.requests + .responses) \(.capture.tls_no_key) \(.capture.tls_failed)"')" "$want 0 0"
done
ok "...tshark reads 2 and 4 there (the test's control)" is "$(tshark_ids tests/data/capture/tls13-hrr.pcap \
    tests/data/capture/tls13-hrr.keys | wc -l) $(tshark_ids tests/data/capture/tls13-0rtt.pcap tests/data/capture/tls13-0rtt.keys | wc -l)" "2 4"

# a resumed TLS 1.3 session (the server's pre_shared_key) shows no certificate: tls13-0rtt's
# second connection is one, so of its two servers' certificates tshark reads the only one
# there is, and without handshake secrets one is unread, not two
grep -v '_HANDSHAKE_TRAFFIC_SECRET ' tests/data/capture/tls13-0rtt.keys >"$TMPD/0rtt-nohs.keys"
expect_exit 0 "tls13-0rtt without handshake secrets" "$FS38" inspect --tls-keylog "$TMPD/0rtt-nohs.keys" \
    --stats-json "$TMPD/e0n.json" tests/data/capture/tls13-0rtt.pcap
ok "...one certificate unread, as many as tshark reads with them; the resumption has none" is \
    "$(stat "$TMPD/e0n.json" '.capture.tls_certs_unread') $(tshark -r tests/data/capture/tls13-0rtt.pcap -o \
    tls.keylog_file:tests/data/capture/tls13-0rtt.keys -Y 'tls.handshake.type == 11' 2>/dev/null | wc -l)" "1 1"
expect_exit 0 "tls13-0rtt without a key log" "$FS38" inspect --stats-json "$TMPD/e0k.json" tests/data/capture/tls13-0rtt.pcap
ok "...one certificate unread there too" is "$(stat "$TMPD/e0k.json" '.capture.tls_certs_unread')" 1

# from the config file, relative to it
mkdir -p "$TMPD/etc"
cp "$KEYS" "$TMPD/etc/keys.log"
printf 'capture:\n  tls_keylog: keys.log\n' >"$TMPD/etc/site.yaml"
expect_exit 0 "capture.tls_keylog in the config" "$FS38" inspect --config "$TMPD/etc/site.yaml" --json --stats-json "$TMPD/s3.json" "$PCAP"
ok "the config's key log is read" is "$(stat "$TMPD/s3.json" '.transports.tls')" 58

# without keys: counted, said, not guessed at
expect_exit 0 "inspect without keys" "$FS38" inspect --stats-json "$TMPD/s4.json" "$PCAP"
ok "no message read" is "$(stat "$TMPD/s4.json" '.requests + .responses')" 0
ok "8 connections on SIP ports, both directions without keys; 8443 not counted" is "$(tls "$TMPD/s4.json")" "8 16 0 0"
ok "the summary says so" grep -q "TLS directions without keys 16" "$TMPD/out"
ok "and names the option" grep -q -- "--tls-keylog FILE" "$TMPD/out"
ok "TLS bytes are not dropped SIP" is "$(stat "$TMPD/s4.json" '"\(.capture.tcp_bytes_dropped) \(.capture.tcp_resyncs)"')" "0 0"

# some keys: the other connections are still read
crandom=$(awk '$1 == "CLIENT_RANDOM" {print $2; exit}' "$KEYS")
grep -v "$crandom" "$KEYS" >"$TMPD/some.keys"
expect_exit 0 "a key log without one TLS 1.2 session" "$FS38" inspect --tls-keylog "$TMPD/some.keys" --json --stats-json "$TMPD/s5.json" "$PCAP"
ok "that connection's two directions have no keys" is "$(tls "$TMPD/s5.json")" "9 2 0 0"
ok "its 10 messages are missing, the others read" is "$(stat "$TMPD/s5.json" '.transports.tls')" 48

# key log lines that are not key log lines: passed over, said
{ echo "CLIENT_RANDOM nothex"; cat "$KEYS"; echo "garbage"; } >"$TMPD/bad.keys"
expect_exit 0 "a key log with bad lines" "$FS38" inspect --tls-keylog "$TMPD/bad.keys" --json --stats-json "$TMPD/s6.json" "$PCAP"
ok "the warning counts them and names the first" grep -q "2 lines not in the NSS key log format.*the first is line 1" "$TMPD/err"
ok "the rest is read" is "$(stat "$TMPD/s6.json" '.transports.tls')" 58
expect_exit 2 "a key log that does not exist" "$FS38" inspect --tls-keylog "$TMPD/none.keys" "$PCAP"
ok "is named" grep -q "none.keys" "$TMPD/err"
# a key log past the 2^20 sessions kept: those after them are not read, and the
# warning says so (not just "without keys", blaming the log for lines it has)
python3 -c 'import sys
w = open(sys.argv[1], "w")
for i in range((1 << 20) + 3):
    w.write("CLIENT_RANDOM %064x %s\n" % (i * 2654435761 + 1, "ab" * 48))
w.write(open(sys.argv[2]).read())' "$TMPD/big.keys" "$KEYS"
expect_exit 0 "a key log of 2^20 + 3 + 9 sessions" "$FS38" inspect --tls-keylog "$TMPD/big.keys" "$PCAP"
ok "the warning counts the 24 lines passed over (3 + tls.keys' 21 session lines)" \
    grep -q "more sessions than the 1048576 kept; 24 lines of later sessions passed over" "$TMPD/err"
rm -f "$TMPD/big.keys"
# a key log read from a pipe (zcat keys.gz, process substitution), as tshark reads one
expect_exit 0 "a key log from a pipe" "$FS38" inspect --tls-keylog <(cat "$KEYS") --stats-json "$TMPD/s6p.json" "$PCAP"
ok "every direction read from it" is "$(tls "$TMPD/s6p.json") $(stat "$TMPD/s6p.json" '.transports.tls')" "9 0 0 0 58"

# a corrupt record: that direction stops, nothing made up from it
frame=$(awk '$2 == "tls12-aes256-1" {print $1; exit}' "$TMPD/frames")
python3 tests/cli/pcap_edit.py "$PCAP" "$TMPD/flip.pcap" flip "$frame" 120 # in its first record
expect_exit 0 "a corrupt record" "$FS38" inspect --tls-keylog "$KEYS" --json --stats-json "$TMPD/s7.json" "$TMPD/flip.pcap"
ok "one direction stopped decrypting" is "$(tls "$TMPD/s7.json")" "9 0 0 1"
ok "its requests from tls12-aes256-1 on are not read (4), the answers are" is \
    "$(stat "$TMPD/s7.json" '"\(.transports.tls) \(.requests)"')" "54 31"
ok "tshark does not read that record either" is "$(tshark_ids "$TMPD/flip.pcap" "$KEYS" | grep -c '^tls12-aes256-1$')" 1
ok "nothing malformed" is "$(jq -r 'select(.rule.id | startswith("SIP-MAL")) | .rule.id' "$TMPD/out")" ""
# the same in TLS 1.3, the first record after the client's Finished: it is not one
# of its encrypted handshake to pass over, the direction stops there, counted
frame=$(awk '$2 == "tls13-0" {print $1; exit}' "$TMPD/frames")
python3 tests/cli/pcap_edit.py "$PCAP" "$TMPD/flip13.pcap" flip "$frame" 100 # in its first record
expect_exit 0 "a corrupt TLS 1.3 record" "$FS38" inspect --tls-keylog "$KEYS" --stats-json "$TMPD/s7b.json" "$TMPD/flip13.pcap"
ok "one direction stopped decrypting" is "$(tls "$TMPD/s7b.json")" "9 0 0 1"
ok "its 5 requests not read, as tshark does not" is "$(stat "$TMPD/s7b.json" '.requests') $(tshark -r "$TMPD/flip13.pcap" \
    -o "tls.keylog_file:$KEYS" -Y sip.Method -T fields -e sip.Call-ID 2>/dev/null | tr ',' '\n' | grep -c .)" "30 30"

# a hole: the direction cannot be read past it
frame=$(awk '$2 == "ku-1" {print $1; exit}' "$TMPD/frames") # the KeyUpdate and ku-2 follow
python3 tests/cli/pcap_edit.py "$PCAP" "$TMPD/hole.pcap" drop "$frame"
expect_exit 0 "a hole in a TLS stream" "$FS38" inspect --tls-keylog "$KEYS" --json --stats-json "$TMPD/s8.json" "$TMPD/hole.pcap"
ok "one direction lost at the hole" is "$(tls "$TMPD/s8.json")" "9 0 0 1"
ok "ku-1 and ku-2 past it are lost, every answer read" is "$(stat "$TMPD/s8.json" '"\(.requests) \(.responses)"')" "33 35"
ok "TCP saw the hole" is "$(stat "$TMPD/s8.json" '.capture.tcp_gaps')" 1

# a capture that starts in the middle of the first connection (TLS 1.3): its
# directions are TLS without keys, their bytes are not dropped SIP
python3 tests/cli/pcap_edit.py "$PCAP" "$TMPD/mid.pcap" from 12
expect_exit 0 "a capture that starts mid-connection" "$FS38" inspect --tls-keylog "$KEYS" --stats-json "$TMPD/s9.json" "$TMPD/mid.pcap"
ok "its two directions counted without keys, the 8 others read" is "$(tls "$TMPD/s9.json")" "8 2 0 0"
ok "nothing dropped as SIP" is "$(stat "$TMPD/s9.json" '"\(.capture.tcp_bytes_dropped) \(.capture.tcp_resyncs)"')" "0 0"
ok "the other connections' messages read" is "$(stat "$TMPD/s9.json" '.transports.tls')" 48

# handshakes a server refuses (a TLS scanner trying suites and versions on 5061): its first
# and only record an alert answering the ClientHello. TLS, nothing in it to read: not SIP
# text dropped, not a direction without keys or one that stopped decrypting
python3 - "$TMPD/refused.pcap" <<'PY'
import sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import eth, ip4, tcp_c, write_pcap
frames, C, S = [], '192.0.2.10', '192.0.2.20'
def seg(a, b, sp, dp, seq, flags, data=b''): frames.append(eth(ip4(a, b, 6, tcp_c(a, b, sp, dp, seq, flags, data))))
for i, alert in enumerate((40, 70, 71)):  # handshake_failure, protocol_version, insufficient_security
    port = 40000 + i
    hello = bytes([1, 0, 0, 41, 3, 3]) + bytes([i + 1]) * 32 + bytes([0, 0, 2, 0, 0x2f, 1, 0])
    seg(C, S, port, 5061, 1000, 0x02)
    seg(S, C, 5061, port, 5000, 0x12)
    seg(C, S, port, 5061, 1001, 0x10)
    seg(C, S, port, 5061, 1001, 0x18, bytes([22, 3, 1, 0, len(hello)]) + hello)
    seg(S, C, 5061, port, 5001, 0x18, bytes([21, 3, 3, 0, 2, 2, alert]))
    seg(S, C, 5061, port, 5008, 0x11)
    seg(C, S, port, 5061, 1001 + 5 + len(hello), 0x11)
write_pcap(sys.argv[1], frames)
PY
ok "...three refused handshakes: tshark reads each alert (the test's control)" \
    is "$(tshark -r "$TMPD/refused.pcap" -d tcp.port==5061,tls -Y 'tls.alert_message' 2>/dev/null | wc -l)" 3
expect_exit 0 "refused handshakes" "$FS38" inspect --tls-keylog "$KEYS" --stats-json "$TMPD/refused.json" "$TMPD/refused.pcap"
ok "...three TLS connections, their alerts not dropped as SIP, no direction counted" is "$(tls "$TMPD/refused.json") \
$(stat "$TMPD/refused.json" '"\(.capture.tcp_bytes_dropped) \(.capture.tcp_resyncs)"')" "3 0 0 0 0 0"
ok "...and the summary names no trouble" is "$(grep -c '^CAPTURE' "$TMPD/out")" 0

# a ClientHello whose first TCP segment is 3 bytes (a client may cut it anywhere;
# tshark reassembles it): still TLS, every direction read, nothing dropped as SIP
frame=$(tshark -r "$PCAP" -Y 'tls.handshake.type == 1' -T fields -e frame.number 2>/dev/null | head -1)
python3 tests/cli/pcap_edit.py "$PCAP" "$TMPD/cut.pcap" split "$frame" 3
expect_exit 0 "a ClientHello cut after 3 bytes" "$FS38" inspect --tls-keylog "$KEYS" --stats-json "$TMPD/s10.json" "$TMPD/cut.pcap"
ok "9 connections, every direction read" is "$(tls "$TMPD/s10.json")" "9 0 0 0"
ok "the 58 messages over TLS read, none dropped" is \
    "$(stat "$TMPD/s10.json" '"\(.transports.tls) \(.capture.tcp_bytes_dropped) \(.capture.tcp_resyncs)"')" "58 0 0"
ok "tshark reads the same 70" is "$(tshark_ids "$TMPD/cut.pcap" "$KEYS" | wc -l)" 70
# the same on 8443, not a SIP port (secure WebSocket): read once its keys are found
frame=$(tshark -r "$PCAP" -Y 'tls.handshake.type == 1 && tcp.dstport == 8443' -T fields -e frame.number 2>/dev/null | head -1)
python3 tests/cli/pcap_edit.py "$PCAP" "$TMPD/cutw.pcap" split "$frame" 3
expect_exit 0 "a secure WebSocket ClientHello cut after 3 bytes" "$FS38" inspect --tls-keylog "$KEYS" --stats-json "$TMPD/s11.json" "$TMPD/cutw.pcap"
ok "its 12 messages read, 9 connections" is \
    "$(stat "$TMPD/s11.json" '"\(.transports.tls) \(.transports.wss) \(.capture.tls_handshakes)"')" "58 12 9"
# a ClientHello of two segments whose second the capture puts after the ServerHello
# (and the server's encrypted flight in its segment): directions captured apart. The
# directions are linked when the ClientHello is whole; the server's records before that
# are passed over as when the key log is behind. (Both directions were lost without keys.)
frame=$(tshark -r "$PCAP" -Y 'tls.handshake.type == 1' -T fields -e frame.number 2>/dev/null | head -1)
python3 tests/cli/pcap_edit.py "$PCAP" "$TMPD/late1.pcap" split "$frame" 100
python3 tests/cli/pcap_edit.py "$TMPD/late1.pcap" "$TMPD/late.pcap" later $((frame + 1)) 2
ok "...the ServerHello now comes before the ClientHello's end (the test's control)" is "$(tshark -r "$TMPD/late.pcap" \
    -T fields -e tcp.srcport -e tcp.len 2>/dev/null | sed -n "$((frame + 2)),$((frame + 3))p" | tr '\t\n' '  ')" "5061 1351 57429 125 "
expect_exit 0 "a ClientHello ended after the ServerHello" "$FS38" inspect --tls-keylog "$KEYS" --stats-json "$TMPD/s12.json" "$TMPD/late.pcap"
ok "every direction read, its 10 messages too" is "$(tls "$TMPD/s12.json") $(stat "$TMPD/s12.json" '"\(.transports.tls) \(.requests) \(.responses)"')" "9 0 0 0 58 35 35"
# the same on 8443, not a SIP port, the whole ClientHello after the ServerHello: the
# server's direction is followed from its hello (the connection was lost both ways)
frame=$(tshark -r "$PCAP" -Y 'tls.handshake.type == 1 && tcp.dstport == 8443' -T fields -e frame.number 2>/dev/null | head -1)
python3 tests/cli/pcap_edit.py "$PCAP" "$TMPD/latew.pcap" later "$frame" 2
ok "...the ServerHello now comes first (the test's control)" is "$(tshark -r "$TMPD/latew.pcap" -T fields \
    -e tcp.srcport -e tcp.len 2>/dev/null | sed -n "$((frame + 1)),$((frame + 2))p" | tr '\t\n' '  ')" "8443 1351 35941 225 "
expect_exit 0 "a secure WebSocket ServerHello before its ClientHello" "$FS38" inspect --tls-keylog "$KEYS" --stats-json "$TMPD/s13.json" "$TMPD/latew.pcap"
ok "its 12 messages read, 9 connections" is \
    "$(stat "$TMPD/s13.json" '"\(.transports.tls) \(.transports.wss) \(.capture.tls_handshakes)"')" "58 12 9"

# ---- SIP-INFO-004: servers agreeing to outdated TLS, from the handshake alone ----------
# tls-weak.pcap (make_tls_weak.sh, openssl s_server/s_client): four servers on
# 5061 agreeing to TLS 1.0, 1.1, 1.2 and 1.3. tshark says which chose what.
WEAK=tests/data/capture/tls-weak.pcap
info4() { jq -r 'select(.rule.id == "SIP-INFO-004") | "\(.observables[0].value) \(.evidence.details.version) \(.evidence.details.cipher_suite)"' "$1" | sort; }
expect_exit 0 "tls-weak.pcap without keys" "$FS38" inspect -c /dev/null --json "$WEAK"
cp "$TMPD/out" "$TMPD/weak.ndjson"
ok "SIP-INFO-004 for each server tshark sees choose TLS 1.0 or 1.1, with its suite" \
    is "$(info4 "$TMPD/weak.ndjson")" \
    "$(tshark -r "$WEAK" -Y 'tls.handshake.type == 2 && !tls.handshake.extensions.supported_version && tls.handshake.version < 0x0303' \
        -T fields -e ip.src -e tls.handshake.version -e tls.handshake.ciphersuite 2>/dev/null |
        awk '{v = $2 == "0x0301" ? "TLS 1.0" : $2 == "0x0302" ? "TLS 1.1" : "?"; print $1, v, $3}' | sort)"
ok "...two of the ten (1.2 and 1.3 stay quiet)" is "$(info4 "$TMPD/weak.ndjson" | wc -l)" 2
expect_exit 0 "...its statistics" "$FS38" inspect -c /dev/null -q --stats-json "$TMPD/weak.json" "$WEAK"
ok "capture.tls_versions: the ServerHellos tshark counts per version" \
    is "$(jq -r '.capture.tls_versions | to_entries[] | select(.value > 0) | "\(.key) \(.value)"' "$TMPD/weak.json")" \
    "$(tshark -r "$WEAK" -Y 'tls.handshake.type == 2' -T fields -e tls.handshake.version \
        -e tls.handshake.extensions.supported_version 2>/dev/null | awk '{v = NF > 1 ? $2 : $1; print v}' |
        sed 's/0x0300/ssl3_0/; s/0x0301/tls1_0/; s/0x0302/tls1_1/; s/0x0303/tls1_2/; s/0x0304/tls1_3/' | sort | uniq -c |
        awk '{print $2, $1}')"
ok "...and the summary says what the servers chose" grep -q "servers chose TLS 1.0 1, TLS 1.1 1, TLS 1.2 4, TLS 1.3 4" \
    <<<"$("$FS38" inspect -c /dev/null "$WEAK")"
ok "...medium, privacy, MONITOR" is "$(jq -r 'select(.rule.id == "SIP-INFO-004") | "\(.severity) \(.domain) \(.recommended_action.action)"' "$TMPD/weak.ndjson" | sort -u)" \
    "medium privacy MONITOR"
expect_exit 0 "...the same with --workers 2" "$FS38" inspect -c /dev/null --json --workers 2 "$WEAK"
ok "...same servers" is "$(info4 "$TMPD/out")" "$(info4 "$TMPD/weak.ndjson")"
printf 'allow_sources: ["127.0.0.61"]\n' >"$TMPD/allow.yaml"
expect_exit 0 "...a server in allow_sources" "$FS38" inspect -c "$TMPD/allow.yaml" --json "$WEAK"
ok "...is not judged" is "$(info4 "$TMPD/out" | cut -d' ' -f1)" "127.0.0.62"
printf 'capture:\n  sip_ports: [5060]\n  heuristic: true\n' >"$TMPD/no5061.yaml"
expect_exit 0 "...5061 not a SIP port (TLS there is not SIP's)" "$FS38" inspect -c "$TMPD/no5061.yaml" --json "$WEAK"
ok "...nothing judged" is "$(info4 "$TMPD/out")" ""
ok "tls.pcap (TLS 1.2 and 1.3, strong suites): no SIP-INFO-004" \
    is "$(jq -r 'select(.rule.id == "SIP-INFO-004") | .rule.id' "$TMPD/k.ndjson")" ""

# ---- SIP-INFO-006: server certificates, as tshark extracts them and openssl x509 reads them
# (tls-weak.pcap: 127.0.0.65 a 1024-bit RSA key signed with SHA-1, 127.0.0.66 expired in 2021,
# both over TLS 1.2; 127.0.0.67 and .68 the same certificates over TLS 1.3, encrypted: read
# with the key log's SERVER_HANDSHAKE_TRAFFIC_SECRET, as tshark reads them; mutual TLS with
# the clients 127.0.0.71 (the weak one, TLS 1.2) and .72 (the expired one, TLS 1.3: its
# CLIENT_HANDSHAKE_TRAFFIC_SECRET))
info6() { jq -r 'select(.rule.id == "SIP-INFO-006") | "\(.observables[0].value) \(.evidence.details.problems)"' "$1" | sort; }
# server_certs FILE [KEYS]: "IP EPOCH DER-FILE" of each server certificate tshark extracts (TLS 1.2
# ones in the clear; TLS 1.3 ones too with the key log KEYS)
# (all written before the first line is read: a reader never sees one half written)
server_certs() {
    local n=0 ip t hex
    tshark -r "$1" ${2:+-o "tls.keylog_file:$2"} -Y 'tls.handshake.type == 11' -T fields -e ip.src \
        -e frame.time_epoch -e tls.handshake.certificate 2>/dev/null >"$TMPD/certs.tsv"
    while read -r ip t hex; do
        n=$((n + 1))
        python3 -c 'import binascii, sys; sys.stdout.buffer.write(binascii.unhexlify(sys.argv[1]))' "${hex%%,*}" \
            >"$TMPD/cert-$n.der"
        echo "$ip $t $TMPD/cert-$n.der"
    done <"$TMPD/certs.tsv" >"$TMPD/certs.list"
    cat "$TMPD/certs.list"
}
x509() { openssl x509 -inform DER -in "$1" -noout "${@:2}"; } # DER-FILE OPTIONS...
cert_verdicts() { # FILE [KEYS]: each certificate tshark reads judged by openssl x509 at its capture time
    # (expiring within WARN_DAYS, 14 unless set, as SIP-INFO-006's expiry_warning_days)
    server_certs "$@" | while read -r ip t der; do
        end=$(date -d "$(x509 "$der" -enddate | cut -d= -f2)" +%s)
        text=$(x509 "$der" -text)
        bits=$(grep -o 'Public-Key: ([0-9]* bit)' <<<"$text" | grep -o '[0-9]*')
        sig=$(grep -m1 'Signature Algorithm' <<<"$text" | awk '{print $3}')
        p=""
        [ "$end" -lt "${t%.*}" ] && p="${p}expired,"
        [ "$end" -ge "${t%.*}" ] && [ "$end" -lt "$((${t%.*} + ${WARN_DAYS:-14} * 86400))" ] && p="${p}expires_soon,"
        [ "$bits" -lt 2048 ] && p="${p}weak_key,"
        case $sig in sha1* | md5* | *SHA1* | *MD5*) p="${p}weak_signature," ;; esac
        [ -n "$p" ] && echo "$ip ${p%,}"
    done | sort
}
ok "SIP-INFO-006 for each server whose certificate openssl x509 finds expired, small or SHA-1/MD5-signed" \
    is "$(info6 "$TMPD/weak.ndjson")" "$(cert_verdicts "$WEAK")"
ok "...three: the servers 127.0.0.65 (weak key and signature), .66 (expired), the client .71 (weak)" \
    is "$(info6 "$TMPD/weak.ndjson" | tr '\n' ' ')" \
    "127.0.0.65 weak_key,weak_signature 127.0.0.66 expired 127.0.0.71 weak_key,weak_signature "
cert_figures() { # [KEYS]: "IP BITS SIGNATURE NOT_AFTER SELF_SIGNED" of the flagged certificates, from openssl x509
    server_certs "$WEAK" "$@" | grep -E '^127\.0\.0\.(6[5-8]|7[12]) ' | while read -r ip _ der; do
        text=$(x509 "$der" -text)
        end=$(date -u -d "$(x509 "$der" -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
        self=no
        [ "$(x509 "$der" -subject | cut -d= -f2-)" = "$(x509 "$der" -issuer | cut -d= -f2-)" ] && self=yes
        echo "$ip $(grep -o 'Public-Key: ([0-9]* bit)' <<<"$text" | grep -o '[0-9]*') $(grep -m1 'Signature Algorithm' <<<"$text" | awk '{print $3}') $end $self"
    done | sort
}
ok "...with the certificate's key size, signature, expiry and issuer as openssl x509 reads them" is \
    "$(jq -r 'select(.rule.id == "SIP-INFO-006") | "\(.observables[0].value) \(.evidence.details.key_bits) \(.evidence.details.signature) \(.evidence.details.not_after) \(.evidence.details.self_signed)"' "$TMPD/weak.ndjson" | sort)" \
    "$(cert_figures)"
ok "tls.pcap's certificates (TLS 1.3 ones with the key log) pass" \
    is "$(jq -r 'select(.rule.id == "SIP-INFO-006") | .rule.id' "$TMPD/k.ndjson")$(cert_verdicts "$PCAP" "$KEYS")" ""
ok "...the eight SIP servers' certificates read (not 8443's), as tshark reads them" \
    is "$(stat "$TMPD/s.json" '"\(.capture.tls_certs) \(.capture.tls_certs_unread)"') $(tshark -r "$PCAP" \
        -o "tls.keylog_file:$KEYS" -Y 'tls.handshake.type == 11 && tcp.srcport == 5061' 2>/dev/null | wc -l)" "8 0 8"

# a Certificate message cut over two records (a stack that writes small records, RFC 6066's
# max_fragment_length): 127.0.0.65's, in the first 100 bytes of its certificate, in its
# list's length (5), and in the message's own header (2); tshark reassembles it, and so is it
# read: the same SIP-INFO-006
frame=$(tshark -r "$WEAK" -Y 'tls.handshake.type == 11 && ip.src == 127.0.0.65' -T fields -e frame.number 2>/dev/null)
for cut in 100 5 2; do
    python3 tests/cli/pcap_edit.py "$WEAK" "$TMPD/recut.pcap" recut "$frame" $cut
    ok "...cut after $cut bytes: two records there (the test's control)" is "$(tshark -r "$TMPD/recut.pcap" \
        -Y "frame.number == $frame" -T fields -e tls.record.length 2>/dev/null)" "65,$cut,$((544 - cut)),172,4"
    expect_exit 0 "...a certificate over two records (cut $cut)" "$FS38" inspect -c /dev/null --json \
        --stats-json "$TMPD/recut.json" "$TMPD/recut.pcap"
    ok "...read: the same SIP-INFO-006, 7 certificates read, 4 not (TLS 1.3's)" \
        is "$(info6 "$TMPD/out" | tr '\n' ' ')$(jq -r '.capture | "\(.tls_certs) \(.tls_certs_unread)"' "$TMPD/recut.json")" \
        "$(info6 "$TMPD/weak.ndjson" | tr '\n' ' ')7 4"
done

# TLS 1.3: the certificate is encrypted; read with the server's handshake secret
WKEYS=tests/data/capture/tls-weak.keys
certs() { jq -r '.capture | "\(.tls_certs) \(.tls_certs_unread)"' "$1"; }
ok "without keys, TLS 1.3 certificates are not read: 7 read (6 servers, a client), 4 not" \
    is "$(certs "$TMPD/weak.json")" "7 4"
ok "...and the summary says so" grep -q "TLS 1.3 server certificates not read 4" \
    <<<"$("$FS38" inspect -c /dev/null "$WEAK")"
ok "...its summary: 7 certificates read, 6 servers' and the client 127.0.0.71's (not 7 servers')" is \
    "$("$FS38" inspect -c /dev/null "$WEAK" | tr '\n' ' ' | grep -oE '(server )?certificates read [0-9]+')" "certificates read 7"
expect_exit 0 "tls-weak.pcap with its key log" "$FS38" inspect -c /dev/null --tls-keylog "$WKEYS" --json \
    --stats-json "$TMPD/weakk.json" "$WEAK"
cp "$TMPD/out" "$TMPD/weakk.ndjson"
ok "...SIP-INFO-006 for each server whose certificate tshark decrypts and openssl x509 finds weak" \
    is "$(info6 "$TMPD/weakk.ndjson")" "$(cert_verdicts "$WEAK" "$WKEYS")"
ok "...six: the TLS 1.3 servers .67 and .68 and client .72 too" is "$(info6 "$TMPD/weakk.ndjson" | tr '\n' ' ')" \
    "127.0.0.65 weak_key,weak_signature 127.0.0.66 expired 127.0.0.67 weak_key,weak_signature 127.0.0.68 expired 127.0.0.71 weak_key,weak_signature 127.0.0.72 expired "
ok "...with the figures openssl x509 reads" is \
    "$(jq -r 'select(.rule.id == "SIP-INFO-006") | "\(.observables[0].value) \(.evidence.details.key_bits) \(.evidence.details.signature) \(.evidence.details.not_after) \(.evidence.details.self_signed)"' "$TMPD/weakk.ndjson" | sort)" \
    "$(cert_figures "$WKEYS")"
ok "...each as server or client, on the server's port" is "$(jq -r 'select(.rule.id == "SIP-INFO-006") | "\(.observables[0].value) \(.evidence.details.role) \(.evidence.details.server_port)"' "$TMPD/weakk.ndjson" | sort | tr '\n' ' ')" \
    "127.0.0.65 server 5061 127.0.0.66 server 5061 127.0.0.67 server 5061 127.0.0.68 server 5061 127.0.0.71 client 5061 127.0.0.72 client 5061 "
ok "...12 certificates read (10 servers, 2 clients), as tshark reads them" \
    is "$(certs "$TMPD/weakk.json") $(tshark -r "$WEAK" -o "tls.keylog_file:$WKEYS" -Y 'tls.handshake.type == 11' 2>/dev/null | wc -l)" "12 0 12"
ok "...the OPTIONS inside read as tshark reads them (less TLS 1.0's, not read)" \
    is "$(jq -r '.evidence.sample.call_id // empty' "$TMPD/weakk.ndjson" | sort -u | tr '\n' ' ')$(jq -r .requests "$TMPD/weakk.json")" \
    "$(tshark -r "$WEAK" -o "tls.keylog_file:$WKEYS" -Y 'sip && tls.record.version != 0x0301' -T fields -e sip.Call-ID 2>/dev/null | wc -l)"
printf 'rules:\n  SIP-INFO-006:\n    expiry_warning_days: 4000\n' >"$TMPD/soon.yaml"
expect_exit 0 "...expiry_warning_days 4000 (the ten-year certificates too)" "$FS38" inspect -c "$TMPD/soon.yaml" \
    --tls-keylog "$WKEYS" --json "$WEAK"
ok "...every one openssl x509 finds expiring within 4000 days flagged expires_soon" \
    is "$(info6 "$TMPD/out")" "$(WARN_DAYS=4000 cert_verdicts "$WEAK" "$WKEYS")"
ok "...each with the days left openssl x509 gives (the expired ones none)" is "$(jq -r 'select(.evidence.details.expires_in_days) |
    "\(.observables[0].value) \(.evidence.details.expires_in_days)"' "$TMPD/out" | sort | tr '\n' ' ')" \
    "$(server_certs "$WEAK" "$WKEYS" | while read -r ip t der; do end=$(date -d "$(x509 "$der" -enddate | cut -d= -f2)" +%s)
        [ "$end" -ge "${t%.*}" ] && echo "$ip $(((end - ${t%.*}) / 86400))"; done | sort | tr '\n' ' ')"
expect_exit 0 "...--workers 2" "$FS38" inspect -c /dev/null --workers 2 --tls-keylog "$WKEYS" --json "$WEAK"
ok "...the same six" is "$(info6 "$TMPD/out")" "$(info6 "$TMPD/weakk.ndjson")"
grep -v '^[A-Z]*_HANDSHAKE_TRAFFIC_SECRET ' "$WKEYS" >"$TMPD/nohs.keys"
expect_exit 0 "a key log without the handshake secrets" "$FS38" inspect -c /dev/null --tls-keylog "$TMPD/nohs.keys" \
    --stats-json "$TMPD/nohs.json" "$WEAK"
ok "...the TLS 1.2 ones only; the TLS 1.3 ones counted and the reason said" is \
    "$(certs "$TMPD/nohs.json") $(grep -c 'SERVER_HANDSHAKE_TRAFFIC_SECRET, which the key log does not hold' "$TMPD/out")" "7 4 1"
ok "...while the SIP inside is read all the same" is "$(jq -r .requests "$TMPD/nohs.json")" "$(jq -r .requests "$TMPD/weakk.json")"

# ---- SIP-INFO-005: a zone that requires TLS, in the clear -------------------------------
# examples/: the IPX partner (127.0.1.0/24) talks UDP; tls.pcap's peers only TLS and WSS
sed -e 's|^    trust: trusted$|&\n    require_tls: true|' -e "s|^high_risk_ranges: \.\./|high_risk_ranges: $ROOT/|" \
    examples/site.yaml >"$TMPD/require.yaml"
info5() { jq -r 'select(.rule.id == "SIP-INFO-005") | .observables[0].value' "$1" | sort; }
expect_exit 0 "examples with the IPX partner's zone requiring TLS" "$FS38" inspect -c "$TMPD/require.yaml" --json \
    examples/*.pcap
cp "$TMPD/out" "$TMPD/req.ndjson"
ok "SIP-INFO-005 for each partner address tshark sees exchange SIP (in the clear)" is "$(info5 "$TMPD/req.ndjson")" \
    "$(for f in examples/*.pcap; do tshark -r "$f" -Y 'sip && !tls' -T fields -e ip.src -e ip.dst 2>/dev/null; done |
        tr '\t' '\n' | grep -E '^127\.0\.1\.' | sort -u)"
ok "...at least one" test "$(info5 "$TMPD/req.ndjson" | wc -l)" -ge 1
ok "...zone ipx-partner, counts match tshark's messages" is \
    "$(jq -r 'select(.rule.id == "SIP-INFO-005") | "\(.observables[0].value) \(.evidence.details.zone) \(.evidence.count)"' "$TMPD/req.ndjson" | sort)" \
    "$(for f in examples/*.pcap; do tshark -r "$f" -Y 'sip && !tls' -T fields -e ip.src -e ip.dst 2>/dev/null; done |
        awk '$1 ~ /^127\.0\.1\./ {n[$1]++} $2 ~ /^127\.0\.1\./ {n[$2]++} END {for (a in n) print a, "ipx-partner", n[a]}' | sort)"
ok "...and nothing else changes" is "$(jq -r 'select(.rule.id != "SIP-INFO-005") | .rule.id' "$TMPD/req.ndjson" | sort | md5sum)" \
    "$("$FS38" inspect --json -c examples/site.yaml examples/*.pcap | jq -r .rule.id | sort | md5sum)"
printf 'zones:\n  sbc: {trust: core, networks: [127.0.0.13/32], require_tls: true}\n  ues: {networks: [127.0.3.0/24], require_tls: true}\n' \
    >"$TMPD/tlszone.yaml"
expect_exit 0 "tls.pcap with its server and clients requiring TLS" "$FS38" inspect -c "$TMPD/tlszone.yaml" --json \
    --tls-keylog "$KEYS" "$PCAP"
ok "...every message was TLS or WSS: no SIP-INFO-005" is "$(info5 "$TMPD/out")" ""

finish test_tls
