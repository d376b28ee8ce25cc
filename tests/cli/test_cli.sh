#!/usr/bin/env bash
# The fs38 command line: help, usage errors, exit codes, corrupt and truncated
# inputs, output formats, --raw, stdin, --fail-on, --workers agreement.
source "$(dirname "$0")/lib.sh"
DATA=$ROOT/tests/data/rfc4475
GEN=${FS38_BUILD}/gen_pcap

# --- help and usage ---------------------------------------------------------------
expect_exit 0 "fs38 --help" "$FS38" --help
ok "--help lists inspect" grep -q inspect "$TMPD/out"
expect_exit 0 "inspect --help" "$FS38" inspect --help
ok "inspect --help documents --fail-on" grep -q -- '--fail-on' "$TMPD/out"
ok "inspect --help documents exit codes" grep -q 'Exit codes' "$TMPD/out"
for opt in --json --events --stats-json --workers --seed --bpf --hep --raw --config --interface --duration; do
    ok "inspect --help documents $opt" grep -q -- "$opt" "$TMPD/out"
done
expect_exit 0 "fs38 rules" "$FS38" rules
ok "rules lists SIP-SCAN-001" grep -q 'SIP-SCAN-001' "$TMPD/out"
expect_exit 2 "rules with an unknown option" "$FS38" rules --bogus
expect_exit 2 "rules with an argument" "$FS38" rules SIP-SCAN-001
ok "...named" grep -q "^fs38 rules: unexpected argument 'SIP-SCAN-001'" "$TMPD/err"
# a catalogue that cannot be written (a full disk) is not "listed": exit 2, and why
if [ -w /dev/full ]; then
    expect_exit 2 "rules --json to a full device" bash -c "'$FS38' rules -c /dev/null --json >/dev/full"
    ok "...says why" grep -q "^fs38 rules: writing to stdout: No space left on device" "$TMPD/err"
    expect_exit 2 "rules to a full device" bash -c "'$FS38' rules -c /dev/null >/dev/full"
fi
expect_exit 2 "validate with an unknown option" "$FS38" validate --bogus
ok "...named as an option, not a missing file" grep -q "^fs38 validate: unrecognized option '--bogus'" "$TMPD/err"
expect_exit 2 "an empty --config path" "$FS38" inspect -q -c "" "$ROOT/examples/benign.pcap"
ok "...says so" grep -q "empty path" "$TMPD/err"
expect_exit 0 "-c /dev/null: the built-in defaults" "$FS38" inspect -q -c /dev/null "$ROOT/examples/benign.pcap"
expect_exit 2 "no command" "$FS38"
expect_exit 2 "unknown command" "$FS38" frobnicate
expect_exit 2 "inspect without input" "$FS38" inspect
expect_exit 2 "unknown option" "$FS38" inspect --bogus x.pcap
ok "getopt's message names the subcommand" grep -q "^fs38 inspect: unrecognized option" "$TMPD/err"
expect_exit 2 "--raw without files" "$FS38" inspect --raw
ok "--raw without files names --raw" grep -q -- "--raw" "$TMPD/err"
expect_exit 2 "--stats-json into a missing dir" "$FS38" inspect -q --stats-json "$TMPD/no/dir.json" "$ROOT/tests/data/capture/mixed.pcap"
ok "--stats-json failure says why" grep -q "No such file" "$TMPD/err"
# ...before the run: with --json no event reaches stdout of a run that then exits 2
expect_exit 2 "--stats-json into a missing dir, --json" "$FS38" inspect --json --stats-json "$TMPD/no/dir.json" "$ROOT/tests/data/capture/mixed.pcap"
ok "...refused before any event is written" test ! -s "$TMPD/out"
expect_exit 0 "fs38 rules (INTEL-001)" "$FS38" rules
ok "INTEL-001 takes the shared event's type" grep -q "^INTEL-001 *on *(shared)" "$TMPD/out"
# rules with a config: the settings inspect would use, changes marked
printf 'rules:\n  SIP-SCAN-002: {threshold: 7, severity: high}\n  SIP-INFO-001: {enabled: false}\n' > "$TMPD/rules.yaml"
expect_exit 0 "rules -c FILE" "$FS38" rules -c "$TMPD/rules.yaml"
ok "...the threshold and severity set, marked" grep -q "^SIP-SCAN-002 *on  *high\* .* 7\* *60s " "$TMPD/out"
ok "...the rule switched off, marked" grep -q "^SIP-INFO-001 *off\* " "$TMPD/out"
ok "...an untouched rule unmarked" grep -q "^SIP-SCAN-001 *on  *high  " "$TMPD/out"
ok "...the last line names the config and counts the changes" grep -q "^settings: $TMPD/rules.yaml (\* = 3 values changed from the default)$" "$TMPD/out"
# an action, a ttl_s or a parameter changed has no column: not "every value the default"
printf 'rules:\n  SIP-MAL-001: {action: BLOCK_SOURCE, ttl_s: 5}\n  INTEL-001: {min_confidence: 50}\n' > "$TMPD/rules-unshown.yaml"
expect_exit 0 "rules -c FILE, changes without a column" "$FS38" rules -c "$TMPD/rules-unshown.yaml"
ok "...the last line counts them" grep -q "^settings: $TMPD/rules-unshown.yaml (no value in this table changed; 3 that it does not show did: see --json)$" "$TMPD/out"
expect_exit 0 "rules -c /dev/null" "$FS38" rules -c /dev/null
ok "...the built-in defaults" grep -q "^settings: the built-in defaults$" "$TMPD/out"
expect_exit 0 "rules --json" "$FS38" rules --json -c "$TMPD/rules.yaml"
ok "...one object per rule, as configured" python3 - "$TMPD/out" <<'EOF'
import json, sys
rules = {r["id"]: r for r in map(json.loads, open(sys.argv[1]))}
assert len(rules) > 20, len(rules)
s = rules["SIP-SCAN-002"]
assert (s["threshold"], s["severity"], s["enabled"], s["window_s"]) == (7, "high", True, 60), s
assert rules["SIP-INFO-001"]["enabled"] is False
assert rules["INTEL-001"]["event_type"] is None and rules["INTEL-001"]["severity"] is None
# its events carry the shared event's confidence and action, never the catalogue's
assert rules["INTEL-001"]["confidence"] is None and rules["INTEL-001"]["action"] is None, rules["INTEL-001"]
assert rules["SIP-SCAN-002"]["confidence"] == 75 and rules["SIP-SCAN-002"]["action"] == "BLOCK_SOURCE"
assert rules["SIP-PROTO-004"]["params"] == {"max_initial": 70}, rules["SIP-PROTO-004"]
for r in rules.values():
    assert set(r) == {"id", "name", "event_type", "domain", "severity", "confidence", "action", "threshold",
                      "window_s", "ttl_s", "enabled", "params"}, r
EOF
printf 'rules:\n  SIP-SCAN-02: {threshold: 7}\n' > "$TMPD/rules-bad.yaml"
expect_exit 2 "rules -c with a bad config" "$FS38" rules -c "$TMPD/rules-bad.yaml"
ok "...names the file and the rule" grep -q "^fs38 rules: config: .*rules-bad.yaml:2:3: .*SIP-SCAN-02" "$TMPD/err"
expect_exit 2 "bad --fail-on" "$FS38" inspect --fail-on severe x.pcap
ok "bad --fail-on names the value" grep -q "severe" "$TMPD/err"
expect_exit 2 "bad --workers" "$FS38" inspect --workers 0 x.pcap
ok "...names the option and the value" grep -q "^fs38 inspect: --workers '0': " "$TMPD/err"
expect_exit 2 "too many --workers" "$FS38" inspect --workers 99 x.pcap
expect_exit 2 "two input kinds" "$FS38" inspect -i lo --hep 127.0.0.1:9 x.pcap
expect_exit 2 "bad --hep address" "$FS38" inspect --hep nowhere --duration 1
ok "bad --hep is explained" grep -q "ADDR:PORT" "$TMPD/err"
# --metrics: a typo is a usage error before anything runs, as for --hep: it
# drew the "answers anyone" note first (live) or was not looked at (files: exit 0)
expect_exit 2 "bad --metrics address, files" "$FS38" inspect --metrics nowhere "$ROOT/examples/benign.pcap"
ok "bad --metrics is explained" grep -q "^fs38 inspect: --metrics 'nowhere': .*ADDR:PORT" "$TMPD/err"
expect_exit 2 "bad --metrics address, HEP" "$FS38" inspect -c /dev/null --hep 127.0.0.1:9 --metrics nowhere --duration 1
ok "...said alone, with no open-port note before it: $(head -1 "$TMPD/err")" \
    bash -c "test \$(wc -l <'$TMPD/err') -eq 1 && grep -q \"^fs38 inspect: --metrics 'nowhere'\" '$TMPD/err'"

# a file the config names that cannot be read is told by its config key, not
# by the option that was not given (it said "--tls-keylog:", "--esp-sa:")
printf 'capture:\n  tls_keylog: no-such.keys\n' >"$TMPD/cfg-keylog.yaml"
expect_exit 2 "capture.tls_keylog that does not exist" "$FS38" inspect -q -c "$TMPD/cfg-keylog.yaml" "$ROOT/examples/benign.pcap"
ok "...named by its key and config: $(head -1 "$TMPD/err")" grep -q "^fs38 inspect: capture.tls_keylog in .*cfg-keylog.yaml: .*no-such.keys" "$TMPD/err"
printf 'capture:\n  esp_sa: no-such.sa\n' >"$TMPD/cfg-esp.yaml"
expect_exit 2 "capture.esp_sa that does not exist" "$FS38" inspect -q -c "$TMPD/cfg-esp.yaml" "$ROOT/examples/benign.pcap"
ok "...named by its key and config: $(head -1 "$TMPD/err")" grep -q "^fs38 inspect: capture.esp_sa in .*cfg-esp.yaml: .*no-such.sa" "$TMPD/err"
expect_exit 2 "--tls-keylog that does not exist" "$FS38" inspect -q --tls-keylog "$TMPD/no-such.keys" "$ROOT/examples/benign.pcap"
ok "...named by the option" grep -q "^fs38 inspect: --tls-keylog: " "$TMPD/err"

# --- unreadable inputs --------------------------------------------------------------
expect_exit 2 "missing file" "$FS38" inspect "$TMPD/does-not-exist.pcap"
ok "missing file is named" grep -q "does-not-exist.pcap" "$TMPD/err"
printf 'this is not a capture file at all\n' >"$TMPD/junk.pcap"
expect_exit 2 "not a pcap" "$FS38" inspect "$TMPD/junk.pcap"
ok "not a pcap is named" grep -q "junk.pcap" "$TMPD/err"
# a file name is printed made printable, as the progress line prints it: one holding an
# escape sequence (`fs38 inspect uploads/*`) retitled the terminal through the error line
esc="$TMPD/$(printf 'a\033]0;pwned\007b').pcap"
cp "$TMPD/junk.pcap" "$esc"
expect_exit 2 "a file name with an escape sequence" "$FS38" inspect "$esc"
ok "...named with the escape shown as ?" grep -qF "a?]0;pwned?b.pcap" "$TMPD/err"
ok "...no control character reaches the terminal" is "$(tr -d '\n' <"$TMPD/err" | tr -d '[:print:]' | wc -c)" 0
rm -f "$esc"
: >"$TMPD/empty.pcap"
expect_exit 2 "empty file" "$FS38" inspect "$TMPD/empty.pcap"
ok "...named as empty (libpcap said 'truncated dump file')" grep -q "empty.pcap: empty file (0 bytes), not a capture" "$TMPD/err"
printf 'rules: {SIP-NOPE-999: {enabled: false}}\n' >"$TMPD/bad.yaml"
expect_exit 2 "bad config" "$FS38" inspect -c "$TMPD/bad.yaml" "$TMPD/junk.pcap"
ok "bad config names the key" grep -q "SIP-NOPE-999" "$TMPD/err"

# --- a generated capture: a scanner, a flood, benign calls -------------------------------
"$GEN" mixed "$TMPD/mixed.pcap" 2 7 >/dev/null 2>&1
ok "generator made a capture" test -s "$TMPD/mixed.pcap"
expect_exit 0 "inspect a capture" "$FS38" inspect --no-progress "$TMPD/mixed.pcap"
ok "summary has incidents" grep -q '^INCIDENTS' "$TMPD/out"
ok "summary has messages" grep -q '^MESSAGES' "$TMPD/out"
ok "summary has top talkers" grep -q '^TOP TALKERS' "$TMPD/out"
# The summary's top talkers add up the workers' figures: every worker's share
# of one incident counted it for the talker, where --json reports one merged
# incident (svmap's scan, sharded by target with sip_ports [5060]: 127.0.2.5
# had 3 incidents with 2 workers, 4 with 3, for the 2 of --json).
for w in 1 2 3; do
    "$FS38" inspect -c "$ROOT/examples/site.yaml" --workers $w "$ROOT/examples/scan-svmap.pcap" |
        sed -n '/^TOP TALKERS/,/^$/p' | awk '$1 == "127.0.2.5" {print $(NF-1)}'
done >"$TMPD/talk.out"
ok "top talkers: 127.0.2.5 has the 2 incidents of --json with 1, 2 and 3 workers ($(tr '\n' ' ' <"$TMPD/talk.out"))" \
    test "$(tr '\n' ' ' <"$TMPD/talk.out")" = '2 2 2 ' -a \
    "$("$FS38" inspect --json -c "$ROOT/examples/site.yaml" "$ROOT/examples/scan-svmap.pcap" | jq -s 'length')" = 2
ok "scanner found" grep -q 'SIP-SCAN-00' "$TMPD/out"
# ...and rank the sums, not each worker's busiest: a PBX's 50 OPTIONS to 12
# UAs on port 40000 (sharded by UA: about 25 per worker with 2) lead 20
# clients' 30 each (about 10 per worker), though no worker has the PBX among
# its own five (it was left out of TOP TALKERS with 2 and 3 workers)
python3 - "$TMPD/pbx.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import ip4, eth, udp_c, write_pcap
def opt(n, uri):
    return ('OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/UDP x:5060;branch=z9hG4bK%d\r\nMax-Forwards: 70\r\n'
            'From: <sip:a@x>;tag=%d\r\nTo: <%s>\r\nCall-ID: t%d@x\r\nCSeq: 1 OPTIONS\r\n'
            'Content-Length: 0\r\n\r\n' % (uri, n, n, uri, n)).encode()
pbx, f = '10.0.0.100', []
for i in range(30):
    for s in range(20):
        src = '10.0.2.%d' % (s + 1)
        f.append(eth(ip4(src, pbx, 17, udp_c(src, pbx, 5060, 5060, opt(len(f), 'sip:pbx@' + pbx)))))
    for k in range(2 if i < 25 else 0):
        ua = '10.0.1.%d' % ((i * 2 + k) % 12 + 1)
        f.append(eth(ip4(pbx, ua, 17, udp_c(pbx, ua, 5060, 40000, opt(len(f), 'sip:ua@%s:40000' % ua)))))
write_pcap(sys.argv[1], f)
PY
for w in 1 2 3; do
    "$FS38" inspect -c /dev/null --workers $w "$TMPD/pbx.pcap" | sed -n '/^TOP TALKERS/{n;p}'
done >"$TMPD/pbx.out"
ok "top talkers: the PBX's 50 requests lead with 1, 2 and 3 workers ($(awk '{print $1, $2}' "$TMPD/pbx.out" | tr '\n' ' '))" \
    test "$(awk '{print $1, $2}' "$TMPD/pbx.out" | tr '\n' ' ')" = '10.0.0.100 50 10.0.0.100 50 10.0.0.100 50 '

expect_exit 0 "--json" "$FS38" inspect --json --stats-json "$TMPD/st1.json" "$TMPD/mixed.pcap"
cp "$TMPD/out" "$TMPD/ev1.ndjson"
ok "--json prints events" test -s "$TMPD/ev1.ndjson"
ok "--json prints no summary" bash -c "! grep -q '^INCIDENTS' '$TMPD/ev1.ndjson'"
ok "every line is a 1.0 event" python3 - "$TMPD/ev1.ndjson" <<'EOF'
import json, sys
req = ["schema_version","event_id","version","status","issuer","created","first_seen","last_seen",
       "valid_until","event_type","domain","severity","confidence","rule","observables","evidence",
       "recommended_action","handling"]
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert e["schema_version"] == "1.0", e
    for k in req: assert k in e, (k, e)
    assert e["observables"], e
    assert set(e["evidence"]) >= {"count","window_s","sample","details"}, e
EOF
ok "stats JSON counts messages" python3 -c "
import json,sys; s=json.load(open('$TMPD/st1.json'))
assert s['sip_messages'] > 1000 and s['requests'] > 0 and s['responses'] > 0, s
assert s['events'] == sum(s['events_by_rule'].values())"

# CRLF keep-alives (RFC 5626 4.4.1: a "\r\n\r\n" ping, a "\r\n" pong) are
# counted in stats "keepalives", over UDP and between messages on TCP, with 1
# worker and 2 (the decoder passes them over before the parser sees them)
python3 - "$TMPD/ka.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import ip4, eth, udp_c, tcp_c, write_pcap
c, s = '192.0.2.1', '192.0.2.2'
opt = ('OPTIONS sip:s@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:40000;branch=z9hG4bKka\r\n'
       'From: <sip:c@192.0.2.1>;tag=1\r\nTo: <sip:s@192.0.2.2>\r\nCall-ID: ka@x\r\nCSeq: 1 OPTIONS\r\n'
       'Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n').encode()
f = [eth(ip4(c, s, 17, udp_c(c, s, 40000, 5060, b'\r\n\r\n'))),
     eth(ip4(s, c, 17, udp_c(s, c, 5060, 40000, b'\r\n'))),
     eth(ip4(c, s, 6, tcp_c(c, s, 40001, 5060, 1000, 0x02, b''))),
     eth(ip4(c, s, 6, tcp_c(c, s, 40001, 5060, 1001, 0x18, opt + b'\r\n\r\n'))),
     eth(ip4(c, s, 6, tcp_c(c, s, 40001, 5060, 1001 + len(opt) + 4, 0x18, b'\r\n\r\n' + opt)))]
write_pcap(sys.argv[1], f)
PY
for w in 1 2; do
    "$FS38" inspect -q -c /dev/null --workers $w --stats-json "$TMPD/ka$w.json" "$TMPD/ka.pcap"
    ok "CRLF keep-alives counted, --workers $w" python3 -c "
import json; s = json.load(open('$TMPD/ka$w.json'))
assert s['keepalives'] == 4 and s['sip_messages'] == 2 and s['not_sip'] == 0, (s['keepalives'], s['sip_messages'])"
done

# same input through stdin
expect_exit 0 "stdin" bash -c "cat '$TMPD/mixed.pcap' | '$FS38' inspect --json --stats-json '$TMPD/st2.json' -"
ok "stdin finds the same rules" python3 -c "
import json; a=json.load(open('$TMPD/st1.json')); b=json.load(open('$TMPD/st2.json'))
assert a['events_by_rule']==b['events_by_rule'] and a['sip_messages']==b['sip_messages'], (a['events_by_rule'], b['events_by_rule'])"

# SIGTERM ends a run reading a pipe whose writer is idle at once, as
# docs/operations.md says ("SIGINT/SIGTERM stop reading"): the read was
# restarted after the signal and the run waited for the writer to close
# (`tail -f`, a tcpdump on a quiet link). Before the first bytes, with the
# frames read so far, and gzip-compressed: each within 2 s of the signal.
mkfifo "$TMPD/pipe"
for form in none plain gzip; do
    case $form in
    none) { exec sleep 8; } >"$TMPD/pipe" & ;;
    plain) { cat "$ROOT/examples/benign.pcap"; exec sleep 8; } >"$TMPD/pipe" & ;;
    gzip) { gzip -c "$ROOT/examples/benign.pcap"; exec sleep 8; } >"$TMPD/pipe" & ;;
    esac
    writer=$!
    "$FS38" inspect -q --stats-json "$TMPD/pipe-$form.json" - <"$TMPD/pipe" 2>"$TMPD/pipe.err" &
    reader=$!
    sleep 1.5
    kill -TERM "$reader"
    t0=$SECONDS
    for _ in $(seq 40); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
    ended=$((SECONDS - t0))
    wait "$reader"
    rc=$?
    kill "$writer" 2>/dev/null
    wait "$writer" 2>/dev/null
    ok "SIGTERM on a run reading an idle pipe ($form): exit $rc within 2 s (took ${ended} s)" \
        test "$rc" -eq 2 -a "$ended" -le 2
    ok "...says it was interrupted" grep -q "interrupted" "$TMPD/pipe.err"
done
ok "...the frames read before the signal are inspected (plain)" \
    is "$(jq .sip_messages "$TMPD/pipe-plain.json" 2>/dev/null)" 85
rm -f "$TMPD/pipe"

# gzip-compressed, from a file and from stdin: the same events; other
# compressions are named with the command that decompresses them
gzip -c "$TMPD/mixed.pcap" > "$TMPD/mixed.pcap.gz"
expect_exit 0 "a .pcap.gz" "$FS38" inspect --json --stats-json "$TMPD/st4.json" "$TMPD/mixed.pcap.gz"
expect_exit 2 "'-' twice: stdin is read once" bash -c "'$FS38' inspect -q - - < '$TMPD/mixed.pcap.gz'"
ok "...said before anything is read" is "$(cat "$TMPD/err")" "fs38 inspect: '-' (stdin) given twice: it can be read once"
expect_exit 0 "a .pcap.gz on stdin" bash -c "'$FS38' inspect --json --stats-json '$TMPD/st5.json' - < '$TMPD/mixed.pcap.gz'"
ok "gzip finds the same rules" python3 -c "
import json; a=json.load(open('$TMPD/st1.json'))
for f in ('st4', 'st5'):
    b=json.load(open('$TMPD/%s.json' % f))
    assert a['events_by_rule']==b['events_by_rule'] and a['sip_messages']==b['sip_messages'], (f, b)"
head -c 5000 "$TMPD/mixed.pcap.gz" > "$TMPD/cut.pcap.gz"
expect_exit 0 "a cut .pcap.gz: what could be read" "$FS38" inspect -q "$TMPD/cut.pcap.gz"
ok "a cut .pcap.gz: the warning says so" grep -q "warning: .*cut.pcap.gz: frame [0-9]*: gzip: the compressed data ends early" "$TMPD/err"
printf '\xfd7zXZ\0\0\x04' > "$TMPD/x.pcap.xz"
expect_exit 2 "an xz file" "$FS38" inspect -q "$TMPD/x.pcap.xz"
ok "an xz file: named, with the way out" grep -q "xz-compressed: .*xz -dc FILE | fs38 inspect -" "$TMPD/err"

# two workers agree with one on messages and on which rules fire
expect_exit 0 "--workers 2" "$FS38" inspect --json --workers 2 --stats-json "$TMPD/st3.json" "$TMPD/mixed.pcap"
ok "--workers 2 agrees" python3 -c "
import json; a=json.load(open('$TMPD/st1.json')); b=json.load(open('$TMPD/st3.json'))
assert a['sip_messages']==b['sip_messages'], (a['sip_messages'], b['sip_messages'])
assert set(a['events_by_rule'])==set(b['events_by_rule']), (a['events_by_rule'], b['events_by_rule'])"

# Two workers report what one reports. Every example (incidents per rule), and
# SIP-FLOOD-002 toward the generator's carrier trunks: each trunk is one flow,
# so all of a destination's requests land on one worker. Counting a share
# against threshold/N flagged every trunk at 500 (what one worker never
# does); the workers now add their counts up (det_shared.c). At 300 the
# trunks do cross the threshold, and both runs must say so with equal counts.
for f in "$ROOT"/examples/*.pcap; do
    for w in 1 2; do
        "$FS38" inspect -q -c "$ROOT/examples/site.yaml" --workers $w --stats-json "$TMPD/ex$w.json" "$f"
    done
    ok "--workers 2 reports what 1 does: $(basename "$f")" python3 -c "
import json; a=json.load(open('$TMPD/ex1.json')); b=json.load(open('$TMPD/ex2.json'))
assert a['events_by_rule']==b['events_by_rule'] and a['sip_messages']==b['sip_messages'], (a['events_by_rule'], b['events_by_rule'])"
done
"$GEN" mixed "$TMPD/trunks.pcap" 16 7 >/dev/null 2>&1
for t in 500 300; do
    printf 'rules:\n  SIP-FLOOD-002:\n    threshold: %d\n' $t >"$TMPD/dest$t.yaml"
    for w in 1 2; do
        "$FS38" inspect --json -c "$TMPD/dest$t.yaml" --workers $w "$TMPD/trunks.pcap" |
            jq -c 'select(.rule.id == "SIP-FLOOD-002") | [.observables[0].value, .evidence.count]' |
            sort >"$TMPD/dest$t-w$w"
    done
    ok "SIP-FLOOD-002 at $t: the same targets and counts with 2 workers" cmp -s "$TMPD/dest$t-w1" "$TMPD/dest$t-w2"
done
ok "SIP-FLOOD-002 at 500: only the flooded server" test "$(cat "$TMPD/dest500-w1")" = '["192.0.2.10",'"$(jq -r .[1] <"$TMPD/dest500-w1")"']'
ok "SIP-FLOOD-002 at 300: the trunks too" test "$(wc -l <"$TMPD/dest300-w1")" -ge 8
# svmap's probes with sip_ports [5060] are sharded by target: SIP-SCAN-001's
# distinct_targets, like SIP-SCAN-002's, is each share's part of the targets;
# the merge kept the larger share's (47 of 62 with 2 workers, 43 with 3).
for w in 1 2 3; do
    "$FS38" inspect --json -c "$ROOT/examples/site.yaml" --seed 0123456789abcdef --workers $w "$ROOT/examples/scan-svmap.pcap" |
        jq -c 'select(.rule.id == "SIP-SCAN-001") | [.evidence.count, .evidence.details.distinct_targets]'
done >"$TMPD/svmap001.out"
ok "SIP-SCAN-001 of svmap sharded by target: 62 distinct targets with 1, 2 and 3 workers ($(tr '\n' ' ' <"$TMPD/svmap001.out"))" \
    test "$(sort -u "$TMPD/svmap001.out" | tr '\n' ' ')" = '[62,62] '
# SIP-FLOOD-002 at 130 REGISTERs a second for 30 s toward one registrar from 300
# sources (1300 a window, threshold 1000), the flows spread over both workers: a
# worker that went on to the next window while the sum of the last was still under
# the threshold never reported its share of it (the other, a batch behind, took the
# sum over): counts of 2860 or 3380 in place of 3900, an incident split in two
python3 - "$TMPD/reg130.pcap" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import ip4, eth, udp_c
out = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
for i in range(3900):
    t = 1700000000 * 10**6 + i * 10**6 // 130
    src = '198.51.%d.%d' % (100 + i % 3, 1 + i % 100)
    msg = ('REGISTER sip:192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bKr%d\r\nMax-Forwards: 70\r\n'
           'From: <sip:u%d@192.0.2.10>;tag=r%d\r\nTo: <sip:u%d@192.0.2.10>\r\nCall-ID: r%d@x\r\n'
           'CSeq: 1 REGISTER\r\nContact: <sip:u%d@%s:5070>\r\nContent-Length: 0\r\n\r\n'
           % (src, i, i, i, i, i, i, src)).encode()
    f = eth(ip4(src, '192.0.2.10', 17, udp_c(src, '192.0.2.10', 5070, 5060, msg)))
    out.append(struct.pack('<IIII', t // 10**6, t % 10**6, len(f), len(f)) + f)
open(sys.argv[1], 'wb').write(b''.join(out))
PY
for w in 1 2 2 2 2; do
    "$FS38" inspect --json -c /dev/null --workers $w "$TMPD/reg130.pcap" |
        jq -c 'select(.rule.id == "SIP-FLOOD-002") | [.observables[0].value, .evidence.count]'
    echo
done >"$TMPD/reg130.out"
ok "SIP-FLOOD-002 at 1300 a window: 3900 counted in one incident by 1 worker and by 2, every run ($(tr '\n' ' ' <"$TMPD/reg130.out"))" \
    test "$(sort -u "$TMPD/reg130.out" | tr '\n' ' ')" = ' ["192.0.2.10",3900] '
# Eight hosts flood one server for 20 s, each half from an ephemeral port to 5060
# (sharded by the host) and half from 5060 to 5090, not a SIP port (sharded by
# the server): each host's requests reach two workers. SIP-FLOOD-002's
# distinct_sources added the shares' senders up: 14 with 2 workers, 16 with 3.
python3 - "$TMPD/split8.pcap" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import ip4, eth, udp_c
out = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
for i in range(1600):
    t, h = 1700000000 * 10**6 + i * 12500, i % 8
    src = '203.0.113.%d' % (10 + h)
    sp, dp = (40000 + h, 5060) if (i // 8) % 2 else (5060, 5090)
    msg = ('OPTIONS sip:192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKo%d\r\nMax-Forwards: 70\r\n'
           'From: <sip:u@%s>;tag=f%d\r\nTo: <sip:192.0.2.10>\r\nCall-ID: o%d@x\r\nCSeq: 1 OPTIONS\r\n'
           'Content-Length: 0\r\n\r\n' % (src, sp, i, src, i, i)).encode()
    f = eth(ip4(src, '192.0.2.10', 17, udp_c(src, '192.0.2.10', sp, dp, msg)))
    out.append(struct.pack('<IIII', t // 10**6, t % 10**6, len(f), len(f)) + f)
open(sys.argv[1], 'wb').write(b''.join(out))
PY
printf 'capture:\n  heuristic: true\nrules:\n  SIP-FLOOD-002:\n    threshold: 500\n' >"$TMPD/split8.yaml"
for w in 1 2 3; do
    "$FS38" inspect --json -c "$TMPD/split8.yaml" --workers $w "$TMPD/split8.pcap" |
        jq -c 'select(.rule.id == "SIP-FLOOD-002") | [.evidence.count, .evidence.details.distinct_sources]'
done >"$TMPD/split8.out"
ok "SIP-FLOOD-002 from 8 hosts each on two workers: 8 distinct sources with 1, 2 and 3 workers ($(tr '\n' ' ' <"$TMPD/split8.out"))" \
    test "$(sort -u "$TMPD/split8.out" | tr '\n' ' ')" = '[1600,8] '
# 1000 spoofed sources, 4000 requests: each worker's share of the senders is
# an estimate (linear counting above 23); their union is the sketch one
# engine fills, the same estimate, but it was capped by the sum of the
# shares' estimates (under it: 992 with 2 workers, 987 with 3, for 1046)
"$GEN" flood "$TMPD/spoofed.pcap" 4000 1000 5 >/dev/null 2>&1
for w in 1 2 3; do
    "$FS38" inspect --json -c "$TMPD/split8.yaml" --seed 0123456789abcdef --workers $w "$TMPD/spoofed.pcap" |
        jq -c 'select(.rule.id == "SIP-FLOOD-002") | [.evidence.count, .evidence.details.distinct_sources]'
done >"$TMPD/spoofed.out"
ok "SIP-FLOOD-002 from 1000 sources: the distinct_sources of 1 worker with 2 and 3 ($(tr '\n' ' ' <"$TMPD/spoofed.out"))" \
    test "$(sort -u "$TMPD/spoofed.out" | wc -l)" -eq 1 -a "$(wc -l <"$TMPD/spoofed.out")" -eq 3
# One caller's calls from four addresses (a caller behind several trunks),
# so from both workers, which count them into the shared callers table out
# of capture order: 80 calls in 80 s to 12 numbers of +881. FRAUD-VOL-001
# and FRAUD-IRSF-001 must report the same counts, details, times and source
# (the window's first call's) with 2 workers as with 1, every run. They kept
# the details of one share (distinct_numbers 6 for 12, calls 40 for 80) and
# lost the last calls another worker counted before the crossing (last_seen).
# callers_pcap OUT NCALLS NSRC STEP_S: one caller's NCALLS calls, STEP_S apart, from NSRC addresses
callers_pcap() {
python3 - "$1" "$ROOT/tests/data/capture" "$2" "$3" "$4" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
ncalls, nsrc, step = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
from pcapgen import ip4, eth, udp_c
out = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
def add(t, src, dst, sp, dp, m):
    f = eth(ip4(src, dst, 17, udp_c(src, dst, sp, dp, m.encode())))
    out.append(struct.pack('<IIII', t // 10**6, t % 10**6, len(f), len(f)) + f)
for i in range(ncalls):
    t, src, callee = (1700000000 + i * step) * 10**6, '198.51.100.%d' % (1 + i % nsrc), '+88163%07d' % (i % 12)
    h = ('Via: SIP/2.0/UDP %s:5070;branch=z9hG4bKc%d\r\nFrom: <sip:+441234567890@%s>;tag=f%d\r\n'
         'To: <sip:%s@192.0.2.10>%%s\r\nCall-ID: c%d\r\nCSeq: 1 INVITE\r\n' % (src, i, src, i, callee, i))
    add(t, src, '192.0.2.10', 5070, 5060, 'INVITE sip:%s@192.0.2.10 SIP/2.0\r\n%sMax-Forwards: 70\r\n'
        'Contact: <sip:+441234567890@%s:5070>\r\nContent-Length: 0\r\n\r\n' % (callee, h % '', src))
    add(t + 200000, '192.0.2.10', src, 5060, 5070, 'SIP/2.0 486 Busy Here\r\n%sContent-Length: 0\r\n\r\n' % (h % ';tag=t'))
open(sys.argv[1], 'wb').write(b''.join(out))
PY
}
callers_pcap "$TMPD/caller4.pcap" 80 4 1
for w in 1 2 2 2 2; do
    "$FS38" inspect --json -c "$ROOT/examples/site.yaml" --workers $w "$TMPD/caller4.pcap" |
        jq -S -c 'select(.rule.id == "FRAUD-VOL-001" or .rule.id == "FRAUD-IRSF-001") |
            [.rule.id, .evidence.count, .evidence.details.calls, .evidence.details.distinct_numbers,
             .first_seen, .last_seen, .observables]' | sort | tr '\n' ' '
    echo
done >"$TMPD/caller4.out"
ok "a caller from 4 addresses: FRAUD-VOL-001 and FRAUD-IRSF-001 alike with 1 worker and 2, every run" \
    test "$(sort -u "$TMPD/caller4.out" | wc -l)" -eq 1 -a "$(grep -c 'FRAUD-IRSF-001",80,80,12,.*14:39' "$TMPD/caller4.out")" -eq 5
# The same caller's 100 calls 10 s apart from 2 addresses: a sparse capture (60 KB) whose
# batches reached the second worker only at its end, after worker 0 had run through every
# window of the caller's shared counters: FRAUD-VOL-001 was missed with 2 workers. Batches
# span at most a second of capture time, and no worker falls 2 s behind.
# At 12 s apart (FRAUD-IRSF-001 alone) the worker a few calls behind split the incident
# in three on some runs.
for step in 10 12; do
    callers_pcap "$TMPD/sparse$step.pcap" 100 2 $step
    for w in 1 2 2 2 2; do
        "$FS38" inspect --json -c "$ROOT/examples/site.yaml" --seed 0123456789abcdef --workers $w "$TMPD/sparse$step.pcap" |
            jq -S -c 'select(.rule.id == "FRAUD-VOL-001" or .rule.id == "FRAUD-IRSF-001") |
                [.rule.id, .evidence.count, .evidence.details.calls, .evidence.details.distinct_numbers,
                 .first_seen, .last_seen]' | sort | tr '\n' ' '
        echo
    done >"$TMPD/sparse$step.out"
done
ok "a caller's calls over 17 and 20 minutes: FRAUD-VOL-001 and FRAUD-IRSF-001 alike with 1 worker and 2, every run" \
    test "$(sort -u "$TMPD/sparse10.out" | wc -l) $(sort -u "$TMPD/sparse12.out" | wc -l)" = "1 1" -a \
    "$(grep -c 'FRAUD-VOL-001",60,60' "$TMPD/sparse10.out") $(grep -c 'FRAUD-IRSF-001",100,50,12' "$TMPD/sparse12.out")" = "5 5"

# --bpf on files: libpcap's filter, so the same frames as tcpdump's; only that
# host's incidents.
expect_exit 0 "--bpf on a file" "$FS38" inspect --json --bpf 'host 203.0.113.66' \
    --stats-json "$TMPD/bpf.json" "$TMPD/mixed.pcap"
want=$(tcpdump -nr "$TMPD/mixed.pcap" 'host 203.0.113.66' 2>/dev/null | wc -l)
ok "--bpf passes the frames tcpdump passes ($want)" test "$(jq .frames "$TMPD/bpf.json")" -eq "$want" -a "$want" -gt 0
ok "--bpf: incidents of that host only" bash -c "test -s '$TMPD/out' &&
    ! jq -r '.observables[] | select(.role == \"source\") | .value' '$TMPD/out' | grep -vqx 203.0.113.66"
expect_exit 2 "bad --bpf" "$FS38" inspect --bpf 'hots 192.0.2.1' "$TMPD/mixed.pcap"
ok "bad --bpf names the filter" grep -q "hots 192.0.2.1" "$TMPD/err"
expect_exit 2 "--bpf with --raw" "$FS38" inspect --bpf udp --raw "$DATA/badvers.dat"

# --seed repeats a run exactly. Tiny state tables make the report depend on the
# seed (which entries a full bucket evicts, which bits a sketch sets), so a seed
# that is not applied shows as a different report.
printf 'state:\n  max_sources: 64\n  max_dialogs: 64\n' >"$TMPD/tiny.yaml"
strip_ids() { jq -S -c 'del(.event_id, .created)' "$1" | sort; }
"$FS38" inspect --json -c "$TMPD/tiny.yaml" --stats-json "$TMPD/seed1.json" "$TMPD/mixed.pcap" >"$TMPD/seed1.ndjson"
seed=$(jq -r .seed "$TMPD/seed1.json")
ok "--stats-json records the seed ($seed)" grep -Eq '^[0-9a-f]{16}$' <<<"$seed"
expect_exit 0 "--seed from an earlier run" "$FS38" inspect --json -c "$TMPD/tiny.yaml" --seed "$seed" \
    --stats-json "$TMPD/seed2.json" "$TMPD/mixed.pcap"
ok "--seed gives that run's report again" cmp -s <(strip_ids "$TMPD/seed1.ndjson") <(strip_ids "$TMPD/out")
ok "--seed gives that run's statistics again" cmp -s <(jq -S 'del(.seconds, .written)' "$TMPD/seed1.json") \
    <(jq -S 'del(.seconds, .written)' "$TMPD/seed2.json")
"$FS38" inspect -q -c "$TMPD/tiny.yaml" --stats-json "$TMPD/seed3.json" "$TMPD/mixed.pcap"
ok "without --seed each run draws its own" test "$(jq -r .seed "$TMPD/seed3.json")" != "$seed"
expect_exit 2 "bad --seed" "$FS38" inspect --seed 12345678901234567 "$TMPD/mixed.pcap"
ok "bad --seed is explained" grep -q "hexadecimal" "$TMPD/err"

# --fail-on
expect_exit 1 "--fail-on info with events" "$FS38" inspect -q --fail-on info "$TMPD/mixed.pcap"
expect_exit 0 "--fail-on critical without critical events" "$FS38" inspect -q --fail-on critical --config "$ROOT/tests/data/cli/quiet.yaml" "$TMPD/mixed.pcap"

# --events appends
"$FS38" inspect -q --events "$TMPD/ev.ndjson" "$TMPD/mixed.pcap"
n1=$(wc -l <"$TMPD/ev.ndjson")
"$FS38" inspect -q --events "$TMPD/ev.ndjson" "$TMPD/mixed.pcap"
n2=$(wc -l <"$TMPD/ev.ndjson")
ok "--events appends ($n1 then $n2)" test "$n1" -gt 0 -a "$n2" -eq $((2 * n1))

# --- truncated capture: inspected up to the break, a warning, exit 0 -----------------------
size=$(stat -c %s "$TMPD/mixed.pcap")
head -c $((size / 2 + 7)) "$TMPD/mixed.pcap" >"$TMPD/cut.pcap"
expect_exit 0 "truncated capture" "$FS38" inspect -q --stats-json "$TMPD/cut.json" "$TMPD/cut.pcap"
ok "truncated capture warns" grep -qi "warning" "$TMPD/err"
ok "truncated capture still inspected" python3 -c "
import json; s=json.load(open('$TMPD/cut.json')); assert s['sip_messages'] > 100, s['sip_messages']"
# ...with a --bpf none of the frames before the break matches: the file was read up to
# the break all the same (exit 0), and the warning names the frame it broke at in the
# file, as without the filter (not the count of frames the filter passed)
broke_at=$(grep -o "frame [0-9]*:" "$TMPD/err")
expect_exit 0 "truncated capture, --bpf matching nothing" "$FS38" inspect -q --bpf 'port 1' "$TMPD/cut.pcap"
ok "...the warning names the frame it broke at ($broke_at)" grep -q "warning: .*cut.pcap: $broke_at" "$TMPD/err"
expect_exit 0 "truncated capture, --bpf matching some" "$FS38" inspect -q --bpf 'host 203.0.113.66' "$TMPD/cut.pcap"
ok "...the warning names the frame it broke at ($broke_at)" grep -q "warning: .*cut.pcap: $broke_at" "$TMPD/err"
expect_exit 2 "one good one missing" "$FS38" inspect --json "$TMPD/mixed.pcap" "$TMPD/nope.pcap"
ok "the missing one is named" grep -q "nope.pcap" "$TMPD/err"
ok "the good one is still inspected" grep -q '"event_type"' "$TMPD/out"
expect_exit 2 "missing file: no empty summary" "$FS38" inspect "$TMPD/nope.pcap"
ok "nothing on stdout when nothing was read" test ! -s "$TMPD/out"

# a pcap whose header gives a snaplen smaller than its records (dpkt writes 1500, whatever
# it is given): read whole, as tshark reads them, not cut to it as libpcap would -- from a
# file, gzip-compressed and from a pipe
python3 - "$TMPD/snap100.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp, write_pcap
def opt(n):
    sip = ("OPTIONS sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKs%d\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:a@192.0.2.10>;tag=%d\r\nTo: <sip:bob@192.0.2.20>\r\n"
           "Call-ID: snap%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (n, n, n)).encode()
    return eth(ip4("192.0.2.10", "192.0.2.20", 17, udp(5060, 5060, sip), ident=n))
write_pcap(sys.argv[1], [opt(n) for n in range(3)], snaplen=100)
PY
gzip -c "$TMPD/snap100.pcap" >"$TMPD/snap100.pcap.gz"
for how in "file:$TMPD/snap100.pcap" "gzip:$TMPD/snap100.pcap.gz" "pipe:-"; do
    "$FS38" inspect -q --stats-json "$TMPD/snap.json" "${how#*:}" <"$TMPD/snap100.pcap" 2>"$TMPD/err"
    ok "records longer than the header's snaplen, ${how%%:*}: all 3 messages read" \
        is "$(jq .sip_messages "$TMPD/snap.json")/$(jq .capture.truncated "$TMPD/snap.json")" 3/0
done
# the same in a pcapng (dpkt's pcapng writer gives its interface 1500 too), the interface
# first described with 100, then (a second interface) with 120: each record whole, as tshark
# reads it (libpcap refused the first: "bigger than snaplen"), from a file (fs38's own
# reader), stdin redirected from it, gzip and a pipe (handed a few bytes at a time: each
# interface's snaplen is made 0 as its block passes). And Simple Packet Blocks, which hold
# their packet cut to interface 0's snaplen (100): read as far as they hold it (not an error)
python3 - "$TMPD/snap100.pcapng" "$TMPD/spb100.pcapng" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[3])
from pcapgen import eth, ip4, udp, png_block, png_shb, png_idb, png_epb
def opt(n):
    sip = ("OPTIONS sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKs%d\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:a@192.0.2.10>;tag=%d\r\nTo: <sip:bob@192.0.2.20>\r\n"
           "Call-ID: snapng%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (n, n, n)).encode()
    return eth(ip4("192.0.2.10", "192.0.2.20", 17, udp(5060, 5060, sip), ident=n))
t = 1700000000 * 10**6
open(sys.argv[1], 'wb').write(png_shb() + png_idb(1, snaplen=100) + png_epb(0, t, opt(0)) +
                              png_epb(0, t + 1, opt(1)) + png_idb(1, snaplen=120) + png_epb(1, t + 2, opt(2)))
spb = lambda f: png_block(3, struct.pack('<I', len(f)) + f[:100])
open(sys.argv[2], 'wb').write(png_shb() + png_idb(1, snaplen=100) + spb(opt(0)) + spb(opt(1)))
PY
ok "tshark reads the 3 pcapng records whole" \
    is "$(tshark -r "$TMPD/snap100.pcapng" -Y sip 2>/dev/null | wc -l)" 3
trickle() { python3 -c 'import os, sys
d = open(sys.argv[1], "rb").read()
for i in range(0, len(d), 7): os.write(1, d[i:i + 7])' "$1"; }
# read_as HOW FILE: inspect FILE from a file, stdin redirected from it, gzip-compressed or a pipe
read_as() {
    case $1 in
    file) "$FS38" inspect -q --stats-json "$TMPD/snap.json" "$2" ;;
    stdin) "$FS38" inspect -q --stats-json "$TMPD/snap.json" - <"$2" ;;
    gzip) gzip -c "$2" >"$2.gz" && "$FS38" inspect -q --stats-json "$TMPD/snap.json" "$2.gz" ;;
    pipe) trickle "$2" | "$FS38" inspect -q --stats-json "$TMPD/snap.json" - ;;
    esac 2>"$TMPD/err"
}
for how in file stdin gzip pipe; do
    read_as $how "$TMPD/snap100.pcapng"
    ok "pcapng records longer than the interface's snaplen, $how: all 3 messages read" \
        is "$(jq .sip_messages "$TMPD/snap.json")/$(jq .capture.truncated "$TMPD/snap.json")" 3/0
    read_as $how "$TMPD/spb100.pcapng"
    ok "simple packet blocks cut to the snaplen, $how: both frames read, no error" \
        is "$(jq .frames "$TMPD/snap.json")/$(cat "$TMPD/err")" 2/
done

# --- hostile inputs beside the captures ------------------------------------------------------
expect_exit 2 "--indicators /dev/zero ends" timeout 20 "$FS38" inspect --indicators /dev/zero "$TMPD/mixed.pcap"
ok "--indicators /dev/zero: the NUL is named" grep -q "NUL byte" "$TMPD/err"
expect_exit 2 "--raw on a directory" "$FS38" inspect --raw "$TMPD"
ok "a directory is named as one" grep -q "Is a directory" "$TMPD/err"
# One source's messages without the branch cookie (SIP-PROTO-005, quiet window
# 60 s) at 0-10 s and 100-110 s from an ephemeral port to 5060 (its own
# worker: two reports, 90 s apart) and at 50-60 s from 5060 to 5090 (sharded
# by that target: another worker's share between them). One engine reports
# one incident of 15; the merge joined the middle share to one of the two and
# left the other apart (10 + 5 with 3 workers).
python3 - "$TMPD/bridge.pcap" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import ip4, eth, udp_c
out = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
src = '203.0.113.60'
for i in range(15):
    t = (1700000000 + (0, 50, 100)[i // 5] + i % 5 * 2) * 10**6
    dst, sp, dp = ('192.0.2.21', 5060, 5090) if i // 5 == 1 else ('192.0.2.20', 40000, 5060)
    msg = ('OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=old%d\r\nMax-Forwards: 70\r\n'
           'From: <sip:u@%s>;tag=f%d\r\nTo: <sip:%s>\r\nCall-ID: b%d@x\r\nCSeq: 1 OPTIONS\r\n'
           'Content-Length: 0\r\n\r\n' % (dst, src, sp, i, src, i, dst, i)).encode()
    f = eth(ip4(src, dst, 17, udp_c(src, dst, sp, dp, msg)))
    out.append(struct.pack('<IIII', t // 10**6, t % 10**6, len(f), len(f)) + f)
open(sys.argv[1], 'wb').write(b''.join(out))
PY
printf 'capture:\n  heuristic: true\n' >"$TMPD/bridge.yaml"
for w in 1 2 3; do
    "$FS38" inspect --json -c "$TMPD/bridge.yaml" --workers $w "$TMPD/bridge.pcap" |
        jq -c 'select(.rule.id == "SIP-PROTO-005") | [.evidence.count, .first_seen, .last_seen]' | tr '\n' ' '
    echo
done >"$TMPD/bridge.out"
ok "a share bridging two reports of one worker: one incident of 15 with 1, 2 and 3 workers ($(tr '\n' ' ' <"$TMPD/bridge.out"))" \
    test "$(sort -u "$TMPD/bridge.out")" = '[15,"2023-11-14T22:13:20.000Z","2023-11-14T22:15:08.000Z"] '
# one frame of libpcap's largest size (262,144 bytes: a datagram and padding) through two workers
python3 - "$TMPD/bigframe.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp, write_pcap
sip = (b"OPTIONS sip:a@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKbig\r\n"
       b"Max-Forwards: 70\r\nFrom: <sip:b@192.0.2.1>;tag=1\r\nTo: <sip:a@192.0.2.2>\r\n"
       b"Call-ID: big\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
frame = eth(ip4("192.0.2.1", "192.0.2.2", 17, udp(5060, 5060, sip)))
frame += b"\x00" * (262144 - len(frame))
write_pcap(sys.argv[1], [frame, frame], snaplen=262144)
PY
for w in 1 2; do
    "$FS38" inspect -q --workers $w --stats-json "$TMPD/big$w.json" "$TMPD/bigframe.pcap" 2>"$TMPD/err"
    ok "262,144-byte frames, --workers $w: both inspected" python3 -c "
import json; s=json.load(open('$TMPD/big$w.json')); assert s['sip_messages'] == 2, s['sip_messages']"
done

# a 70 KB INVITE over TCP (over limits.max_message) then a normal one on the same connection:
# the big one raises SIP-MAL-002 instead of vanishing, and the next is still framed
python3 - "$TMPD/bigtcp.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, tcp, write_pcap
def sip(cl):
    return (b"INVITE sip:a@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK%d\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:b@192.0.2.1>;tag=1\r\nTo: <sip:a@192.0.2.2>\r\n"
            b"Call-ID: c%d\r\nCSeq: 1 INVITE\r\nContact: <sip:b@192.0.2.1>\r\n"
            b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (cl, cl, cl)) + b"x" * cl
frame = lambda seq, flags, data: eth(ip4("192.0.2.1", "192.0.2.2", 6, tcp(40000, 5060, seq, flags, data)))
stream = sip(70000) + sip(4)
recs = [frame(99, 0x02, b"")]
for i in range(0, len(stream), 1400):
    recs.append(frame(100 + i, 0x18, stream[i:i + 1400]))
write_pcap(sys.argv[1], recs)
PY
"$FS38" inspect --json "$TMPD/bigtcp.pcap" >"$TMPD/bigtcp.ndjson" 2>"$TMPD/err"
ok "oversized TCP message raises SIP-MAL-002" grep -q '"SIP-MAL-002".*LIMIT_MESSAGE_SIZE' "$TMPD/bigtcp.ndjson"
ok "...not a Content-Length complaint about our own cut" bash -c "! grep -q CONTENT_LENGTH_EXCEEDS '$TMPD/bigtcp.ndjson'"
"$FS38" inspect -q --stats-json "$TMPD/bigtcp.json" "$TMPD/bigtcp.pcap" 2>"$TMPD/err"
ok "the message after it is framed" python3 -c "
import json; s=json.load(open('$TMPD/bigtcp.json')); assert s['sip_messages'] == 2, s['sip_messages']"

# the cut is ours wherever it falls: a 70 KB header field (From, To, Call-ID, CSeq after it), an
# IMS INVITE's multipart body (SDP + ISUP) over max_message: SIP-MAL-002 alone, not SIP-MAL-001
# HEADERS_UNTERMINATED / MULTIPART_SYNTAX nor SIP-PROTO-001 for the headers past the cut
python3 - "$TMPD/bigcut.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, tcp, write_pcap
def hdr(n):
    return (b"INVITE sip:a@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKh%d\r\n"
            b"Max-Forwards: 70\r\nSubject: %s\r\nFrom: <sip:b@192.0.2.1>;tag=1\r\nTo: <sip:a@192.0.2.2>\r\n"
            b"Call-ID: h%d\r\nCSeq: 1 INVITE\r\nContact: <sip:b@192.0.2.1>\r\nContent-Length: 0\r\n\r\n"
            % (n, b"s" * n, n))
def mp(n):
    body = (b"--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
            b"c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n--b1\r\nContent-Type: application/isup\r\n\r\n"
            + b"x" * n + b"\r\n--b1--\r\n")
    return (b"INVITE sip:a@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKm%d\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:b@192.0.2.1>;tag=1\r\nTo: <sip:a@192.0.2.2>\r\nCall-ID: m%d\r\n"
            b"CSeq: 1 INVITE\r\nContact: <sip:b@192.0.2.1>\r\nContent-Type: multipart/mixed;boundary=b1\r\n"
            b"Content-Length: %d\r\n\r\n" % (n, n, len(body))) + body
recs = []
for port, stream in ((40001, hdr(70000) + hdr(4)), (40002, mp(70000) + mp(4))):
    frame = lambda seq, flags, data: eth(ip4("192.0.2.1", "192.0.2.2", 6, tcp(port, 5060, seq, flags, data)))
    recs.append(frame(99, 0x02, b""))
    for i in range(0, len(stream), 1400):
        recs.append(frame(100 + i, 0x18, stream[i:i + 1400]))
write_pcap(sys.argv[1], recs)
PY
"$FS38" inspect -c /dev/null --json --stats-json "$TMPD/bigcut.json" "$TMPD/bigcut.pcap" >"$TMPD/bigcut.ndjson" 2>"$TMPD/err"
ok "oversized by a header field or a multipart body: SIP-MAL-002 alone (got $(jq -r '.rule.id + " " + .evidence.details.anomalies' "$TMPD/bigcut.ndjson" | tr '\n' ';'))" \
    is "$(jq -r '.rule.id + " " + .evidence.details.anomalies' "$TMPD/bigcut.ndjson")" \
    "SIP-MAL-002 LIMIT_HEADER_LENGTH,LIMIT_MESSAGE_SIZE"
ok "...both read, and the messages after them" is "$(jq .sip_messages "$TMPD/bigcut.json")" 4

# over TCP a message must carry Content-Length (RFC 3261 18.3, 20.14: it frames the
# stream); one without it is framed as bodiless (its SDP resynced over) and raises
# SIP-PROTO-001; over UDP the datagram frames it, and the same message is fine
python3 - "$TMPD/nocl.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, tcp, udp, write_pcap
def sip(n, cl=True):
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    return (b"INVITE sip:a@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK%d\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:b@192.0.2.1>;tag=1\r\nTo: <sip:a@192.0.2.2>\r\n"
            b"Call-ID: nocl%d\r\nCSeq: 1 INVITE\r\nContact: <sip:b@192.0.2.1>\r\nContent-Type: application/sdp\r\n"
            % (n, n) + (b"Content-Length: %d\r\n" % len(body) if cl else b"") + b"\r\n" + body)
frame = lambda seq, flags, data: eth(ip4("192.0.2.1", "192.0.2.2", 6, tcp(40000, 5060, seq, flags, data)))
stream = sip(1, False) + sip(2)
write_pcap(sys.argv[1], [frame(99, 0x02, b""), frame(100, 0x18, stream),
                         eth(ip4("192.0.2.3", "192.0.2.2", 17, udp(5060, 5060, sip(3, False))))])
PY
"$FS38" inspect -c /dev/null --json --stats-json "$TMPD/nocl.json" "$TMPD/nocl.pcap" >"$TMPD/nocl.ndjson" 2>"$TMPD/err"
ok "a TCP message without Content-Length raises SIP-PROTO-001, once, from its source" is "$(jq -r \
    'select(.rule.id == "SIP-PROTO-001") | "\(.observables[0].value) \(.evidence.count) \(.evidence.details.anomalies)"' \
    "$TMPD/nocl.ndjson")" "192.0.2.1 1 MISSING_REQUIRED_HEADER"
ok "...the message after it framed, the UDP one read" is "$(jq .sip_messages "$TMPD/nocl.json")" 3

# a filter long enough to keep libpcap's optimiser busy for minutes is refused up front
long_bpf=$(python3 -c "print(' or '.join('host 10.0.%d.%d' % (i // 250, i % 250) for i in range(500)))")
expect_exit 2 "--bpf of 9 KB refused" timeout 10 "$FS38" inspect --bpf "$long_bpf" "$TMPD/mixed.pcap"
ok "--bpf limit named" grep -q "at most 4096" "$TMPD/err"
# limits beyond the machine are refused at start, not when a flood fills the tables
printf 'state:\n  max_sources: 16000000\n  max_dialogs: 16000000\n  max_incidents: 16000000\nlimits:\n  max_tcp_bytes: 17179869184\n' >"$TMPD/huge.yaml"
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
if [ "$mem_kb" -lt $((36 * 1024 * 1024)) ]; then
    expect_exit 2 "limits beyond this machine's memory" "$FS38" inspect -c "$TMPD/huge.yaml" "$TMPD/mixed.pcap"
    ok "...named, with what to lower" grep -q "more than 90 % of this machine's .* lower state" "$TMPD/err"
    # the check refuses above 90 % of the memory and says so: limits at 95 % of it
    # were refused as "more than this machine's" memory. 95 %: the state bound
    # (--stats-json, of a run that fits) + SCTP's 4 MiB + TCP and fragments
    have_mb=$((mem_kb / 1024)) near=
    for inc in 16384 524288 1048576; do
        printf 'state:\n  max_incidents: %d\n' "$inc" >"$TMPD/near.yaml"
        "$FS38" inspect -q -c "$TMPD/near.yaml" --stats-json "$TMPD/near.json" "$TMPD/mixed.pcap" 2>/dev/null || continue
        rest=$((have_mb * 95 / 100 - $(jq '.memory.state_bound_bytes / 1048576 | ceil' "$TMPD/near.json") - 4))
        if [ "$rest" -ge 128 ] && [ "$rest" -le $((16384 + 4095)) ]; then
            tcp=$((rest - 64 > 16384 ? 16384 : rest - 64))
            printf 'state:\n  max_incidents: %d\nlimits:\n  max_tcp_bytes: %d\n  max_frag_bytes: %d\n' \
                "$inc" $((tcp * 1048576)) $(((rest - tcp) * 1048576)) >"$TMPD/near.yaml"
            near=1
            break
        fi
    done
    if [ -n "$near" ]; then
        expect_exit 2 "limits at 95 % of this machine's memory" "$FS38" inspect -c "$TMPD/near.yaml" "$TMPD/mixed.pcap"
        ok "...said to be over 90 % of it, not over all of it" grep -q "more than 90 % of this machine's" "$TMPD/err"
    fi
else
    echo "note: $mem_kb kB of memory: the over-the-machine limits check needs less than 36 GiB" >&2
fi
# --hep on a UDP port another program reads: refused (shared, UDP would split the packets)
hp=$(free_port)
python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $hp)); time.sleep(5)" &
holder=$!
sleep 0.5
expect_exit 2 "--hep on a port already taken" timeout 10 "$FS38" inspect --hep 127.0.0.1:$hp --duration 2
ok "...says why" grep -q "bind: Address already in use" "$TMPD/err"
kill $holder 2>/dev/null; wait $holder 2>/dev/null
# SIGHUP reopens --events FILE (logrotate): events after it go to the new file,
# the run goes on. Each HEP packet carries a malformed INVITE from another client.
hp=$(free_port)
timeout -k 5 30 "$FS38" inspect --hep 127.0.0.1:$hp --duration 8 --events "$TMPD/hup.ndjson" -q \
    2>"$TMPD/hup.err" &
hpid=$!
send_hep() { # CLIENT_IP: one HEP v3 packet, an INVITE without Call-ID from CLIENT_IP
    python3 - "$1" "$hp" <<'PY'
import socket, struct, sys, time
src, port = sys.argv[1], int(sys.argv[2])
sip = (b"INVITE sip:100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP " + src.encode() +
       b";branch=z9hG4bKhup\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:100@192.0.2.10>\r\n"
       b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
def chunk(t, v): return struct.pack("!HHH", 0, t, 6 + len(v)) + v
now = time.time()
body = (chunk(1, b"\x02") + chunk(2, b"\x11") + chunk(3, socket.inet_aton(src)) +
        chunk(4, socket.inet_aton("192.0.2.10")) + chunk(7, struct.pack("!H", 5060)) +
        chunk(8, struct.pack("!H", 5060)) + chunk(9, struct.pack("!I", int(now))) +
        chunk(10, struct.pack("!I", int(now % 1 * 1e6))) + chunk(11, b"\x01") + chunk(15, sip))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"HEP3" + struct.pack("!H", 6 + len(body)) + body, ("127.0.0.1", port))
PY
}
# wait_lines FILE N: up to 5 s for FILE to hold N lines
wait_lines() { local i; for ((i = 0; i < 50; i++)); do [ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
sleep 0.5
fs38pid=$(pgrep -P $hpid) # the signal goes to fs38 itself: timeout would pass it on and then end the run
send_hep 198.51.100.1
ok "SIGHUP: the first event is written" wait_lines "$TMPD/hup.ndjson" 1
mv "$TMPD/hup.ndjson" "$TMPD/hup.ndjson.1"
kill -HUP "$fs38pid"
# ... at once, with nothing to write: a quiet sensor lets go of the rotated
# file (logrotate may compress it) and the new one is there
reopened() { # up to 3 s for the new file to exist and the old one to be closed
    local i
    for ((i = 0; i < 30; i++)); do
        [ -e "$TMPD/hup.ndjson" ] && ! ls -l "/proc/$fs38pid/fd" 2>/dev/null | grep -q 'hup.ndjson.1' && return 0
        sleep 0.1
    done
    return 1
}
ok "SIGHUP on a quiet link: the new file opened, the rotated one closed, before any event" reopened
send_hep 198.51.100.2
ok "SIGHUP: the event after it goes to a new file" wait_lines "$TMPD/hup.ndjson" 1
ok "...it is the second client's" grep -q '"198.51.100.2"' "$TMPD/hup.ndjson"
ok "...and the rotated file keeps only the first client's" \
    bash -c "grep -q '\"198.51.100.1\"' '$TMPD/hup.ndjson.1' && ! grep -q '198.51.100.2' '$TMPD/hup.ndjson.1'"
ok "SIGHUP does not stop the run" kill -0 "$fs38pid"
wait $hpid; hrc=$?
ok "...which ends by --duration with exit 0 (got $hrc)" test "$hrc" -eq 0
# HEP packets the socket dropped while fs38 could not read (stopped here) are
# counted: each later datagram carries the socket's drop count (SO_RXQ_OVFL)
hp=$(free_port)
timeout -k 5 30 "$FS38" inspect --hep 127.0.0.1:$hp --duration 6 -q --stats-json "$TMPD/drop.json" 2>"$TMPD/drop.err" &
dpid=$!
sleep 0.7
dfs=$(pgrep -P $dpid)
kill -STOP "$dfs"
python3 - "$hp" 20000 <<'PY'
import socket, struct, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
def chunk(t, v): return struct.pack("!HHH", 0, t, 6 + len(v)) + v
sip = b"OPTIONS sip:x@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKd\r\n" \
      b"From: <sip:a@x>;tag=1\r\nTo: <sip:x@192.0.2.10>\r\nCall-ID: d\r\nCSeq: 1 OPTIONS\r\n" \
      b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
body = (chunk(1, b"\x02") + chunk(2, b"\x11") + chunk(3, socket.inet_aton("198.51.100.9")) +
        chunk(4, socket.inet_aton("192.0.2.10")) + chunk(7, struct.pack("!H", 5060)) +
        chunk(8, struct.pack("!H", 5060)) + chunk(11, b"\x01") + chunk(15, sip))
pkt = b"HEP3" + struct.pack("!H", 6 + len(body)) + body
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(n): s.sendto(pkt, ("127.0.0.1", port))
PY
kill -CONT "$dfs"
sleep 1
python3 -c "
import socket, struct
hdr = b'HEP3' + struct.pack('!H', 6)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(hdr, ('127.0.0.1', $hp))"
wait $dpid
ok "HEP socket drops counted: frames + kernel_dropped = the 20001 sent" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
d, f = s["capture"]["kernel_dropped"], s["frames"]
sys.exit(0 if d > 0 and f + d == 20001 else "frames %d, kernel_dropped %d" % (f, d))
' "$TMPD/drop.json"
# SIGINT cuts a file run short: what was read is reported, and the exit code says it was cut
(cat "$TMPD/mixed.pcap"; sleep 4) | "$FS38" inspect --no-progress - >"$TMPD/out" 2>"$TMPD/err" &
ipid=$!
sleep 1.5
kill -INT $ipid 2>/dev/null
wait $ipid; irc=$?
ok "SIGINT on a file run: exit 2 (got $irc)" test "$irc" -eq 2
ok "...says it was interrupted" grep -q "interrupted before the end of the input" "$TMPD/err"
ok "...and still prints the summary" grep -q "^INCIDENTS" "$TMPD/out"
# the read the signal interrupted is no break in the input: no warning of a read error
ok "...and no read error blamed on the input" bash -c "! grep -E 'warning|Interrupted system call' '$TMPD/err'"
# a link type the decoder does not read: named, exit 2 (nothing of the file can be inspected)
python3 - "$TMPD/lt.pcap" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import write_pcap
write_pcap(sys.argv[1], [b"\x08" * 24], linktype=105)  # IEEE 802.11
PY
expect_exit 2 "unsupported link type" "$FS38" inspect "$TMPD/lt.pcap"
ok "the link type is named" grep -q "link type 105 (IEEE802_11) is not supported" "$TMPD/err"
# a pcapng whose interfaces differ in link type (`dumpcap -i eth0 -i any`): libpcap refuses
# it, fs38's own reader reads it. Ethernet (nanoseconds), raw IP, Linux SLL, then Ethernet
# again, one OPTIONS each; a 4th interface of 802.11 whose frame is counted and passed over.
python3 - "$TMPD/ng_mixed.pcapng" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, png_epb, png_idb, png_shb, sll, udp
def ip_udp(n):
    sip = ("OPTIONS sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK%d\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:a@192.0.2.10>;tag=%d\r\nTo: <sip:bob@192.0.2.20>\r\n"
           "Call-ID: ng%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (n, n, n)).encode()
    return ip4("192.0.2.10", "192.0.2.20", 17, udp(5060, 5060, sip), ident=n)
T = 1700000000
out = png_shb() + png_idb(1, 9) + png_idb(101) + png_idb(113) + png_idb(105)
out += png_epb(0, (T + 1) * 10**9, eth(ip_udp(1))) + png_epb(1, (T + 2) * 10**6, ip_udp(2))
out += png_epb(2, (T + 3) * 10**6, sll(ip_udp(3))) + png_epb(3, (T + 4) * 10**6, b"\x08" * 24)
out += png_epb(0, (T + 5) * 10**9, eth(ip_udp(4)))
open(sys.argv[1], "wb").write(out)
PY
expect_exit 0 "pcapng with interfaces of different link types" "$FS38" inspect -q \
    --stats-json "$TMPD/ngmix.json" "$TMPD/ng_mixed.pcapng"
ok "...all 4 SIP messages, the 802.11 frame counted as not IP" python3 -c "
import json; s=json.load(open('$TMPD/ngmix.json'))
assert s['sip_messages'] == 4 and s['frames'] == 5 and s['capture']['not_ip'] == 1, s"
expect_exit 0 "...with --bpf (compiled per link type)" "$FS38" inspect -q --bpf 'udp and not ip[4:2] = 2' \
    --stats-json "$TMPD/ngmix-bpf.json" "$TMPD/ng_mixed.pcapng"
ok "...--bpf passes 3 of the SIP messages" python3 -c "
import json; s=json.load(open('$TMPD/ngmix-bpf.json')); assert s['sip_messages'] == 3 and s['frames'] == 3, s"
# a --bpf that does not compile for a later interface's link type ends that file's run
# only: what came before it and the next file are inspected and reported, exit 2
expect_exit 2 "...--bpf not compiling for a later interface" "$FS38" inspect --bpf 'ether src 02:00:00:00:00:02' \
    --stats-json "$TMPD/ngmix-bpf2.json" "$TMPD/ng_mixed.pcapng" "$ROOT/tests/data/capture/mixed.pcap"
ok "...names the frame and the link type" grep -q "ng_mixed.pcapng: frame 2: BPF filter .*link type 12 (RAW)" "$TMPD/err"
ok "...the frame before it and the next file's 13 read" is "$(jq .frames "$TMPD/ngmix-bpf2.json")" 14
ok "...and reported in the summary" grep -q "^MESSAGES" "$TMPD/out"
# ...and for the first file's link type: a --bpf that compiles for others is no syntax
# error, the next files are read all the same (it ended the run, nothing read)
expect_exit 2 "--bpf not suiting the first file's link type" "$FS38" inspect --bpf 'ether host 00:00:00:00:00:00' \
    --stats-json "$TMPD/nflog-bpf.json" "$ROOT/tests/data/capture/links-nflog.pcap" "$ROOT/examples/benign.pcap"
ok "...names the file" grep -q "links-nflog.pcap: BPF filter" "$TMPD/err"
ok "...the next file read" is "$(jq .frames "$TMPD/nflog-bpf.json")" 85
ok "...and reported in the summary" grep -q "^MESSAGES" "$TMPD/out"
expect_exit 2 "...from stdin: refused" bash -c "'$FS38' inspect -q - <'$TMPD/ng_mixed.pcapng'"
ok "...saying what to do" grep -q "save the input to a file" "$TMPD/err"
# `cat le.pcapng be.pcapng` on stdin or gzip-compressed: libpcap misreads the second
# section's lengths ("block size ... > maximum"); the warning names the cause and what to do
python3 - "$TMPD/ng_orders.pcapng" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp, png_shb, png_idb, png_epb
def be_block(t, body):
    body += b'\0' * (-len(body) % 4)
    return struct.pack('>II', t, 12 + len(body)) + body + struct.pack('>I', 12 + len(body))
def opt(n):
    sip = ("OPTIONS sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKo%d\r\n"
           "From: <sip:a@192.0.2.10>;tag=%d\r\nTo: <sip:bob@192.0.2.20>\r\nCall-ID: order%d\r\n"
           "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (n, n, n)).encode()
    return eth(ip4("192.0.2.10", "192.0.2.20", 17, udp(5060, 5060, sip), ident=n))
t = 1700000000 * 10**6
be = (be_block(0x0A0D0D0A, struct.pack('>IHHq', 0x1A2B3C4D, 1, 0, -1)) + be_block(1, struct.pack('>HHI', 1, 0, 262144)) +
      be_block(6, struct.pack('>IIIII', 0, t >> 32, (t + 1) & 0xffffffff, len(opt(1)), len(opt(1))) + opt(1)))
open(sys.argv[1], 'wb').write(png_shb() + png_idb(1) + png_epb(0, t, opt(0)) + be)
PY
expect_exit 0 "sections of both byte orders, from a file: both read" "$FS38" inspect -q \
    --stats-json "$TMPD/orders.json" "$TMPD/ng_orders.pcapng"
ok "...2 messages" is "$(jq .sip_messages "$TMPD/orders.json")" 2
gzip -c "$TMPD/ng_orders.pcapng" >"$TMPD/ng_orders.pcapng.gz"
for how in "stdin:-" "gzip:$TMPD/ng_orders.pcapng.gz"; do
    expect_exit 0 "...${how%%:*}: the first section read" bash -c \
        "'$FS38' inspect -q '${how#*:}' <'$TMPD/ng_orders.pcapng'"
    ok "...${how%%:*}: the warning names the cause" grep -q "frame 2: sections with different byte orders" "$TMPD/err"
    ok "...${how%%:*}: and what to do" grep -q "save the input.* to a file" "$TMPD/err"
done
# an 802.11 monitor interface first, Ethernet described only after its first packet
# (tshark reads it): read by the own reader; a pcapng of 802.11 alone is refused as
# the pcap above, after it was read
python3 - "$TMPD/ng_late.pcapng" "$TMPD/ng_wifi.pcapng" "$ROOT/tests/data/capture" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
from pcapgen import eth, ip4, png_epb, png_idb, png_shb, udp
sip = (b"OPTIONS sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKlate\r\n"
       b"Max-Forwards: 70\r\nFrom: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:bob@192.0.2.20>\r\n"
       b"Call-ID: late1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
T = 1700000000 * 10**6
wifi = png_shb() + png_idb(105) + png_epb(0, T, b"\x08" * 24)
open(sys.argv[2], "wb").write(wifi + png_epb(0, T + 1, b"\x08" * 24))
frame = eth(ip4("192.0.2.10", "192.0.2.20", 17, udp(5060, 5060, sip)))
open(sys.argv[1], "wb").write(wifi + png_idb(1) + png_epb(1, T + 2, frame))
open(sys.argv[1].replace("ng_late", "ng_sect"), "wb").write(
    png_shb() + png_idb(105) + png_shb() + png_idb(1) + png_epb(0, T + 2, frame))
PY
expect_exit 0 "pcapng: 802.11 first, Ethernet after the first packet" "$FS38" inspect -q \
    --stats-json "$TMPD/nglate.json" "$TMPD/ng_late.pcapng"
ok "...its SIP message read, the 802.11 frame counted as not IP" python3 -c "
import json; s=json.load(open('$TMPD/nglate.json'))
assert s['sip_messages'] == 1 and s['frames'] == 2 and s['capture']['not_ip'] == 1, s"
# the same, the 802.11 interface in a first section without packets (cat of an empty
# monitor capture and an Ethernet one): read, as tshark reads it, not refused as 802.11
expect_exit 0 "pcapng: an 802.11 section without packets, then Ethernet" "$FS38" inspect -q \
    --stats-json "$TMPD/ngsect.json" "$TMPD/ng_sect.pcapng"
ok "...its SIP message read" is "$(jq -c '[.frames,.sip_messages]' "$TMPD/ngsect.json")" "[1,1]"
expect_exit 2 "pcapng of 802.11 alone" "$FS38" inspect -q "$TMPD/ng_wifi.pcapng"
ok "...the link type is named" grep -q "link type 105 (IEEE802_11) is not supported" "$TMPD/err"
# HEP v2 and a HEP3 packet with a broken chunk on port 9060: counted, and the first reason shown
python3 - "$TMPD/badhep.pcap" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp, write_pcap
frame = lambda payload: eth(ip4("192.0.2.1", "192.0.2.2", 17, udp(40000, 9060, payload)))
hep3 = b"HEP3" + struct.pack("!H", 6 + 6) + struct.pack("!HHH", 0, 1, 3)  # a chunk of length 3
write_pcap(sys.argv[1], [frame(b"\x02\x10\x02\x11" + b"\x00" * 12), frame(hep3)])
PY
expect_exit 0 "bad HEP in a capture" "$FS38" inspect "$TMPD/badhep.pcap"
ok "bad HEP counted on the CAPTURE line" grep -q "^CAPTURE .*bad HEP 2" "$TMPD/out"
ok "the first bad HEP packet's reason" grep -q "first bad HEP packet: HEP v2: 16 bytes, no payload after its 28-byte header" "$TMPD/out"

# --- raw messages (RFC 4475) --------------------------------------------------------------
expect_exit 0 "--raw valid message" "$FS38" inspect --raw --json "$DATA/wsinv.dat"
ok "valid torture message raises nothing malformed" bash -c "! grep -q SIP_MALFORMED '$TMPD/out'"
expect_exit 1 "--raw invalid message" "$FS38" inspect --raw --json --fail-on low "$DATA/badvers.dat"
ok "invalid torture message is SIP_MALFORMED" grep -q '"SIP_MALFORMED"' "$TMPD/out"
ok "anomaly code named" grep -q 'VERSION_UNSUPPORTED' "$TMPD/out"
ok "--raw: x-capture names the message file, no frame" is \
    "$(jq -c '.evidence.sample["x-capture"]' "$TMPD/out" | sort -u)" "{\"file\":\"$DATA/badvers.dat\"}"
expect_exit 2 "--raw missing file" "$FS38" inspect --raw "$TMPD/none.sip"
# '-' is stdin for --raw too, as for capture files (it read a file named '-': "No such file")
expect_exit 1 "--raw - reads the message from stdin" \
    bash -c "cat '$DATA/badvers.dat' | '$FS38' inspect --raw --json --fail-on low -"
ok "...its torture message is SIP_MALFORMED" grep -q 'VERSION_UNSUPPORTED' "$TMPD/out"
# a message longer than limits.max_message is oversized (SIP-MAL-002) and only
# that: read up to the limit, its right Content-Length was taken for one that
# exceeds the body (SIP-MAL-001 CONTENT_LENGTH_EXCEEDS)
python3 -c "
body = 'v=0\r\na=x:' + 'y' * 70000 + '\r\n'
print('INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n'
      'From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: big1\r\nCSeq: 1 INVITE\r\n'
      'Max-Forwards: 70\r\nContact: <sip:a@10.0.0.1>\r\nContent-Type: application/sdp\r\n'
      'Content-Length: %d\r\n\r\n%s' % (len(body), body), end='')" >"$TMPD/big.sip"
"$FS38" inspect --raw --json -c /dev/null "$TMPD/big.sip" >"$TMPD/big.ndjson" 2>"$TMPD/err"
ok "--raw, a 70 kB message: SIP-MAL-002 alone (got $(jq -r '.rule.id + " " + .evidence.details.anomalies' "$TMPD/big.ndjson" | tr '\n' ';'))" \
    is "$(jq -r '.rule.id + " " + .evidence.details.anomalies' "$TMPD/big.ndjson")" "SIP-MAL-002 LIMIT_MESSAGE_SIZE"
# a message from a file has no addresses: its events name 0.0.0.0 and still meet the format
"$FS38" inspect --raw --json "$DATA"/*.dat >"$TMPD/raw.ndjson" 2>"$TMPD/err"
ok "--raw events name the unspecified address" grep -q '"value":"0.0.0.0","role":"source"' "$TMPD/raw.ndjson"
expect_exit 0 "--raw events validate" "$FS38" validate "$TMPD/raw.ndjson"
# --count N: each --raw file is one packet ("frames"), so the first N files (all were read)
expect_exit 0 "--raw --count 2 of 3 files" "$FS38" inspect --raw -q --count 2 --stats-json "$TMPD/rawc.json" \
    "$DATA/wsinv.dat" "$DATA/badvers.dat" "$DATA/badvers.dat"
ok "...2 packets read" is "$(jq .frames "$TMPD/rawc.json")" 2
# --count N stops the run: capture files after the Nth packet are not opened (a
# missing one gave exit 2, and '-' waited for its writer)
expect_exit 0 "--count 5: a missing file after the 5th packet is not opened" \
    "$FS38" inspect -q -c /dev/null --count 5 "$ROOT/examples/benign.pcap" "$TMPD/none.pcap"
expect_exit 0 "...nor stdin, waiting for its writer" bash -c \
    "sleep 2 | timeout 1 '$FS38' inspect -q -c /dev/null --count 5 '$ROOT/examples/benign.pcap' -"

# --- the summary ----------------------------------------------------------------------------
# RFC 4475 has a status outside 100-699 and a dozen anomaly kinds: every response is counted,
# the commonest anomalies come first, and the rest are counted, not hidden
COLUMNS=80 "$FS38" inspect --raw "$DATA"/*.dat >"$TMPD/sum80.txt" 2>"$TMPD/err"
ok "responses add up (status out of range is 'other')" grep -q "responses 5 (.*other 1)" "$TMPD/sum80.txt"
ok "anomaly kinds not shown are counted" grep -q "anomalies in .*, +[0-9]* more" "$TMPD/sum80.txt"
ok "the commonest anomaly kind comes first" python3 -c "
import re,sys
line=[l for l in open('$TMPD/sum80.txt') if 'anomalies in' in l][0]
counts=[int(c) for c in re.findall(r'[A-Z_]+ (\d+)', line.split(':',1)[1])]
sys.exit(0 if counts and counts==sorted(counts, reverse=True) else 1)"
ok "COLUMNS=80: incident lines fit" awk 'BEGIN{bad=0} /^    [A-Z_]+ / && length($0) > 80 {bad=1} END{exit bad}' "$TMPD/sum80.txt"
COLUMNS=200 "$FS38" inspect --raw "$DATA"/*.dat >"$TMPD/sum200.txt" 2>"$TMPD/err"
ok "a wide terminal gets details on the incident line" grep -q "SIP-MAL-001 *anomalies=" "$TMPD/sum200.txt"
ok "plural only when more than one" bash -c "! grep -Eq '(^| )1 (incidents|requests|messages|packets)' '$TMPD/sum200.txt'"

finish test_cli
