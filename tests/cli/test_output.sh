#!/usr/bin/env bash
# What a person or a SIEM receives from `fs38 inspect`: hostile text in the
# summary and the NDJSON, outputs that fail (full disk, closed stdout, a
# reader that leaves), the summary's width and the progress line.
source "$(dirname "$0")/lib.sh"
GEN=${FS38_BUILD}/gen_pcap
SITE=$ROOT/examples/site.yaml

# pcap_of OUT SPEC.py: a capture of the UDP messages the Python expression
# MSGS (a list of (src, dst, ts, payload)) names
pcap_of() {
    python3 - "$1" "$2" <<'PY'
import struct, sys
def frame(src, dst, payload, n):
    udp = struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xffff, 0, 64, 17, 0,
                     bytes(map(int, src.split('.'))), bytes(map(int, dst.split('.')))) + udp
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
# ESC: CSI and OSC 8 (a hyperlink), C1 CSI as UTF-8, a right-to-left override,
# tab, invalid UTF-8, an overlong "/", NUL, CJK (two columns each)
H = (b"\x1b[31mr \x1b]8;;http://e/\x07l c1:\xc2\x9b" b"2J bidi:\xe2\x80\xae" b"cb tab:\tX inv:\xff "
     b"ovl:\xc0\xaf nul:\x00 wide:\xe6\xbc\xa2\xe5\xad\x97")
def resp(h, i):
    return (b"SIP/2.0 403 Forbidden\r\nVia: SIP/2.0/UDP 127.0.2.5;branch=z9hG4bK%d\r\n" % i +
            b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: r%d\r\nCSeq: 1 INVITE\r\n" % i +
            b"Server: Asterisk 13.1 " + h + b"\r\nWarning: 399 host \"" + h + b"\"\r\n"
            b"Content-Length: 0\r\n\r\n")
def req(h, i, method=b"INVITE", ua=b"friendly-scanner "):
    return (method + b" sip:100@127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.2.5;branch=z9hG4bK%d\r\n" % i +
            b"From: \"" + h + b"\" <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: " + h + b"%d\r\n" % i +
            b"CSeq: 1 " + method + b"\r\nMax-Forwards: 70\r\nUser-Agent: " + ua + h + b"\r\n"
            b"Content-Length: 0\r\n\r\n")
MSGS = eval(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for n, (src, dst, ts, p) in enumerate(MSGS):
        r = frame(src, dst, p, n + 1)
        f.write(struct.pack("<IIII", int(ts), int(ts % 1 * 1e6), len(r), len(r)) + r)
PY
}

# terminal_safe FILE COLUMNS: valid UTF-8, nothing that drives or reorders a
# terminal (controls but the newline, bidi and other format characters), and
# no line wider than COLUMNS (East Asian wide characters count two)
terminal_safe() {
    python3 - "$1" "$2" <<'PY'
import sys, unicodedata
text = open(sys.argv[1], 'rb').read().decode('utf-8')
width, bad = int(sys.argv[2]), 0
for n, line in enumerate(text.split('\n'), 1):
    for ch in line:
        if unicodedata.category(ch) in ('Cc', 'Cf', 'Zl', 'Zp', 'Co', 'Cs'):
            print('line %d: U+%04X' % (n, ord(ch))); bad = 1
    cols = sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in 'WF' else 1
               for c in line)
    if cols > width:
        print('line %d: %d columns: %r' % (n, cols, line)); bad = 1
sys.exit(bad)
PY
}

# ndjson_ok FILE [N]: every line a JSON object in valid UTF-8 whose strings hold no
# control character but tab (C0, DEL, C1); N lines if given
ndjson_ok() {
    python3 - "$@" <<'PY'
import json, sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')
if lines and lines[-1] == b'': lines.pop()
else: sys.exit('the last line is cut (no newline)')
def strings(v):
    if isinstance(v, str): yield v
    elif isinstance(v, dict):
        for k, x in v.items(): yield k; yield from strings(x)
    elif isinstance(v, list):
        for x in v: yield from strings(x)
for n, raw in enumerate(lines, 1):
    e = json.loads(raw.decode('utf-8'))
    assert isinstance(e, dict), n
    for s in strings(e):
        for ch in s:
            o = ord(ch)
            assert not (o < 0x20 and ch != '\t' or 0x7f <= o <= 0x9f), (n, hex(o), s)
if len(sys.argv) > 2 and len(lines) != int(sys.argv[2]):
    sys.exit('%d lines, want %s' % (len(lines), sys.argv[2]))
PY
}

# --- hostile text: the summary shows it, a terminal is not driven by it ---------------------------
pcap_of "$TMPD/hostile.pcap" '[("127.0.0.10", "127.0.2.5", 1700000000, resp(H, 1)),
    ("127.0.2.5", "127.0.0.10", 1700000001, req(H, 2)),
    ("127.0.2.6", "127.0.0.10", 1700000002, req(H, 3, b"X\xc2\x9b\xe2\x80\xae"))]'
for cols in 80 200; do
    COLUMNS=$cols "$FS38" inspect -c "$SITE" "$TMPD/hostile.pcap" >"$TMPD/h$cols.txt" 2>"$TMPD/err"
    ok "hostile text, $cols columns: the summary drives no terminal and fits" terminal_safe "$TMPD/h$cols.txt" $cols
done
ok "...and still shows the text (wide characters whole, what would act as ?)" grep -qF \
    'disclosed="Asterisk 13.1  [31mr  ]8;;http://e/ l c1: 2J bidi:?cb tab:?X inv:? ovl:?? nul:  wide:漢字"' "$TMPD/h200.txt"
ok "...a quote inside a quoted value is escaped" grep -qF 'warning="399 host \" [31mr' "$TMPD/h200.txt"
"$FS38" inspect -c "$SITE" --json "$TMPD/hostile.pcap" >"$TMPD/h.ndjson" 2>"$TMPD/err"
ok "hostile text: NDJSON is valid UTF-8 JSON without controls (C1 too)" ndjson_ok "$TMPD/h.ndjson"
ok "...jq reads it" jq -e . "$TMPD/h.ndjson" >/dev/null
ok "...bytes as the format says: invalid UTF-8 as ?, controls as spaces, bidi kept" python3 -c "
import json, sys
ua = [o['value'] for l in open('$TMPD/h.ndjson') for o in json.loads(l)['observables'] if o['kind'] == 'sip_user_agent']
want = 'friendly-scanner  [31mr  ]8;;http://e/ l c1: 2J bidi:\u202ecb tab:\tX inv:? ovl:?? nul:  wide:\u6f22\u5b57' # whole: 97 bytes fit an observable (it was cut at 95)
assert ua and ua[0] == want, (ua, want)"
expect_exit 0 "...fs38 validate accepts it" "$FS38" validate "$TMPD/h.ndjson"

# wide characters beyond CJK (emoji and symbols a terminal shows in two
# columns: U+1F680, U+2614, U+231A, U+1F004, U+1FA70, U+1F6F8): counted two
pcap_of "$TMPD/emoji.pcap" '[("127.0.0.10", "127.0.2.5", 1700000000, resp("\U0001f680\u2614\u231a\U0001f004\U0001fa70\U0001f6f8".encode() * 6, 1))]'
for cols in 80 120; do
    COLUMNS=$cols "$FS38" inspect -c "$SITE" "$TMPD/emoji.pcap" >"$TMPD/e$cols.txt" 2>"$TMPD/err"
    ok "wide emoji, $cols columns: the summary fits" terminal_safe "$TMPD/e$cols.txt" $cols
done

# --- an incident spanning hours: the span stays in its column -------------------------------
# a scanner probing every 50 s for 8 hours (quiet window 60 s: one incident), and a short one
pcap_of "$TMPD/long.pcap" '[("127.0.2.7", "127.0.0.10", 1700000000 + 50 * i, req(b"x", i, b"OPTIONS", b"friendly-scanner"))
    for i in range(600)] + [("127.0.2.8", "127.0.0.10", 1700000000 + i, req(b"x", 1000 + i, b"OPTIONS", b"friendly-scanner")) for i in range(3)]'
COLUMNS=120 "$FS38" inspect -c "$SITE" "$TMPD/long.pcap" >"$TMPD/long.txt" 2>"$TMPD/err"
ok "a span of 29950 s is shown in the column of 2.0s" python3 -c "
import re, sys
rows = [l for l in open('$TMPD/long.txt') if re.match(r'    SIP_SCANNER ', l)]
assert len(rows) >= 2, rows
cols = {l.index('SIP-SCAN-') for l in rows}
assert len(cols) == 1, rows
assert any('29950s' in l for l in rows), rows"

# --- evidence.window_s is last_seen - first_seen, to the millisecond -------------------------
# a day and a half of probes 50.0013 s apart (one incident): 6 significant
# digits wrote its 124953.248 s as 124953
pcap_of "$TMPD/days.pcap" '[("127.0.2.7", "127.0.0.10", 1700000000 + 50.0013 * i, req(b"x", i, b"OPTIONS", b"friendly-scanner"))
    for i in range(2500)]'
expect_exit 0 "an incident of 1.4 days" "$FS38" inspect -c "$SITE" --json "$TMPD/days.pcap"
ok "...its window_s is last_seen - first_seen to the millisecond" python3 -c "
import json, datetime
def t(s): return datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%S.%fZ')
evs = [json.loads(l) for l in open('$TMPD/out')]
assert evs and any(e['evidence']['window_s'] > 100000 for e in evs), evs
for e in evs:
    span = round((t(e['last_seen']) - t(e['first_seen'])).total_seconds(), 3)
    assert e['evidence']['window_s'] == span, (e['rule']['id'], e['evidence']['window_s'], span)"

# --- every event names an observable (the format: at least one) ----------------------------
# a trusted peer relays 80 calls of extension 150 (asserted in PAI) with a From that is no
# SIP URI: FRAUD-VOL-001 keeps the peer as details.via_source and named nothing at all
pcap_of "$TMPD/vol.pcap" '[("127.0.1.6", "127.0.0.10", 1700000000 + i / 2,
    b"INVITE sip:+44770090%03d@127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.6;branch=z9hG4bK%d\r\n" % (i, i) +
    b"From: <urn:service:sos>;tag=1\r\nTo: <sip:+44770090%03d@127.0.0.10>\r\nCall-ID: v%d\r\n" % (i, i) +
    b"P-Asserted-Identity: <sip:150@ims.example.net>\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n") for i in range(80)]'
expect_exit 0 "a relayed caller that is no number, From not a SIP URI" "$FS38" inspect -c "$SITE" --json "$TMPD/vol.pcap"
ok "...FRAUD-VOL-001 names the caller by its asserted URI" is \
    "$(jq -c 'select(.rule.id == "FRAUD-VOL-001") | .observables' "$TMPD/out")" \
    '[{"kind":"sip_uri","value":"sip:150@ims.example.net","role":"caller"}]'
cp "$TMPD/out" "$TMPD/vol.ndjson"
expect_exit 0 "...fs38 validate accepts every event" "$FS38" validate "$TMPD/vol.ndjson"

# a trusted peer relays 12 one-ring calls of extension 150 (asserted in the INVITE's PAI) with
# an anonymous From; the CANCEL and 487 that end each carry no PAI: FRAUD-WANGIRI-001 named
# sip:anonymous@anonymous.invalid (From of the CANCEL at hand) as the caller to block
# wangiri_pcap OUT PAI_URI: 12 one-ring calls relayed by a trusted peer, From anonymous
wangiri_pcap() {
    pcap_of "$1" '[m for i in range(12) for m in (
        ("127.0.1.6", "127.0.0.10", 1700000000 + 10 * i,
         b"INVITE sip:+44770090%03d@127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.6;branch=z9hG4bKw%d\r\n" % (i, i) +
         b"From: <sip:anonymous@anonymous.invalid>;tag=1\r\nTo: <sip:+44770090%03d@127.0.0.10>\r\nCall-ID: w%d\r\n" % (i, i) +
         b"P-Asserted-Identity: <'"$2"'>\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
         b"Content-Length: 0\r\n\r\n"),
        ("127.0.0.10", "127.0.1.6", 1700000000 + 10 * i + 0.5,
         b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.1.6;branch=z9hG4bKw%d\r\n" % i +
         b"From: <sip:anonymous@anonymous.invalid>;tag=1\r\nTo: <sip:+44770090%03d@127.0.0.10>;tag=2\r\nCall-ID: w%d\r\n" % (i, i) +
         b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"),
        ("127.0.1.6", "127.0.0.10", 1700000000 + 10 * i + 2,
         b"CANCEL sip:+44770090%03d@127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.6;branch=z9hG4bKw%d\r\n" % (i, i) +
         b"From: <sip:anonymous@anonymous.invalid>;tag=1\r\nTo: <sip:+44770090%03d@127.0.0.10>\r\nCall-ID: w%d\r\n" % (i, i) +
         b"CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
        ("127.0.0.10", "127.0.1.6", 1700000000 + 10 * i + 2.1,
         b"SIP/2.0 487 Request Terminated\r\nVia: SIP/2.0/UDP 127.0.1.6;branch=z9hG4bKw%d\r\n" % i +
         b"From: <sip:anonymous@anonymous.invalid>;tag=1\r\nTo: <sip:+44770090%03d@127.0.0.10>;tag=2\r\nCall-ID: w%d\r\n" % (i, i) +
         b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))]'
}
wangiri_pcap "$TMPD/wangiri.pcap" "sip:150@ims.example.net"
expect_exit 0 "a relayed Wangiri caller that is no number, From anonymous" "$FS38" inspect -c "$SITE" --json "$TMPD/wangiri.pcap"
ok "...FRAUD-WANGIRI-001 names the caller by its asserted URI, not the anonymous From" is \
    "$(jq -c 'select(.rule.id == "FRAUD-WANGIRI-001") | .observables' "$TMPD/out")" \
    '[{"kind":"sip_uri","value":"sip:150@ims.example.net","role":"caller"}]'
expect_exit 0 "...with --workers 2" "$FS38" inspect -c "$SITE" --workers 2 --json "$TMPD/wangiri.pcap"
ok "...FRAUD-WANGIRI-001 names the asserted URI there too (the callers table is shared)" is \
    "$(jq -c 'select(.rule.id == "FRAUD-WANGIRI-001") | .observables' "$TMPD/out")" \
    '[{"kind":"sip_uri","value":"sip:150@ims.example.net","role":"caller"}]'
# ...and when the asserted URI is longer than the 80 bytes kept with the caller (an IMS
# PAI with its parameters, 84 bytes here): FRAUD-WANGIRI-001 had no observable at all,
# an event fs38 validate refuses; the URI is kept without its parameters
wangiri_pcap "$TMPD/wangiri-long.pcap" "sip:150@ims.mnc015.mcc234.3gppnetwork.org;user=phone;cpc=ordinary;transport=udp;npdi"
expect_exit 0 "a relayed Wangiri caller asserted with a long URI" "$FS38" inspect -c "$SITE" --json "$TMPD/wangiri-long.pcap"
ok "...FRAUD-WANGIRI-001 names the asserted URI, without its parameters" is \
    "$(jq -c 'select(.rule.id == "FRAUD-WANGIRI-001") | .observables' "$TMPD/out")" \
    '[{"kind":"sip_uri","value":"sip:150@ims.mnc015.mcc234.3gppnetwork.org","role":"caller"}]'
cp "$TMPD/out" "$TMPD/wangiri-long.ndjson"
expect_exit 0 "...fs38 validate accepts it" "$FS38" validate "$TMPD/wangiri-long.ndjson"

# A spoofer on 5060 calling a trunk on a port not in sip_ports (FreeSWITCH's
# 5080, here 5090) is sharded by destination: its first INVITE (our
# subscriber's number in PAI) goes to one worker, the other 9 to the other.
# The merged SIP-CLI-001 keeps the first one's sample, so its number must be
# among the victims, as with one worker (`fs38 share` scrubs the sample's
# pai by them).
python3 - "$TMPD/spoof.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp_c, write_pcap
frames = []
for i in range(10):
    d = "198.51.100.101" if i == 0 else "198.51.100.50"
    msg = ("INVITE sip:+3361234567%d@%s:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bKc%d\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:+44770090012%d@x.example>;tag=f%d\r\nTo: <sip:+3361234567%d@%s>\r\n"
           "Call-ID: cli%d\r\nCSeq: 1 INVITE\r\nP-Asserted-Identity: <sip:+44770090012%d@x.example>\r\n"
           "Contact: <sip:a@203.0.113.66>\r\nContent-Length: 0\r\n\r\n" % (i, d, i, i, i, i, d, i, i)).encode()
    frames.append(eth(ip4("203.0.113.66", d, 17, udp_c("203.0.113.66", d, 5060, 5090, msg))))
write_pcap(sys.argv[1], frames)
PY
for w in 1 2; do
    "$FS38" inspect -c "$SITE" --workers $w --json "$TMPD/spoof.pcap" 2>/dev/null |
        jq -c 'select(.rule.id == "SIP-CLI-001") | [.evidence.sample.pai, ([.observables[] | select(.role == "victim") | .value] | sort)]' \
            >"$TMPD/spoof$w"
done
ok "SIP-CLI-001: the sample's number is a victim" is "$(cat "$TMPD/spoof1")" \
    '["<sip:+447700900120@x.example>",["+447700900120","+447700900121","+447700900122","+447700900123","+447700900124"]]'
ok "...with --workers 2 too (the sample's share's observables first)" is "$(cat "$TMPD/spoof2")" "$(cat "$TMPD/spoof1")"

# --- the summary fits 80 columns; its counts are the events' --------------------------------
"$GEN" mixed "$TMPD/mixed.pcap" 16 7 >/dev/null 2>&1
COLUMNS=80 "$FS38" inspect --events "$TMPD/m.ndjson" --stats-json "$TMPD/m.json" "$TMPD/mixed.pcap" >"$TMPD/m80.txt" 2>"$TMPD/err"
ok "generated capture: the summary fits 80 columns" terminal_safe "$TMPD/m80.txt" 80
n=$(wc -l <"$TMPD/m.ndjson")
ok "INCIDENTS, --stats-json events and the events file agree ($n)" \
    bash -c "grep -q '^INCIDENTS  $n ' '$TMPD/m80.txt' && test \"\$(jq .events '$TMPD/m.json')\" -eq $n"
ok "the summary says how many events went to the file" grep -q "^  appended to $TMPD/m.ndjson: $n events$" "$TMPD/m80.txt"
deep=$TMPD/$(printf 'g%.0s' {1..120})
mkdir -p "$deep"
COLUMNS=80 "$FS38" inspect --events "$deep/events.ndjson" "$TMPD/mixed.pcap" >"$TMPD/deep.txt" 2>"$TMPD/err"
ok "--events at a ${#deep}-byte path: the summary still fits 80 columns" terminal_safe "$TMPD/deep.txt" 80
ok "...the file's name is shown, its path's start cut" grep -q "^  appended to \.\.\.g*/events.ndjson: $n events$" "$TMPD/deep.txt"
# whole IPv6 addresses (state.ipv6_source_prefix 128) beside a long event type:
# an incident row of 98 columns and a talker's of 88 before
python3 - "$TMPD/v6.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip6, udp_c, write_pcap
src, dst = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", "2001:db8:1111:2222:3333:4444:5555:6666"
msg = (b"OPTIONS sip:100@[%s] SIP/2.0\r\nVia: SIP/2.0/UDP [%s]:5070;branch=nocookie1\r\n"
       b"From: <sip:a@x>;tag=1\r\nTo: <sip:100@x>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
       b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n") % (dst.encode(), src.encode())
write_pcap(sys.argv[1], [eth(ip6(src, dst, 17, udp_c(src, dst, 5070, 5060, msg)), t=0x86dd)])
PY
printf 'state:\n  ipv6_source_prefix: 128\n' >"$TMPD/v6.yaml"
COLUMNS=80 "$FS38" inspect -c "$TMPD/v6.yaml" "$TMPD/v6.pcap" >"$TMPD/v6.txt" 2>"$TMPD/err"
ok "a whole IPv6 source and SIP_PROTOCOL_VIOLATION: the summary fits 80 columns" terminal_safe "$TMPD/v6.txt" 80
ok "...the incident names the whole address" grep -qE '^    2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff +1 in +0\.0s  SIP-PROTO-005$' "$TMPD/v6.txt"
ok "...so does the talker" grep -qE '^  2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff +1 request +1 message +1 incident$' "$TMPD/v6.txt"
COLUMNS=120 "$FS38" inspect -c "$TMPD/v6.yaml" "$TMPD/v6.pcap" >"$TMPD/v6w.txt" 2>"$TMPD/err"
ok "...with room (120 columns), the event type is shown" grep -qE '^    SIP_PROTOCOL_VIOLATION 2001:db8:aaaa:' "$TMPD/v6w.txt"
# TLS, ESP and tunnels together: a transports line of 220 columns before
COLUMNS=80 "$FS38" inspect -c /dev/null "$ROOT"/tests/data/capture/{tls-weak,tunnels,esp}.pcap \
    "$ROOT/examples/malformed.pcap" >"$TMPD/tr.txt" 2>"$TMPD/err"
ok "TLS, ESP, tunnels: the summary fits 80 columns" terminal_safe "$TMPD/tr.txt" 80
ok "...and says all of it" bash -c "tr '\n' ' ' <'$TMPD/tr.txt' | grep -qE 'transports udp 43 tcp 2 +tunneled frames 33 +\
ESP 7 \(NULL-encrypted, read 5\) +TLS connections 10 \(records decrypted 0; +servers chose TLS 1\.0 1, +TLS 1\.1 1, +\
TLS 1\.2 4, +TLS 1\.3 4; +certificates read 7\) +not SIP 1 '"
for f in "$ROOT"/examples/*.pcap; do
    COLUMNS=80 "$FS38" inspect -c "$SITE" "$f" >"$TMPD/ex.txt" 2>"$TMPD/err"
    ok "$(basename "$f"): the summary fits 80 columns" terminal_safe "$TMPD/ex.txt" 80
done

# --- an output that replaces its FILE is not where the events go ------------------------------
# (--events out.json --stats-json out.json: the events appended there before
# were truncated away and the statistics written over the new ones, exit 0)
"$FS38" inspect -q --events "$TMPD/same.ndjson" "$ROOT/examples/scan-svmap.pcap" 2>"$TMPD/err"
before=$(wc -l <"$TMPD/same.ndjson")
for o in --stats-json --pcap-out --esp-sa-out; do
    expect_exit 2 "$o naming the --events file: a usage error" "$FS38" inspect -q --events "$TMPD/same.ndjson" \
        "$o" "$TMPD/same.ndjson" "$ROOT/examples/scan-svmap.pcap"
    ok "...said" grep -qe "$o .*same.ndjson: the events go to that file (--events)" "$TMPD/err"
    ok "...the $before events appended before are kept" ndjson_ok "$TMPD/same.ndjson" "$before"
done
expect_exit 2 "--stats-json naming the file --json appends to: a usage error" bash -c \
    "exec '$FS38' inspect -q --json --stats-json '$TMPD/same.ndjson' '$ROOT/examples/scan-svmap.pcap' >>'$TMPD/same.ndjson'"
ok "...the $before events appended before are kept" ndjson_ok "$TMPD/same.ndjson" "$before"
expect_exit 0 "--events /dev/null --stats-json /dev/null: not one file to keep" "$FS38" inspect -q \
    --events /dev/null --stats-json /dev/null "$ROOT/examples/scan-svmap.pcap"
# nor where another output goes: each writes at its own offset over the other's
# bytes (--pcap-out x --stats-json x: neither a capture nor JSON, exit 0;
# --events x >x: the summary written over the events)
for pair in "--pcap-out --stats-json" "--esp-sa-out --stats-json" "--pcap-out --esp-sa-out"; do
    read -r a b <<<"$pair"
    rm -f "$TMPD/two.out"
    expect_exit 2 "$a and $b naming one file: a usage error" "$FS38" inspect -q "$a" "$TMPD/two.out" \
        "$b" "$TMPD/two.out" "$ROOT/examples/scan-svmap.pcap"
    ok "...said" grep -qe "$b .*two.out: $a writes that file" "$TMPD/err"
done
: >"$TMPD/two.out"
expect_exit 2 "--events naming the file the summary goes to: a usage error" bash -c \
    "exec '$FS38' inspect --events '$TMPD/two.out' '$ROOT/examples/scan-svmap.pcap' >'$TMPD/two.out'"
ok "...said" grep -qe "--events .*two.out: the summary goes to that file (stdout)" "$TMPD/err"
expect_exit 2 "--events naming the file --json writes to: a usage error" bash -c \
    "exec '$FS38' inspect --json --events '$TMPD/two.out' '$ROOT/examples/scan-svmap.pcap' >'$TMPD/two.out'"
ok "...said" grep -qe "--events .*two.out: the events go to that file (--json's stdout)" "$TMPD/err"
# ...nor the pipe stdout is (FILE /dev/stdout): there the two were mixed, exit 0
# (--pcap-out /dev/stdout | tshark -r -: the summary after the capture, "damaged or
# corrupt"; --json --events /dev/stdout: every event twice)
for args in "--pcap-out /dev/stdout" "--json --events /dev/stdout" "--json --stats-json /dev/stdout"; do
    expect_exit 2 "$args, stdout a pipe: a usage error" bash -c \
        "set -o pipefail; '$FS38' inspect $args '$ROOT/examples/scan-svmap.pcap' | cat >'$TMPD/pipe.out'"
    ok "...said" grep -qe "/dev/stdout: .*stdout): the two would be mixed" "$TMPD/err"
    ok "...nothing written" is "$(wc -c <"$TMPD/pipe.out")" 0
done
expect_exit 0 "-q --pcap-out /dev/stdout, stdout a pipe: the capture alone" bash -c \
    "set -o pipefail; '$FS38' inspect -q --pcap-out /dev/stdout '$ROOT/examples/scan-svmap.pcap' | cat >'$TMPD/pipe.out'"
ok "...tshark reads it whole" tshark -r "$TMPD/pipe.out" -w /dev/null
# '-' is stdout, as for tcpdump -w - (it made a file named '-')
(cd "$TMPD" && "$FS38" inspect -q --pcap-out - "$ROOT/examples/scan-svmap.pcap" >"$TMPD/dash.out" 2>"$TMPD/err")
ok "-q --pcap-out -: the capture on stdout" is "$(tshark -r "$TMPD/dash.out" 2>/dev/null | wc -l)" \
    "$(tshark -r "$TMPD/pipe.out" 2>/dev/null | wc -l)"
ok "...no file named '-'" test ! -e "$TMPD/-"
(cd "$TMPD" && "$FS38" inspect --pcap-out - "$ROOT/examples/scan-svmap.pcap" >"$TMPD/dash.out" 2>"$TMPD/err")
ok "--pcap-out - with the summary on stdout: refused, as /dev/stdout is" grep -q "the summary goes to that file" "$TMPD/err"
# nor is it an input: --pcap-out evidence.pcapng evidence.pcapng emptied the capture
cp "$ROOT/examples/scan-svmap.pcap" "$TMPD/in.pcap"
for o in --pcap-out --stats-json --esp-sa-out --events; do
    expect_exit 2 "$o naming an input: a usage error" "$FS38" inspect -q "$o" "$TMPD/in.pcap" "$TMPD/in.pcap"
    ok "...said" grep -qe "$o .*in.pcap: that file is an input" "$TMPD/err"
    ok "...the capture is left as it was" cmp -s "$ROOT/examples/scan-svmap.pcap" "$TMPD/in.pcap"
done
# ...nor the file stdin is redirected from ('-'): --pcap-out in.pcap - <in.pcap
# emptied it, read back its own new header, and said nothing (0 frames, exit 0)
for o in --pcap-out --stats-json --esp-sa-out; do
    expect_exit 2 "$o naming the file on stdin: a usage error" bash -c \
        "exec '$FS38' inspect -q $o '$TMPD/in.pcap' - <'$TMPD/in.pcap'"
    ok "...said" grep -qe "$o .*in.pcap: that file is an input" "$TMPD/err"
    ok "...the capture is left as it was" cmp -s "$ROOT/examples/scan-svmap.pcap" "$TMPD/in.pcap"
    cp "$ROOT/examples/scan-svmap.pcap" "$TMPD/in.pcap"
done

# --- write failures: nothing counted as written is missing, no line is cut -------------------------
# a file size limit (ulimit -f, in KiB) stands for a full disk: the write that
# crosses it is cut short, the next ones fail
expect_exit 2 "--events past the file size limit: exit 2" \
    bash -c "ulimit -f 8; exec '$FS38' inspect --events '$TMPD/lim.ndjson' '$TMPD/mixed.pcap'"
w=$(sed -nE 's/.*writing events to .*lim.ndjson: ([0-9]+) of ([0-9]+) written, ([0-9]+) lost \(File too large\)$/\1/p' "$TMPD/err")
ok "...named, with what was written and lost ($w)" test -n "$w"
ok "...the file holds those $w events, whole (the cut line was taken back)" ndjson_ok "$TMPD/lim.ndjson" "$w"
ok "...the summary says so" grep -q "appended to .*lim.ndjson: $w events, [0-9]* lost (File too large)" "$TMPD/out"
ok "...the warning came when it happened" grep -q "File too large: events are being lost ($w written)" "$TMPD/err"
"$FS38" inspect -q --events "$TMPD/lim.ndjson" "$TMPD/mixed.pcap" 2>"$TMPD/err"
ok "...a later run appends whole lines after them" ndjson_ok "$TMPD/lim.ndjson" $((w + n))
# a file that ends inside a line (an earlier run killed mid-write, another
# writer): the first event was glued to it, so neither line was JSON
printf '{"schema_version":"1.0","event_id":"cut' >"$TMPD/cut.ndjson"
"$FS38" inspect -q --events "$TMPD/cut.ndjson" "$TMPD/mixed.pcap" 2>"$TMPD/err"
ok "...an events file that ends inside a line: the first event starts a line of its own" \
    test "$(tail -n +2 "$TMPD/cut.ndjson" | jq -c .schema_version 2>/dev/null | grep -c '"1.0"')" -eq "$n"

expect_exit 2 "--events /dev/full" "$FS38" inspect -q --events /dev/full "$TMPD/mixed.pcap"
ok "...named with the reason" grep -q "writing events to /dev/full: 0 of $n written, $n lost (No space left on device)" "$TMPD/err"
expect_exit 2 "--json > /dev/full" bash -c "exec '$FS38' inspect --json '$TMPD/mixed.pcap' >/dev/full"
ok "...names stdout" grep -q "writing events to stdout: 0 of $n written, $n lost (No space left on device)" "$TMPD/err"
expect_exit 2 "summary > /dev/full" bash -c "exec '$FS38' inspect '$TMPD/mixed.pcap' >/dev/full"
ok "...names the summary" grep -q "writing the summary to stdout: No space left on device" "$TMPD/err"
ok "...not as events" bash -c "! grep -q 'events' '$TMPD/err'"

# stdout closed: what was meant for it fails, and lands in no file opened later
rm -f "$TMPD/c.ndjson"
expect_exit 2 "--json with stdout closed" bash -c "exec '$FS38' inspect --json --events '$TMPD/c.ndjson' \
    --stats-json '$TMPD/c.json' '$TMPD/mixed.pcap' >&-"
ok "...says so" grep -q "writing events to stdout: .*(Bad file descriptor)" "$TMPD/err"
ok "...--events holds each event once" ndjson_ok "$TMPD/c.ndjson" "$n"
ok "...--stats-json holds the statistics only" jq -e ".events == $n" "$TMPD/c.json" >/dev/null
expect_exit 2 "summary with stdout closed" bash -c "exec '$FS38' inspect --stats-json '$TMPD/c2.json' '$TMPD/mixed.pcap' >&-"
ok "...--stats-json is not overwritten by the summary" jq -e ".events == $n" "$TMPD/c2.json" >/dev/null

# stdout a pipe another program made non-blocking (O_NONBLOCK is shared by
# every process holding the pipe): a full pipe (EAGAIN) only delays events
ok "--json to a full non-blocking pipe: every event, whole, exit 0" python3 - "$FS38" "$TMPD/mixed.pcap" "$n" <<'PY'
import fcntl, os, subprocess, sys, time
fs38, pcap, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: one page, less than the events
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen([fs38, "inspect", "--json", pcap], stdout=w, stderr=subprocess.PIPE)
os.close(w)
time.sleep(1)  # nothing reads: the pipe fills
data = b""
while True:
    b = os.read(r, 65536)
    if not b: break
    data += b
err, rc = p.stderr.read(), p.wait()
lines = data.split(b"\n")
assert rc == 0 and not err, (rc, err)
assert lines.pop() == b"" and len(lines) == n, (len(lines), n)
assert all(l.startswith(b"{") and l.endswith(b"}") for l in lines)
PY

# a reader that leaves (| head -1): quiet, exit as usual
bash -o pipefail -c "'$FS38' inspect --json '$TMPD/mixed.pcap' 2>'$TMPD/err' | head -1 >'$TMPD/first'"
ok "--json | head -1: exit 0 (got $?)" test $? -eq 0
ok "...quiet" test ! -s "$TMPD/err"
ok "...the line it read is an event" ndjson_ok "$TMPD/first" 1
bash -o pipefail -c "'$FS38' inspect --json --fail-on info '$TMPD/mixed.pcap' 2>'$TMPD/err' | head -1 >/dev/null"
ok "--json --fail-on info | head -1: exit 1 as without head (got $?)" test $? -eq 1
# ...nor does it when --pcap-out wants the rest of the run (it kept the messages of
# the incidents before the reader left: 200 of 600 here)
python3 - "$ROOT/examples/flood-invite.pcap" "$TMPD/floods.pcap" <<'PY'
import struct, sys
src = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(src[:24])
    for k in range(3):  # three copies a day apart: each one's incidents close during the next
        off = 24
        while off < len(src):
            ts, us, cl, ol = struct.unpack_from("<IIII", src, off)
            f.write(struct.pack("<IIII", ts + k * 86400, us, cl, ol) + src[off + 16:off + 16 + cl])
            off += 16 + cl
PY
"$FS38" inspect -q -c /dev/null --pcap-out "$TMPD/all.pcapng" "$TMPD/floods.pcap"
bash -o pipefail -c "'$FS38' inspect --json -c /dev/null --pcap-out '$TMPD/head.pcapng' '$TMPD/floods.pcap' 2>'$TMPD/err' | head -1 >/dev/null"
ok "--json --pcap-out | head -1: exit 0 (got $?)" test $? -eq 0
ok "...--pcap-out holds every incident's messages all the same" is \
    "$(tshark -r "$TMPD/head.pcapng" 2>/dev/null | wc -l)" "$(tshark -r "$TMPD/all.pcapng" 2>/dev/null | wc -l)"
bash -o pipefail -c "'$FS38' inspect '$TMPD/mixed.pcap' 2>'$TMPD/err' | true" # gone before the summary
ok "summary | true: exit 0 (got $?)" test $? -eq 0
ok "...quiet" test ! -s "$TMPD/err"

# SIGINT cuts a file run short (exit 2) also when stdout's reader left
# before and the run went on for --events. The input is a FIFO fed with a
# capture whose first incident closes early, then left open: the run waits
# for more when the signal comes.
pcap_of "$TMPD/early.pcap" '[("127.0.2.8", "127.0.0.10", 1700000000 + i, req(b"x", i, b"OPTIONS", b"friendly-scanner"))
    for i in range(3)] + [("127.0.2.7", "127.0.0.10", 1700001000 + 50 * i, req(b"x", 100 + i, b"OPTIONS", b"friendly-scanner")) for i in range(20)]'
ok "SIGINT after stdout's reader left, --events: exit 2, interrupted" python3 - "$FS38" "$SITE" "$TMPD/early.pcap" "$TMPD" <<'PY'
import os, signal, subprocess, sys, time
fs38, site, pcap, tmpd = sys.argv[1:5]
fifo, events = os.path.join(tmpd, "in.fifo"), os.path.join(tmpd, "sig.ndjson")
os.mkfifo(fifo)
r, w = os.pipe()
os.close(r)  # stdout's reader is gone before the first event
p = subprocess.Popen([fs38, "inspect", "-c", site, "--json", "--events", events, fifo], stdout=w,
                     stderr=subprocess.PIPE)
os.close(w)
f = open(fifo, "wb")
f.write(open(pcap, "rb").read())
f.flush()
for _ in range(300):  # the early incident's event: written after stdout's EPIPE
    if os.path.exists(events) and os.path.getsize(events) > 0: break
    time.sleep(0.1)
assert os.path.getsize(events) > 0, "no event before the end of the input"
p.send_signal(signal.SIGINT)
time.sleep(0.5)
f.close()
err, rc = p.stderr.read().decode(), p.wait()
assert rc == 2 and "interrupted before the end of the input" in err, (rc, err)
PY

# --- the progress line: on a terminal only, never wider than it -------------------------------------
if command -v script >/dev/null; then
    long=$TMPD/$(printf 'd%.0s' {1..60})/$(printf 'e%.0s' {1..60})
    mkdir -p "$long"
    "$GEN" mixed "$long/big.pcap" 32 7 >/dev/null 2>&1
    # the sleep keeps the terminal open while script(1) drains it: under load it
    # could lose the last output of a child that had already exited
    script -qc "stty cols 80; '$FS38' inspect -q '$long/big.pcap'; sleep 0.3" /dev/null >"$TMPD/tty.txt"
    ok "progress on a terminal" grep -q "frames" "$TMPD/tty.txt"
    ok "...each update fits one 80-column line (\\r cannot redraw a wrapped one)" python3 -c "
import sys
parts = open('$TMPD/tty.txt', 'rb').read().replace(b'\n', b'\r').split(b'\r')
shown = [p for p in parts if b'frames' in p]
assert shown and all(len(p.decode()) < 80 for p in shown), [len(p) for p in shown]
assert all(b'...' in p and b'big.pcap' in p for p in shown), shown"
    ok "...and erased at the end" grep -q $'\r\e\[K' "$TMPD/tty.txt"
    # a narrow terminal (40 columns, the least the width is taken from): the
    # figures alone were 57 columns, wrapped, and each update added a line
    script -qc "stty cols 40; '$FS38' inspect -q '$long/big.pcap'; sleep 0.3" /dev/null >"$TMPD/tty40.txt"
    ok "...on 40 columns each update fits one line too" python3 -c "
parts = open('$TMPD/tty40.txt', 'rb').read().replace(b'\n', b'\r').split(b'\r')
shown = [p for p in parts if b'frames' in p]
assert shown and all(len(p.decode()) < 40 for p in shown), [len(p) for p in shown]"
    "$FS38" inspect -q "$long/big.pcap" 2>"$TMPD/err"
    ok "no progress when stderr is not a terminal" test ! -s "$TMPD/err"
    # a path longer than the 255 bytes the line keeps: its end is shown
    longer=$long/$(printf 'f%.0s' {1..200})
    mkdir -p "$longer" && ln -s "$long/big.pcap" "$longer/big.pcap"
    script -qc "stty cols 80; '$FS38' inspect -q '$longer/big.pcap'; sleep 0.3" /dev/null >"$TMPD/tty2.txt"
    ok "...a path of ${#longer} bytes: the file name is shown" python3 -c "
raw = open('$TMPD/tty2.txt', 'rb').read()
parts = raw.replace(b'\n', b'\r').split(b'\r')
shown = [p for p in parts if b'frames' in p]
assert shown and all(b'...' in p and b'/big.pcap' in p and len(p.decode()) < 80 for p in shown), (shown, raw[:400])"
    # a message in the middle of a file (events being lost) starts a line of its
    # own: it ran on after the progress line's figures ("... 0 incidents closed fs38
    # inspect: writing events to ...")
    python3 - "$TMPD/late.pcap" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp_c
scan = (b"OPTIONS sip:100@127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.2.8;branch=z9hG4bK1\r\n"
        b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        b"User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n")
ok = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.20;branch=z9hG4bK2\r\nFrom: <sip:a@x>;tag=1\r\n"
      b"To: <sip:b@y>;tag=2\r\nCall-ID: k\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
first = eth(ip4("127.0.2.8", "127.0.0.10", 17, udp_c("127.0.2.8", "127.0.0.10", 5060, 5060, scan)))
reply = eth(ip4("127.0.0.10", "127.0.0.20", 17, udp_c("127.0.0.10", "127.0.0.20", 5060, 5060, ok)))
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(75000):  # the scanner (after the first progress line) closes while the replies go on
        fr = first if i == 66000 else reply
        f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)
PY
    if [ -w /dev/full ]; then
        script -qc "stty cols 200; '$FS38' inspect -q -c /dev/null --events /dev/full '$TMPD/late.pcap'; sleep 0.3" \
            /dev/null >"$TMPD/tty3.txt"
        ok "...cleared before a message the run says as it goes" python3 -c "
parts = open('$TMPD/tty3.txt', 'rb').read().replace(b'\\n', b'\\r').split(b'\\r')
said = [p for p in parts if b'events are being lost' in p]
assert said and not [p for p in said if b'frames' in p], said"
    fi
    # --json on the terminal too: each event starts a line of its own, not after the figures
    script -qc "stty cols 200; '$FS38' inspect -c /dev/null --json '$TMPD/late.pcap'; sleep 0.3" /dev/null >"$TMPD/tty4.txt"
    ok "...cleared before an event --json writes to the terminal" python3 -c "
parts = open('$TMPD/tty4.txt', 'rb').read().replace(b'\\n', b'\\r').split(b'\\r')
events = [p for p in parts if b'schema_version' in p]
assert events and all(p.startswith(b'{') or p.startswith(b'\\x1b[K{') for p in events), events"
else
    echo "note: no script(1): the progress line on a terminal is not checked" >&2
fi

# --workers 2 reports what one worker does: a core proxy answering two
# clients, the first (in an untrusted zone of its own) first and last, the
# other 10 times between, each answer naming another Server version. The merged SIP-TOPO-001
# names the first message's zone, as its sample does, and SIP-INFO-001 the
# last message's version, not the larger share's.
cat >"$TMPD/shares.yaml" <<'YAML'
zones:
  core: {trust: core, networks: [10.0.0.0/8]}
  peers: {trust: untrusted, networks: [203.0.113.10/32]}
YAML
python3 - "$TMPD/shares.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp_c, write_pcap
frames = []
for i in range(12):
    ip = "203.0.113.10" if i in (0, 11) else "203.0.113.11"
    msg = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s:40000;branch=z9hG4bKs%d\r\n"
           "From: <sip:u@x.example>;tag=a%d\r\nTo: <sip:b@10.0.0.30>;tag=b%d\r\nCall-ID: s%d\r\n"
           "CSeq: 1 OPTIONS\r\nContact: <sip:b@10.0.0.31:5060>\r\nServer: kamailio (5.6.%d)\r\n"
           "Content-Length: 0\r\n\r\n" % (ip, i, i, i, i, i + 10)).encode()
    frames.append(eth(ip4("10.0.0.30", ip, 17, udp_c("10.0.0.30", ip, 5060, 40000, msg))))
write_pcap(sys.argv[1], frames)
PY
for w in 1 2; do
    "$FS38" inspect -c "$TMPD/shares.yaml" --workers $w --json "$TMPD/shares.pcap" 2>/dev/null | python3 -c '
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    d = e["evidence"]["details"]
    print(e["rule"]["id"], e["evidence"]["count"], e["evidence"]["sample"]["dst"], d.get("toward_zone", d.get("disclosed")))' |
        sort >"$TMPD/shares$w"
done
ok "one worker: the first message's zone, the last message's version" is "$(cat "$TMPD/shares1")" \
    "$(printf 'SIP-INFO-001 12 203.0.113.10:40000 kamailio (5.6.21)\nSIP-TOPO-001 12 203.0.113.10:40000 peers')"
ok "--workers 2 merges the shares into the same two events" is "$(cat "$TMPD/shares2")" "$(cat "$TMPD/shares1")"

finish test_output
