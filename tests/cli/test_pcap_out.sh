#!/usr/bin/env bash
# test_pcap_out.sh -- `fs38 inspect --pcap-out FILE`: the messages behind
# the incidents reported, as a pcapng file, read back by tshark (the
# reference reader: frames, checksums, comments, SIP), by sngrep (the calls)
# and by fs38 itself.
#  (a) examples/: every frame names an incident of the NDJSON output (rule
#      and event_id), --pcap-limit caps each incident, a rule counted one
#      message per hit has exactly its count of frames, the call rules bring
#      the rest of their calls, checksums are valid, tshark dissects every
#      frame as SIP but those fs38 found malformed;
#  (b) the file read again by fs38 raises those incidents with those counts;
#  (c) TLS (decrypted, written as TCP), SCTP over IPv6, IPv6 UDP;
#  (d) --workers 2: the ids in the file are those of the merged reports;
#  (e) errors: a path that cannot be created, a bad --pcap-limit, a full disk.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_pcap_out.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

CK=(-o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE -o sctp.checksum:crc-32c)
# comments FILE: "RULE EVENT_ID" for every incident comment of every frame
comments() {
    tshark -r "$1" -T fields -e frame.comment 2>/dev/null | tr ',' '\n' | awk '$4 == "event" {print $2, $5}'
}
# per_event FILE: "COUNT RULE EVENT_ID", frames naming each incident
per_event() { comments "$1" | sort | uniq -c | awk '{print $1, $2, $3}'; }
# checksums FILE: the distinct checksum verdicts of every frame (1 = good)
checksums() {
    tshark -r "$1" "${CK[@]}" -T fields -e ip.checksum.status -e udp.checksum.status -e tcp.checksum.status \
        -e sctp.checksum.status 2>/dev/null | tr '\t' '\n' | grep . | sort -u | tr '\n' ' '
}
frames() { tshark -r "$1" 2>/dev/null | wc -l; }

# ---- (a) examples ----------------------------------------------------------------
expect_exit 0 "inspect examples --pcap-out" "$FS38" inspect --json --seed 38 --pcap-out "$TMPD/ev.pcapng" examples/*.pcap
cp "$TMPD/out" "$TMPD/ev.ndjson"
jq -r '"\(.rule.id) \(.event_id)"' "$TMPD/ev.ndjson" | sort >"$TMPD/events"
comments "$TMPD/ev.pcapng" | sort -u >"$TMPD/named"
ok "tshark reads the file" tshark -r "$TMPD/ev.pcapng" -c 1 -w /dev/null 2>/dev/null
ok "frames were written" test "$(frames "$TMPD/ev.pcapng")" -gt 100
ok "every frame names an incident" is "$(tshark -r "$TMPD/ev.pcapng" -T fields -e frame.comment 2>/dev/null | grep -vc 'event ')" 0
ok "every incident named is one reported, with its rule" is "$(comm -13 "$TMPD/events" "$TMPD/named")" ""
ok "every incident reported has frames" is "$(comm -23 "$TMPD/events" "$TMPD/named")" ""
ok "at most 100 frames per incident (the default --pcap-limit)" \
    is "$(per_event "$TMPD/ev.pcapng" | awk '$1 > 100' | wc -l)" 0
ok "the ENUM incident (202 hits) is cut at 100" \
    is "$(per_event "$TMPD/ev.pcapng" | awk '$2 == "SIP-ENUM-001" {print $1}')" 100
ok "IPv4 and UDP checksums are valid" is "$(checksums "$TMPD/ev.pcapng")" "1 "
# tshark's SIP dissector takes every frame but the malformed messages
# (SIP-MAL-001: garbage on a SIP port, a message without a request line)
mal=$(per_event "$TMPD/ev.pcapng" | awk '$2 == "SIP-MAL-001" {n += $1} END {print n + 0}')
ok "tshark dissects every frame as SIP but SIP-MAL-001's" test \
    "$(tshark -r "$TMPD/ev.pcapng" -Y 'sip && !_ws.malformed' 2>/dev/null | wc -l)" -ge "$(($(frames "$TMPD/ev.pcapng") - mal))"
# span FILE...: "FIRST LAST" capture times in whole seconds
span() { for f; do tshark -r "$f" -T fields -e frame.time_epoch 2>/dev/null; done | sort -n | sed -n '1s/\..*//p;$s/\..*//p' | tr '\n' ' '; }
read -r t0 t1 <<<"$(span examples/*.pcap)"
read -r e0 e1 <<<"$(span "$TMPD/ev.pcapng")"
ok "times are capture times (within the examples' span)" test "$t0" -le "$e0" -a "$e1" -le "$t1" -a "$t0" -gt 1000000000

expect_exit 0 "--pcap-limit 0" "$FS38" inspect --json --seed 38 --pcap-out "$TMPD/all.pcapng" --pcap-limit 0 examples/*.pcap
cp "$TMPD/out" "$TMPD/all.ndjson"
per_event "$TMPD/all.pcapng" >"$TMPD/all.per"
# rules whose every hit is one message (not the floods, scans, brute force,
# enumeration and fraud velocities, whose first hit carries the window's count)
one_per_hit='select(.rule.id | test("^SIP-(MAL|PROTO|TRUST|CLI|TOPO|INFO)-"))'
jq -r "$one_per_hit | \"\(.evidence.count) \(.rule.id) \(.event_id)\"" "$TMPD/all.ndjson" | sort >"$TMPD/want"
ok "one-message-per-hit rules: as many frames as the event's count" \
    is "$(grep -E ' SIP-(MAL|PROTO|TRUST|CLI|TOPO|INFO)-' "$TMPD/all.per" | sort)" "$(cat "$TMPD/want")"
ok "...which covers several incidents" test "$(wc -l <"$TMPD/want")" -ge 5
ok "--pcap-limit 0: the ENUM incident has all its hits after the threshold" \
    test "$(awk '$2 == "SIP-ENUM-001" {print $1}' "$TMPD/all.per")" -gt 100
# the call rules: the rest of each call that counted comes too, marked "(call)"
# rows FILE: "RULE EVENT_ID counted|call CALL-ID METHOD-OR-STATUS now|earlier" per comment
# (earlier: from the look back, before the incident's threshold)
rows() {
    tshark -r "$1" -T fields -e sip.Call-ID -e sip.Method -e sip.Status-Code -e frame.comment 2>/dev/null |
        awk -F'\t' '{n = split($4, c, ","); for (i = 1; i <= n; i++) { split(c[i], f, " ");
            print f[2], f[5], (f[6] ~ /^\(call/ ? "call" : "counted"), $1, $2 $3,
                  (c[i] ~ /before threshold/ ? "earlier" : "now") } }'
}
rows "$TMPD/all.pcapng" >"$TMPD/rows"
ok "the rest of the calls: frames marked (call) for FRAUD-IRSF-001, -VOL-001 and -WANGIRI-001" \
    is "$(awk '$3 == "call" {print $1}' "$TMPD/rows" | sort -u | tr '\n' ' ')" "FRAUD-IRSF-001 FRAUD-VOL-001 FRAUD-WANGIRI-001 "
ok "...only for the call rules" is "$(awk '$3 == "call" && $1 !~ /^FRAUD-/' "$TMPD/rows" | wc -l)" 0
# an incident with frames from before its threshold may find a call's
# counted message in the file already, written for another incident (one
# frame per message): its call's frames then name it without that message
awk '$6 == "earlier" {print $2}' "$TMPD/rows" | sort -u >"$TMPD/looked_back"
ok "...each of a call one of its incident's counted messages belongs to" \
    is "$(comm -23 <(awk '$3 == "call" {print $2, $4}' "$TMPD/rows" | grep -vFf "$TMPD/looked_back" | sort -u) \
        <(awk '$3 == "counted" {print $2, $4}' "$TMPD/rows" | sort -u))" ""
ok "...or, for an incident that looked back, of a call with a counted message in the file" \
    is "$(comm -23 <(awk '$3 == "call" {print $2, $4}' "$TMPD/rows" | grep -Ff "$TMPD/looked_back" | awk '{print $2}' | sort -u) \
        <(awk '$3 == "counted" {print $4}' "$TMPD/rows" | sort -u))" ""
ok "...Wangiri: every call whose CANCEL counted has its 487 and the ACK to it" \
    is "$(awk '$1 == "FRAUD-WANGIRI-001" && $3 == "counted" && $5 == "CANCEL" {print $4}' "$TMPD/rows" | sort -u | wc -l)" \
    "$(awk '$1 == "FRAUD-WANGIRI-001" && $3 == "call" && ($5 == "487" || $5 == "ACK") {print $4, $5}' "$TMPD/rows" |
        sort -u | awk '{n[$1]++} END {for (k in n) if (n[k] == 2) c++; print c + 0}')"
ok "...IRSF: each counted INVITE's call has its answer" \
    is "$(awk '$1 == "FRAUD-IRSF-001" && $3 == "counted" {print $4}' "$TMPD/rows" | sort -u | wc -l)" \
    "$(awk '$1 == "FRAUD-IRSF-001" && $3 == "call" && $5 ~ /^2/ {print $4}' "$TMPD/rows" | sort -u | wc -l)"
# sngrep, which fraud teams open such a file in: the IRSF calls are whole
# INVITE dialogs there (-c keeps only those), every frame of them
awk '$1 == "FRAUD-IRSF-001" {print $4}' "$TMPD/rows" | sort -u >"$TMPD/irsf.ids"
callid_frames() { tshark -r "$1" -T fields -e sip.Call-ID 2>/dev/null | grep -cFx -f "$TMPD/irsf.ids"; }
ok "sngrep reads the file" timeout 60 sngrep -N -q -c -I "$TMPD/all.pcapng" -O "$TMPD/sngrep.pcap"
ok "sngrep: the IRSF calls are INVITE dialogs with all their frames" \
    is "$(callid_frames "$TMPD/sngrep.pcap") $(wc -l <"$TMPD/irsf.ids")" \
    "$(callid_frames "$TMPD/all.pcapng") $(jq -r 'select(.rule.id == "FRAUD-IRSF-001") | .evidence.count' "$TMPD/all.ndjson")"
ok "...each with its answer and ACK (INVITE, 100, 180, 200, ACK, BYE, 200: 7 frames)" \
    is "$(tshark -r "$TMPD/sngrep.pcap" -T fields -e sip.Call-ID 2>/dev/null | grep -Fx -f "$TMPD/irsf.ids" |
        sort | uniq -c | awk '{print $1}' | sort -u | tr '\n' ' ')" "7 "
# the look back (--pcap-lookback, 4 MB by default): a windowed rule's
# incident has the messages its window counted before its threshold too
# ("(before threshold)"), so every one it counted (but those already in
# the file for another incident: one frame per message)
count_of() { jq -r --arg r "$1" 'select(.rule.id == $r) | .evidence.count' "$2"; }
frames_of() { awk -v r="$1" '$2 == r {print $1}' "$2"; }
ok "look back: SIP-ENUM-001 has a frame for each of its $(count_of SIP-ENUM-001 "$TMPD/all.ndjson") hits" \
    is "$(frames_of SIP-ENUM-001 "$TMPD/all.per")" "$(count_of SIP-ENUM-001 "$TMPD/all.ndjson")"
ok "...SIP-BRUTE-001 too" is "$(frames_of SIP-BRUTE-001 "$TMPD/all.per")" "$(count_of SIP-BRUTE-001 "$TMPD/all.ndjson")"
ok "...and a SIP-FLOOD-001 incident" \
    grep -qx "$(count_of SIP-FLOOD-001 "$TMPD/all.ndjson" | sort -n | tail -1)" <(frames_of SIP-FLOOD-001 "$TMPD/all.per")
# (the call rules' frames are their calls', more than their hits)
ok "...no incident of the other windowed rules has more frames than hits" \
    is "$(join -1 3 -2 2 <(sort -k3 "$TMPD/all.per") <(jq -r '"\(.evidence.count) \(.event_id)"' "$TMPD/all.ndjson" | sort -k2) |
        awk '$3 ~ /^SIP-(FLOOD|SCAN-002|ENUM|BRUTE)/ && $2 > $4' | wc -l) $(grep -cE ' SIP-(FLOOD|SCAN-002|ENUM|BRUTE)' "$TMPD/all.per")" \
    "0 $(jq -r '.rule.id' "$TMPD/all.ndjson" | grep -cE '^SIP-(FLOOD|SCAN-002|ENUM|BRUTE)')"
enum_id=$(jq -r 'select(.rule.id == "SIP-ENUM-001") | .event_id' "$TMPD/all.ndjson")
first_frame() { # FILE EVENT_ID: the time of the incident's first frame, in ms
    tshark -r "$1" -T fields -e frame.time_epoch -e frame.comment 2>/dev/null | grep -F "$2" |
        sed -E 's/^([0-9]+)\.([0-9]{3}).*/\1\2/' | sort -n | head -1
}
first_seen_ms() { jq -r --arg id "$2" 'select(.event_id == $id) | .first_seen' "$1" |
    python3 -c 'import sys, datetime; t = sys.stdin.read().strip().replace("Z", "+00:00"); print(round(datetime.datetime.fromisoformat(t).timestamp() * 1000))'; }
ok "...SIP-ENUM-001's frames begin at its first_seen" is "$(first_frame "$TMPD/all.pcapng" "$enum_id")" \
    "$(first_seen_ms "$TMPD/all.ndjson" "$enum_id")"
ok "...in time order" is "$(tshark -r "$TMPD/all.pcapng" -T fields -e frame.time_epoch -e frame.comment 2>/dev/null |
    grep -F "$enum_id" | awk '{print $1}' | sort -c -g && echo sorted)" sorted
ok "...those frames say so" test "$(rows "$TMPD/all.pcapng" | awk '$6 == "earlier"' | wc -l)" -gt 100
expect_exit 0 "--pcap-lookback 0" "$FS38" inspect --json --seed 38 --pcap-out "$TMPD/nolb.pcapng" --pcap-limit 0 \
    --pcap-lookback 0 --stats-json "$TMPD/nolb.json" examples/*.pcap
ok "--pcap-lookback 0: no frame from before a threshold" is "$(rows "$TMPD/nolb.pcapng" | awk '$6 == "earlier"' | wc -l)" 0
ok "...SIP-ENUM-001 has fewer frames than hits, from after its first_seen" \
    test "$(per_event "$TMPD/nolb.pcapng" | frames_of SIP-ENUM-001 /dev/stdin)" -lt "$(count_of SIP-ENUM-001 "$TMPD/all.ndjson")" \
    -a "$(first_frame "$TMPD/nolb.pcapng" "$(jq -r 'select(.rule.id == "SIP-ENUM-001") | .event_id' "$TMPD/out")")" \
    -gt "$(first_seen_ms "$TMPD/all.ndjson" "$enum_id")"
ok "...and pcap_out.earlier is 0, memory.lookback_bytes too" \
    is "$(jq -r '"\(.pcap_out.earlier) \(.memory.lookback_bytes)"' "$TMPD/nolb.json")" "0 0"
# 16 workers of 1024 MB: refused at start on a machine without 26 GB, saying why
if (($(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 < 26000)); then
    expect_exit 2 "--workers 16 --pcap-lookback 1024: more than this machine has" "$FS38" inspect -q --workers 16 \
        --pcap-out "$TMPD/x.pcapng" --pcap-lookback 1024 examples/scan-svmap.pcap
    ok "...says the look back needs it, and how to lower it" grep -q "look back 25601 MB.*or --pcap-lookback" "$TMPD/err"
fi
expect_exit 2 "--pcap-lookback past 1024 MB" "$FS38" inspect -q --pcap-out "$TMPD/x.pcapng" --pcap-lookback 2048 examples/scan-svmap.pcap
ok "...names the option" grep -q -- "--pcap-lookback" "$TMPD/err"
expect_exit 0 "--pcap-limit 3" "$FS38" inspect -q --seed 38 --pcap-out "$TMPD/three.pcapng" --pcap-limit 3 examples/*.pcap
ok "--pcap-limit 3: 1 to 3 frames per incident" \
    is "$(per_event "$TMPD/three.pcapng" | awk '$1 < 1 || $1 > 3' | wc -l) $(per_event "$TMPD/three.pcapng" | wc -l)" \
    "0 $(wc -l <"$TMPD/events")"
expect_exit 0 "the summary names the file" "$FS38" inspect --seed 38 --pcap-out "$TMPD/s.pcapng" \
    --stats-json "$TMPD/s.json" examples/*.pcap
ok "...with the messages written" grep -qE "messages behind them in .*s.pcapng: $(frames "$TMPD/s.pcapng") messages" "$TMPD/out"
ok "--stats-json pcap_out: the messages written, none lost" \
    is "$(jq -r '"\(.pcap_out.messages) \(.pcap_out.lost)"' "$TMPD/s.json")" "$(frames "$TMPD/s.pcapng") 0"
ok "...and how many came from before their incident's threshold" \
    is "$(jq -r .pcap_out.earlier "$TMPD/s.json")" "$(tshark -r "$TMPD/s.pcapng" -T fields -e frame.comment 2>/dev/null | grep -c 'before threshold')"
ok "...which the summary says" grep -qE "messages behind them in .*: [0-9]+ messages \($(jq -r .pcap_out.earlier "$TMPD/s.json") before thresholds\)" "$TMPD/out"
ok "the look back's memory: 4 MB of messages and their records" \
    test "$(jq -r .memory.lookback_bytes "$TMPD/s.json")" -gt $((6 << 20)) -a "$(jq -r .memory.lookback_bytes "$TMPD/s.json")" -lt $((7 << 20))
ok "...on the summary's last line" grep -q "look back 6\.3 MB" "$TMPD/out"

# ---- (b) read again by fs38 ---------------------------------------------------------------
expect_exit 0 "fs38 reads its own file" "$FS38" inspect --json --seed 38 "$TMPD/all.pcapng"
src_counts() {
    jq -r "$one_per_hit | \"\(.rule.id) \(.observables[] | select(.role == \"source\") | .value) \(.evidence.count)\"" "$1" | sort
}
ok "the one-message-per-hit incidents again, same sources and counts" \
    is "$(src_counts "$TMPD/out")" "$(src_counts "$TMPD/all.ndjson")"

# ---- (c) TCP from TLS, SCTP over IPv6, IPv6 UDP ----------------------------------------------
D=tests/data/capture
expect_exit 0 "tls.pcap with keys" "$FS38" inspect -q --tls-keylog $D/tls.keys --pcap-out "$TMPD/tls.pcapng" --pcap-limit 0 $D/tls.pcap
n=$(frames "$TMPD/tls.pcapng")
ok "TLS: frames written" test "$n" -gt 10
ok "TLS: written as TCP, dissected as SIP, each one" \
    is "$(tshark -r "$TMPD/tls.pcapng" -Y 'tcp && sip' 2>/dev/null | wc -l)" "$n"
ok "TLS: TCP checksums valid" is "$(checksums "$TMPD/tls.pcapng")" "1 "
ok "TLS: no TCP sequence problem (retransmission, lost segment)" \
    is "$(tshark -r "$TMPD/tls.pcapng" -Y 'tcp.analysis.flags' 2>/dev/null | wc -l)" 0
ok "TLS: each frame says it was decrypted" \
    is "$(tshark -r "$TMPD/tls.pcapng" -T fields -e frame.comment 2>/dev/null | grep -c 'decrypted')" "$n"
expect_exit 0 "sctp.pcap" "$FS38" inspect -q --pcap-out "$TMPD/sctp.pcapng" --pcap-limit 0 $D/sctp.pcap
ok "SCTP: over IPv4 and IPv6, each dissected as SIP" \
    is "$(tshark -r "$TMPD/sctp.pcapng" -Y 'sctp && sip' -T fields -e ip.version -e ipv6.version 2>/dev/null | sort -u | tr '\t\n' '  ')" "4  6 6 "
ok "SCTP: CRC-32c valid" is "$(checksums "$TMPD/sctp.pcapng")" "1 "
expect_exit 0 "IPv6 flood" "$FS38" inspect -q --pcap-out "$TMPD/v6.pcapng" $D/v6rot-flood-invite.pcap
ok "IPv6: UDP checksums valid" is "$(checksums "$TMPD/v6.pcapng")" "1 "
ok "IPv6: dissected as SIP" is "$(tshark -r "$TMPD/v6.pcapng" -Y 'ipv6 && sip' 2>/dev/null | wc -l)" "$(frames "$TMPD/v6.pcapng")"

# ---- (d) two workers -----------------------------------------------------------------------
expect_exit 0 "--workers 2" "$FS38" inspect --json --workers 2 --pcap-out "$TMPD/w2.pcapng" --pcap-limit 0 examples/*.pcap
jq -r '"\(.rule.id) \(.event_id)"' "$TMPD/out" | sort >"$TMPD/w2.events"
ok "--workers 2: every incident named is one reported (shares of one incident share its id)" \
    is "$(comments "$TMPD/w2.pcapng" | sort -u | comm -13 "$TMPD/w2.events" -)" ""
ok "--workers 2: as many frames as one worker writes" is "$(frames "$TMPD/w2.pcapng")" "$(frames "$TMPD/all.pcapng")"

# ---- (e) errors ------------------------------------------------------------------------------
expect_exit 2 "a path that cannot be created" "$FS38" inspect -q --pcap-out "$TMPD/no/such/dir/x.pcapng" examples/scan-svmap.pcap
ok "...names the option and the reason" grep -q -- "--pcap-out .*No such file or directory" "$TMPD/err"
expect_exit 2 "a bad --pcap-limit" "$FS38" inspect -q --pcap-out "$TMPD/x.pcapng" --pcap-limit many examples/scan-svmap.pcap
ok "...names the option" grep -q -- "--pcap-limit" "$TMPD/err"
expect_exit 0 "--pcap-lookback without --pcap-out" "$FS38" inspect --json --pcap-lookback 8 examples/scan-svmap.pcap
ok "...says it applies to --pcap-out" grep -q -- "note: --pcap-lookback applies to --pcap-out FILE, which is not given" "$TMPD/err"
expect_exit 0 "--pcap-limit without --pcap-out, -q" "$FS38" inspect -q --pcap-limit 5 examples/scan-svmap.pcap
ok "...quiet: no note" is "$(cat "$TMPD/err")" ""
if [ -w /dev/full ]; then
    expect_exit 2 "a full disk gives exit 2" "$FS38" inspect -q --pcap-out /dev/full --pcap-limit 0 examples/*.pcap
    ok "...and says the file is incomplete" grep -qE -- "--pcap-out /dev/full: .*(lost|incomplete|cannot write)" "$TMPD/err"
fi
# a disk that fills midway (here `ulimit -f`, 100 KB): the file ends at the last whole
# frame, and holds every message counted as written. A frame cut short stayed in it:
# tshark stopped there ("cut short in the middle of a packet"; "damaged or corrupt"
# once space came back and frames followed it), and the figures counted the
# messages left in stdio's buffer (1621 written, 179 in the file).
rm -f "$TMPD/cut.pcapng"
expect_exit 2 "a disk that fills midway gives exit 2" bash -c 'ulimit -f 100; exec "$@"' _ \
    "$FS38" inspect -q --stats-json "$TMPD/cut.json" --pcap-out "$TMPD/cut.pcapng" --pcap-limit 0 examples/*.pcap
ok "...the file is whole up to its last frame" tshark -r "$TMPD/cut.pcapng" -w /dev/null
ok "...frames were written before the disk filled" test "$(frames "$TMPD/cut.pcapng")" -gt 50
ok "...--stats-json counts the frames in the file" \
    is "$(jq .pcap_out.messages "$TMPD/cut.json")" "$(frames "$TMPD/cut.pcapng")"

# ---- one message, many incidents -----------------------------------------------------
# An INVITE from an untrusted source that seven per-message rules judge (SIP-MAL-001,
# SIP-PROTO-002/004/005, SIP-SCAN-001, SIP-TRUST-001, SIP-CLI-001): its frame named only
# the first four (a message kept 4 incident refs), so the three high incidents had no frame
python3 - "$TMPD/many.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp_c, write_pcap
msg = (b'INVITE sip:+4477009123@127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.2.3:5060;branch=nocookie1\r\n'
       b'From: "x" <sip:+4477009555@ims.example.net>;tag=a\r\nTo: <sip:+4477009123@127.0.0.10>\r\n'
       b'P-Asserted-Identity: <sip:+4477009555@ims.example.net>\r\nP-Charging-Vector: icid-value=1\r\n'
       b'Call-ID: many\x011\r\nCSeq: 1 INVITE\r\nMax-Forwards: 255\r\nTo: <sip:b@x>\r\n'
       b'User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n')
write_pcap(sys.argv[1], [eth(ip4('127.0.2.20', '127.0.0.10', 17, udp_c('127.0.2.20', '127.0.0.10', 5060, 5060, msg)))])
PY
expect_exit 0 "a message that seven rules judge, --pcap-out" \
    "$FS38" inspect --json --config examples/site.yaml --pcap-out "$TMPD/many.pcapng" "$TMPD/many.pcap"
jq -r '"\(.rule.id) \(.event_id)"' "$TMPD/out" | sort >"$TMPD/many.events"
ok "...seven incidents" is "$(wc -l <"$TMPD/many.events")" 7
ok "...one frame" is "$(frames "$TMPD/many.pcapng")" 1
ok "...naming each of them" is "$(comments "$TMPD/many.pcapng" | sort)" "$(cat "$TMPD/many.events")"

finish test_pcap_out
