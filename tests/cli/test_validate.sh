#!/usr/bin/env bash
# fs38 validate: valid events pass, every invalid test event is refused with
# the field its MANIFEST.tsv names, exit codes.
source "$(dirname "$0")/lib.sh"
INV=$ROOT/tests/data/exchange/invalid

expect_exit 0 "validate --help" "$FS38" validate --help
ok "--help documents exit codes" grep -q "Exit codes" "$TMPD/out"

# what inspect writes is valid
"$FS38" inspect -c "$ROOT/examples/site.yaml" --json "$ROOT"/examples/*.pcap >"$TMPD/ev.ndjson"
ok "inspect wrote events" test -s "$TMPD/ev.ndjson"
expect_exit 0 "inspect's events validate" "$FS38" validate "$TMPD/ev.ndjson"
expect_exit 0 "from stdin" bash -c "'$FS38' validate < '$TMPD/ev.ndjson'"
expect_exit 0 "valid test events" "$FS38" validate "$ROOT"/tests/data/exchange/valid/*.json

# every invalid file: exit 1 and the named field
while IFS=$'\t' read -r file field _; do
    case $file in ''|\#*) continue ;; esac
    expect_exit 1 "$file is invalid" "$FS38" validate "$INV/$file"
    ok "$file: names $field" grep -qF -- ": $field: " "$TMPD/out"
done <"$INV/MANIFEST.tsv"

# an *_hmac value is base64url of a 32-byte HMAC-SHA256: a clear MSISDN there
# is refused (the hub refuses it too), naming the value
sed 's/"kind":"imsi_hmac","value":"[A-Z]*"/"kind":"msisdn_hmac","value":"+447700900123","key_id":"k1"/' \
    "$INV/hmac-no-key-id.json" >"$TMPD/hmac-clear.json"
expect_exit 1 "a clear MSISDN as msisdn_hmac" "$FS38" validate "$TMPD/hmac-clear.json"
ok "...names the value" grep -q "hmac-clear.json:1: observables\[2\].value: msisdn_hmac must be base64url" "$TMPD/out"
sed 's/"role":"victim"}/"role":"victim","key_id":"k1"}/' "$INV/hmac-no-key-id.json" >"$TMPD/hmac-ok.json"
expect_exit 0 "an HMAC as imsi_hmac" "$FS38" validate "$TMPD/hmac-ok.json"

# one bad line among good ones: only it is reported, with its line number
{ head -2 "$TMPD/ev.ndjson"; printf '{"schema_version":"1.0"}\n'; } >"$TMPD/mixed.ndjson"
expect_exit 1 "one bad line" "$FS38" validate "$TMPD/mixed.ndjson"
ok "bad line numbered" grep -q "mixed.ndjson:3: event_id" "$TMPD/out"
ok "good lines quiet" bash -c "! grep -q 'mixed.ndjson:[12]:' '$TMPD/out'"
# the problems cannot be written (a full disk): exit 2 and why, not a silent 1
if [ -w /dev/full ]; then
    expect_exit 2 "problems to a full device" bash -c "'$FS38' validate '$TMPD/mixed.ndjson' >/dev/full"
    ok "...says why" grep -q "^fs38 validate: writing the problems to stdout: No space left on device" "$TMPD/err"
    expect_exit 0 "valid events, nothing to write: 0 to a full device" \
        bash -c "'$FS38' validate '$TMPD/ev.ndjson' >/dev/full"
fi
# blank lines (empty, spaces, tabs, CRLF) are skipped, not events
{ printf '\n \t\r\n'; head -1 "$TMPD/ev.ndjson"; printf '\t\n\r\n'; head -1 "$TMPD/ev.ndjson"; } >"$TMPD/blank.ndjson"
expect_exit 0 "blank lines skipped" "$FS38" validate "$TMPD/blank.ndjson"
ok "...two events counted" grep -q "2 events, 0 invalid" "$TMPD/err"
# a pretty-printed event file that is no valid JSON (a comma too many on its
# last line) is one invalid event whose error is named at its line, not 13
# "invalid events", one per line, none saying why
sed 's/"handling":{"tlp":"amber"}}/"handling":{"tlp":"amber",}}/' \
    "$ROOT/tests/data/exchange/valid/spec-example.json" >"$TMPD/comma.json"
expect_exit 1 "a pretty event with a syntax error" "$FS38" validate "$TMPD/comma.json"
ok "...one event, one invalid" grep -q "1 event, 1 invalid" "$TMPD/err"
ok "...the error at its line and field" grep -q "^$TMPD/comma.json:13: \$: not valid JSON at byte [0-9]* (in handling): string or '}' expected" "$TMPD/out"
ok "...reported once" test "$(wc -l <"$TMPD/out")" -eq 1
# NDJSON whose first event was cut short after a comma is still NDJSON: the
# cut line is the one named, and the events after it are each checked (read
# as one document: "1 event, 1 invalid" at the valid line 2, line 3 unchecked)
{ head -1 "$TMPD/ev.ndjson" | sed 's/"status".*//'; head -1 "$TMPD/ev.ndjson"
  head -1 "$TMPD/ev.ndjson" | sed 's/"version":1,/"version":0,/'; } >"$TMPD/cut-first.ndjson"
expect_exit 1 "NDJSON with its first line cut" "$FS38" validate "$TMPD/cut-first.ndjson"
ok "...three events, two invalid" grep -q "3 events, 2 invalid" "$TMPD/err"
ok "...the cut line named" grep -q "^$TMPD/cut-first.ndjson:1: \$: not valid JSON" "$TMPD/out"
ok "...the valid line 2 not blamed" bash -c "! grep -q '^$TMPD/cut-first.ndjson:2:' '$TMPD/out'"
ok "...line 3 checked" grep -q "^$TMPD/cut-first.ndjson:3: version:" "$TMPD/out"
# ...while a hand-written event whose unindented observables lack a comma
# stays one event, its error at its line
python3 - "$ROOT/tests/data/exchange/valid/spec-example.json" >"$TMPD/nocomma.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
rest = {k: v for k, v in e.items() if k not in ("schema_version", "observables")}
print('{"schema_version":"1.0",\n"observables":[')
for o in e["observables"]:
    print(json.dumps(o, separators=(",", ":")))
print("],\n" + json.dumps(rest, separators=(",", ":"))[1:])
PY
expect_exit 1 "an event with observables lacking a comma" "$FS38" validate "$TMPD/nocomma.json"
ok "...one event, one invalid" grep -q "1 event, 1 invalid" "$TMPD/err"
ok "...the error at its line" grep -q "^$TMPD/nocomma.json:4: \$: not valid JSON" "$TMPD/out"
expect_exit 2 "missing file" "$FS38" validate "$TMPD/nope.ndjson"
# an unreadable input is named, and the inputs after it are still checked
expect_exit 2 "missing then good" "$FS38" validate "$TMPD/nope.ndjson" "$TMPD" "$TMPD/mixed.ndjson"
ok "the missing one is named" grep -q "nope.ndjson: No such file" "$TMPD/err"
ok "a directory is named as one" grep -q "Is a directory" "$TMPD/err"
ok "the good one was still checked" grep -q "mixed.ndjson:3: event_id" "$TMPD/out"
# a big input that is not one event is read as lines, never parsed whole
python3 -c "
import sys
sys.stdout.write('[' + '1,' * 400000 + '1]')" >"$TMPD/big.json"
expect_exit 1 "a 800 KB document is checked as a line" "$FS38" validate "$TMPD/big.json"
ok "over the event limit, named" grep -q "big.json:1:" "$TMPD/out"
# NDJSON is a stream: a line far over the event limit (300 MB, more than any
# buffer) is named with its length, and the lines after it are still checked
{ head -1 "$TMPD/ev.ndjson"; head -c 300000000 /dev/zero | tr '\0' x; echo; head -1 "$TMPD/ev.ndjson"; } |
    "$FS38" validate >"$TMPD/out" 2>"$TMPD/err"
ok "a 300 MB line: only it is invalid" grep -q "3 events, 1 invalid" "$TMPD/err"
ok "...named with its length" grep -q "^<stdin>:2: \$: is 300000000 bytes, at most 65536 allowed" "$TMPD/out"
# times RFC 3339 cannot write: a pcapng whose packets are stamped after the
# year 9999 (here 11476, and just below 2^64 us, where adding a TTL wrapped)
# gives events whose times are held to 9998-01-01 (detection's clock stops
# there, so that a TTL or a window added cannot pass 9999): still valid
for t in 300000000000000000 18446744073709000000; do
    python3 - "$ROOT/examples/scan-svmap.pcap" "$TMPD/far.pcapng" "$t" <<'PY'
import struct, sys
src, dst, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = open(src, 'rb').read()
assert struct.unpack('<I', d[:4])[0] == 0xa1b2c3d4
def blk(t, body):
    body += b'\0' * (-len(body) % 4)
    return struct.pack('<II', t, len(body) + 12) + body + struct.pack('<I', len(body) + 12)
out = blk(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1))
out += blk(1, struct.pack('<HHI', struct.unpack('<I', d[20:24])[0], 0, 65535))
o, i = 24, 0
while o < len(d):
    _, _, cl, ol = struct.unpack('<IIII', d[o:o + 16])
    t = t0 + i * 1000
    out += blk(6, struct.pack('<IIIII', 0, t >> 32, t & 0xffffffff, cl, ol) + d[o + 16:o + 16 + cl])
    o += 16 + cl; i += 1
open(dst, 'wb').write(out)
PY
    "$FS38" inspect --json "$TMPD/far.pcapng" >"$TMPD/far.ndjson" 2>/dev/null
    ok "far future ($t us): events raised" grep -q SIP-SCAN-001 "$TMPD/far.ndjson"
    expect_exit 0 "far future ($t us): the events validate" "$FS38" validate "$TMPD/far.ndjson"
    ok "far future ($t us): held to 9998-01-01, valid_until after it" \
        grep -q '"first_seen":"9998-01-01T00:00:00.000Z","last_seen":"9998-01-01T00:00:00.000Z","valid_until":"9998-01-01T01:00:00.000Z"' "$TMPD/far.ndjson"
done
ok "docs/events.md names the time far-future captures read as" grep -qF '`9998-01-01T00:00:00.000Z`' "$ROOT/docs/events.md"
finish test_validate
