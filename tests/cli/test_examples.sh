#!/usr/bin/env bash
# test_examples.sh -- every shipped example capture against its expectations.
#
# For each row of examples/MANIFEST.tsv (file, description, must, must_not,
# sip_count) this runs
#   $FS38 inspect --config examples/site.yaml --json --stats-json S FILE
# and checks:
#   - exit 0; every stdout line is a JSON object with a rule id (NDJSON events)
#   - each MUST rule id appears in the events, each MUST-NOT id does not
#   - the stats JSON parses, its events_by_rule names the same rules as the events
#   - frames equals tshark's frame count; when sip_count is "tshark", the SIP
#     message, request and response counts and the per-method counts equal
#     tshark's (see "Counting" below)
#
# Counting with tshark: every SIP message is one occurrence of sip.Method
# (requests) or sip.Status-Code (responses), read with -E occurrence=a so that
# several messages in one TCP segment each count; frames whose SIP is only the
# quoted original inside an ICMP error (svmap hitting closed ports) are left
# out (`sip && !icmp`): they are not SIP traffic. malformed.pcap is marked
# "skip": tshark does not recognise several of its deliberately broken messages
# as SIP at all (e.g. a leading space before the method), so its count is no
# reference there; SIP-MAL-001 firing is what that file checks.
#
# Usage: FS38=build/release/fs38 tests/cli/test_examples.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

CFG=examples/site.yaml
MAN=examples/MANIFEST.tsv

# rule ids of the NDJSON events in $1, one per line (sorted, unique);
# exits 1 naming the line if a line is not a JSON object with rule.id
PY_IDS='
import json, sys
ids = set()
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        ev = json.loads(line)
    except ValueError as e:
        sys.exit("line %d is not JSON (%s): %.120s" % (n, e, line))
    if not isinstance(ev, dict):
        sys.exit("line %d is not a JSON object" % n)
    for k in ("schema_version", "event_id", "event_type", "severity", "observables", "evidence"):
        if k not in ev:
            sys.exit("line %d lacks %s" % (n, k))
    rule = ev.get("rule")
    if not isinstance(rule, dict) or not isinstance(rule.get("id"), str):
        sys.exit("line %d has no rule.id" % n)
    ids.add(rule["id"])
print("\n".join(sorted(ids)))
'

# tshark's reference counts of $1 as JSON: frames, sip_messages, requests,
# responses, methods {M: n}, tcp (SIP messages over TCP)
PY_TSHARK='
import json, subprocess, sys
f = sys.argv[1]
def tshark(*args):
    r = subprocess.run(["tshark", "-n", "-r", f] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("tshark failed on %s: %s" % (f, r.stderr.strip()[:300]))
    return r.stdout
frames = len(tshark("-T", "fields", "-e", "frame.number").split())
out = tshark("-Y", "sip && !icmp", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
             "-E", "separator=/t", "-e", "ip.proto", "-e", "sip.Method", "-e", "sip.Status-Code")
req = resp = tcp = 0
methods = {}
for line in out.splitlines():
    cols = (line.split("\t") + ["", "", ""])[:3]
    ms = [m for m in cols[1].split(",") if m]
    ss = [s for s in cols[2].split(",") if s]
    for m in ms:
        methods[m] = methods.get(m, 0) + 1
    req += len(ms); resp += len(ss)
    if cols[0].split(",")[0] == "6":
        tcp += len(ms) + len(ss)
print(json.dumps({"frames": frames, "sip_messages": req + resp, "requests": req,
                  "responses": resp, "methods": methods, "tcp": tcp}))
'

# compare stats JSON $1 with tshark JSON $2; $3 = check sip counts (1/0);
# $4 = the event rule ids file. Prints every mismatch, exits 1 if any.
PY_CMP='
import json, sys
try:
    st = json.load(open(sys.argv[1]))
except Exception as e:
    sys.exit("stats JSON unreadable: %s" % e)
ts = json.loads(sys.argv[2])
full = sys.argv[3] == "1"
ev_ids = set(open(sys.argv[4]).read().split())
bad = []
def want(name, got, exp):
    if got != exp:
        bad.append("%s: fs38 %r, tshark %r" % (name, got, exp))
want("frames", st.get("frames"), ts["frames"])
if full:
    for k in ("sip_messages", "requests", "responses"):
        want(k, st.get(k), ts[k])
    got_m = {k: v for k, v in (st.get("methods") or {}).items() if v}
    want("methods", got_m, ts["methods"])
tr = st.get("transports") or {}
if ts["tcp"] > 0 and not tr.get("tcp"):
    bad.append("transports.tcp is %r but the capture carries SIP over TCP" % tr.get("tcp"))
if ts["tcp"] == 0 and tr.get("tcp"):
    bad.append("transports.tcp is %r but the capture has no SIP over TCP" % tr.get("tcp"))
by_rule = {k for k, v in (st.get("events_by_rule") or {}).items() if v}
if by_rule != ev_ids:
    bad.append("events_by_rule %s differs from the rules of the NDJSON events %s" % (sorted(by_rule), sorted(ev_ids)))
if bad:
    sys.exit("\n".join(bad))
'

have_tshark=1
command -v tshark >/dev/null || { fail "tshark is not installed: the message counts cannot be checked (apt-get install tshark)"; have_tshark=0; }
[ -r "$MAN" ] || { fail "$MAN missing"; finish test_examples; exit; }
[ -r "$CFG" ] || fail "$CFG missing"

rows=0
while IFS=$'\t' read -r file _desc must mustnot count; do
    case "$file" in '#'* | '') continue ;; esac
    rows=$((rows + 1))
    f=examples/$file
    if [ ! -s "$f" ]; then fail "$file: listed in $MAN but missing (run make examples)"; continue; fi
    size=$(stat -c %s "$f")
    ok "$file is under 300 KB ($size bytes)" test "$size" -lt 307200

    expect_exit 0 "$file: inspect --json" \
        "$FS38" inspect --config "$CFG" --json --stats-json "$TMPD/stats.json" "$f"
    cp "$TMPD/out" "$TMPD/events.ndjson"
    if ! python3 -c "$PY_IDS" "$TMPD/events.ndjson" >"$TMPD/ids" 2>"$TMPD/ids.err"; then
        fail "$file: output is not valid NDJSON events: $(cat "$TMPD/ids.err")"
        continue
    fi
    pass
    for id in $must; do
        [ "$id" = - ] && continue
        if grep -qxF "$id" "$TMPD/ids"; then pass
        else fail "$file: $id must fire but did not (fired: $(tr '\n' ' ' <"$TMPD/ids"))"; fi
    done
    for id in $mustnot; do
        [ "$id" = - ] && continue
        if grep -qxF "$id" "$TMPD/ids"; then fail "$file: $id must not fire but did"
        else pass; fi
    done

    [ "$have_tshark" -eq 1 ] || continue
    if ! ts=$(python3 -c "$PY_TSHARK" "$f" 2>"$TMPD/ts.err"); then
        fail "$file: tshark reference count failed: $(cat "$TMPD/ts.err")"; continue
    fi
    full=0; [ "$count" = tshark ] && full=1
    if python3 -c "$PY_CMP" "$TMPD/stats.json" "$ts" "$full" "$TMPD/ids" 2>"$TMPD/cmp.err"; then pass
    else fail "$file: --stats-json disagrees: $(sed 's/^/    /' "$TMPD/cmp.err")"; fi
done <"$MAN"

ok "$MAN lists at least 10 captures ($rows)" test "$rows" -ge 10
total=$(cat examples/*.pcap 2>/dev/null | wc -c)
ok "example captures total under 2 MB ($total bytes)" test "$total" -lt 2097152

# the whole set in one run, as `make run` does: exit 0, events on stdout
expect_exit 0 "all examples in one run" "$FS38" inspect --config "$CFG" --json examples/*.pcap
valid_ndjson() { python3 -c "$PY_IDS" "$1" >/dev/null; }
ok "all examples in one run: NDJSON valid" valid_ndjson "$TMPD/out"

# Each sample's x-capture names the file and frame where the message is:
# tshark, at that frame of that file, dissects a SIP message with the
# sample's Call-ID (a TCP message: at the segment that completes it, as
# tshark shows it too). malformed.pcap is left out: tshark does not see SIP
# in several of its messages. PY_FRAMES EVENTS: "checked wrong", wrong ones on
# stderr
PY_FRAMES='
import json, subprocess, sys
want = {}
for line in open(sys.argv[1]):
    s = json.loads(line)["evidence"].get("sample", {})
    x = s.get("x-capture")
    if x and "frame" in x and s.get("call_id") and not x["file"].endswith("malformed.pcap"):
        want.setdefault(x["file"], []).append((x["frame"], s["call_id"]))
checked = wrong = 0
for f, items in want.items():
    out = subprocess.run(["tshark", "-n", "-r", f, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
                          "-e", "frame.number", "-e", "sip.Call-ID"], capture_output=True, text=True).stdout
    ids = {}
    for l in out.splitlines():
        n, _, c = l.partition("\t")
        ids[int(n)] = set(c.split("|"))
    for frame, cid in items:
        checked += 1
        if cid not in ids.get(frame, ()):
            wrong += 1
            print(f, frame, cid, "tshark:", sorted(ids.get(frame, ())), file=sys.stderr)
print(checked, wrong)
'
if [ "$have_tshark" -eq 1 ]; then
    read -r checked wrong < <(python3 -c "$PY_FRAMES" "$TMPD/out")
    ok "x-capture: tshark finds each sample at its frame ($checked samples)" test "$checked" -ge 15 -a "$wrong" -eq 0
    expect_exit 0 "all examples, --workers 2" "$FS38" inspect --workers 2 --config "$CFG" --json examples/*.pcap
    read -r checked wrong < <(python3 -c "$PY_FRAMES" "$TMPD/out")
    ok "x-capture with --workers 2: the same ($checked samples)" test "$checked" -ge 15 -a "$wrong" -eq 0
    ok "x-capture: names only the files given" bash -c "! jq -r '.evidence.sample[\"x-capture\"] // empty | .file' '$TMPD/out' | grep -v '^examples/[a-z-]*\.pcap$'"
    # a filter hides frames from the count: then the file alone
    expect_exit 0 "--bpf udp" "$FS38" inspect --bpf udp --json examples/scan-svmap.pcap
    ok "x-capture under --bpf: the file, no frame" is \
        "$(jq -c '.evidence.sample["x-capture"]' "$TMPD/out" | sort -u)" '{"file":"examples/scan-svmap.pcap"}'
    # a file name is bytes, JSON is UTF-8: an invalid byte is shown as '?'
    odd="$TMPD/scan-"$'\xff'".pcap"
    cp examples/scan-svmap.pcap "$odd"
    expect_exit 0 "a file name that is not UTF-8" "$FS38" inspect --json "$odd"
    ok "x-capture: its name as valid UTF-8" is "$(jq -r '.evidence.sample["x-capture"].file' "$TMPD/out" | sort -u)" "$TMPD/scan-?.pcap"
fi

# generate.sh checks its tools before it starts anything: without ss
# (iproute2, not in a minimal Debian) every wait for a peer's socket failed and
# it died with "kamailio did not start". Here PATH has its other tools but
# neither ss nor mktemp/cat, so the old script stopped before starting a peer.
if [ "$(id -u)" -eq 0 ]; then
    nobin=$TMPD/nobin; mkdir -p "$nobin"
    for t in env id dirname tcpdump sipp kamailio tshark timeout; do
        p=$(command -v "$t") && ln -sf "$p" "$nobin/$t"
    done
    PATH=$nobin "$BASH" examples/generate.sh benign >/dev/null 2>"$TMPD/gen.err"
    ok "generate.sh without ss: names it before starting anything ($(head -c 120 "$TMPD/gen.err"))" \
        grep -q "missing tool: ss" "$TMPD/gen.err"
fi

# Capture time. PY_SHIFT IN OUT SECONDS: a classic pcap with every timestamp
# moved by SECONDS (kept unsigned 32-bit, as the format has it).
PY_SHIFT='
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read()); shift = int(sys.argv[3])
assert struct.unpack_from("<I", d, 0)[0] in (0xa1b2c3d4, 0xa1b23c4d)
pos = 24
while pos + 16 <= len(d):
    sec, sub, cl, ol = struct.unpack_from("<IIII", d, pos)
    struct.pack_into("<I", d, pos, (sec + shift) & 0xffffffff)
    pos += 16 + cl
open(sys.argv[2], "wb").write(d)
'
# PY_SCANS FILE: "count window_s" of each SIP-SCAN-002 event, one per line
PY_SCANS='
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev["rule"]["id"] == "SIP-SCAN-002":
        print(ev["evidence"]["count"], ev["evidence"]["window_s"] < 60, ev["first_seen"][:4])
'
# files given out of order (the later one first): two scans two hours apart
# stay two incidents with their own counts and spans (the engine's clock
# follows each file back; it used to stay at the first file's end, and
# nothing closed: one incident of both scans, spanning two hours)
python3 -c "$PY_SHIFT" examples/scan-svmap.pcap "$TMPD/later.pcap" 7200
"$FS38" inspect --config "$CFG" --json "$TMPD/later.pcap" examples/scan-svmap.pcap >"$TMPD/order.ndjson"
python3 -c "$PY_SCANS" "$TMPD/order.ndjson" >"$TMPD/order.txt"
ok "files out of order: two scans, two incidents of 62 within a minute ($(tr '\n' ';' <"$TMPD/order.txt"))" \
    test "$(grep -c '^62 True' "$TMPD/order.txt")" -eq 2 -a "$(wc -l <"$TMPD/order.txt")" -eq 2
# ...and two workers report what one does: the incidents of the first file,
# closed as the clock steps back to the second, are not merged at the end
# with the second file's of the same key (SIP-INFO-001, SIP-TOPO-001: one
# incident of 12 with 2 workers, two of 6 with one)
python3 -c "$PY_SHIFT" examples/spoof-trust.pcap "$TMPD/later-spoof.pcap" 600
for w in 1 2 3; do
    "$FS38" inspect --config "$CFG" --json --workers $w "$TMPD/later-spoof.pcap" examples/spoof-trust.pcap |
        jq -r '[.rule.id, .evidence.count, .first_seen] | @tsv' | sort >"$TMPD/order-w$w.txt"
done
ok "files out of order, --workers 2 and 3: the incidents of --workers 1 ($(wc -l <"$TMPD/order-w1.txt") of them)" \
    test "$(grep -c INFO-001 "$TMPD/order-w1.txt")" -eq 2 -a -z "$(diff "$TMPD/order-w1.txt" "$TMPD/order-w2.txt")" \
    -a -z "$(diff "$TMPD/order-w1.txt" "$TMPD/order-w3.txt")"
# ...each under an event_id of its own, which --pcap-out names for its 6
# messages (the second file's incident took the first one's id from the
# workers' shared registry: its messages were filed under the other event)
"$FS38" inspect --config "$CFG" --json --workers 2 --pcap-out "$TMPD/order.pcapng" --pcap-limit 0 \
    "$TMPD/later-spoof.pcap" examples/spoof-trust.pcap | jq -r 'select(.rule.id == "SIP-INFO-001") | .event_id' |
    sort >"$TMPD/order-ids.txt"
tshark -r "$TMPD/order.pcapng" -T fields -e frame.comment 2>/dev/null | tr ',' '\n' |
    sed -n 's/.*SIP-INFO-001 INFO_DISCLOSURE event \([0-9a-f-]*\).*/\1/p' | sort | uniq -c >"$TMPD/order-pcap.txt"
ok "files out of order, --workers 2: --pcap-out files 6 messages under each SIP-INFO-001 event_id" \
    test "$(awk '{print $1 " " $2}' "$TMPD/order-pcap.txt")" = "$(sed 's/^/6 /' "$TMPD/order-ids.txt")" \
    -a "$(wc -l <"$TMPD/order-ids.txt")" -eq 2
# ...and the calls of the first file time out when the clock steps back,
# all of them (FRAUD-VOL-001 of each file, 180 calls, with 1 worker as with
# 2): the sweep went on a sixteenth of the calls table a second, and the
# second file's INVITEs whose Call-ID a first-file call still held passed
# for its retransmissions (190 or so of 360 calls started, and a
# FRAUD-VOL-001 of about 10 for the second file, or none)
python3 -c "$PY_SHIFT" examples/flood-invite.pcap "$TMPD/later-flood.pcap" 600
for w in 1 2; do
    "$FS38" inspect --config "$CFG" --json --workers $w --stats-json "$TMPD/order-flood-w$w.json" \
        "$TMPD/later-flood.pcap" examples/flood-invite.pcap |
        jq -r 'select(.rule.id == "FRAUD-VOL-001") | [.evidence.count, .evidence.details.calls, .first_seen] | @tsv' |
        sort >"$TMPD/order-flood-w$w.txt"
done
ok "files out of order: 360 calls started ($(stats_calls "$TMPD/order-flood-w1.json"))" \
    test "$(stats_calls "$TMPD/order-flood-w1.json")" = "360 0 0 360"
ok "files out of order: FRAUD-VOL-001 of 180 calls for each file, --workers 1 and 2 ($(tr '\n\t' '; ' <"$TMPD/order-flood-w1.txt"))" \
    test "$(cut -f1,2 "$TMPD/order-flood-w1.txt" | tr '\n\t' ';,')" = "180,180;180,180;" \
    -a -z "$(diff "$TMPD/order-flood-w1.txt" "$TMPD/order-flood-w2.txt")"
# ...and a file 400 s before the first (more than the 5-minute clock step,
# less than the 600 s windows of FRAUD-VOL-001 and FRAUD-WANGIRI-001): the
# caller's windows of the first file are over with its time, the second
# file's counts are its own (its incident read 360 calls, 30 short rings,
# and a last_seen in the first file, 400 s after its own last call)
for f in flood-invite wangiri; do
    python3 -c "$PY_SHIFT" examples/$f.pcap "$TMPD/later400-$f.pcap" 400
    "$FS38" inspect --config "$CFG" --json "$TMPD/later400-$f.pcap" examples/$f.pcap |
        jq -r 'select(.rule.id | startswith("FRAUD-")) | [.rule.id, .evidence.count, .evidence.details.calls,
               .evidence.window_s < 10] | @tsv' >"$TMPD/order400-$f.txt"
done
ok "files 400 s out of order: FRAUD-VOL-001 of 180 calls each ($(tr '\n\t' '; ' <"$TMPD/order400-flood-invite.txt"))" \
    test "$(sort -u "$TMPD/order400-flood-invite.txt" | tr '\n\t' ';,')" = "FRAUD-VOL-001,180,180,true;" \
    -a "$(wc -l <"$TMPD/order400-flood-invite.txt")" -eq 2
ok "files 400 s out of order: FRAUD-WANGIRI-001 of 15 calls each ($(tr '\n\t' '; ' <"$TMPD/order400-wangiri.txt"))" \
    test "$(sort -u "$TMPD/order400-wangiri.txt" | tr '\n\t' ';,')" = "FRAUD-WANGIRI-001,15,15,true;" \
    -a "$(wc -l <"$TMPD/order400-wangiri.txt")" -eq 2
# a pcap's seconds are unsigned 32-bit (to 2106): a capture from 2040 has its
# time (libpcap hands it over negative; it was read as 1970, where a window
# starting at 0 counted as none and the scan went unseen)
python3 -c "$PY_SHIFT" examples/scan-svmap.pcap "$TMPD/y2040.pcap" $((2208988800 - 1795634579))
"$FS38" inspect --config "$CFG" --json "$TMPD/y2040.pcap" >"$TMPD/y2040.ndjson"
python3 -c "$PY_SCANS" "$TMPD/y2040.ndjson" >"$TMPD/y2040.txt"
ok "a capture from 2040: the scan seen in 2040 ($(tr '\n' ';' <"$TMPD/y2040.txt"))" \
    test "$(cat "$TMPD/y2040.txt")" = "62 True 2040"

# the SBC's answers to the malformed requests copy their From, Call-ID, CSeq
# and Via (RFC 3261 8.2.6.2): the sender's fault, not the SBC's (its 500 to
# the unterminated quote in a From earned it a SIP-MAL-001 of its own)
"$FS38" inspect --config "$CFG" --json examples/malformed.pcap >"$TMPD/mal.ndjson"
mal_sources() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    print(e["rule"]["id"], " ".join(o["value"] for o in e["observables"] if o["kind"] == "ip"))
' "$1"; }
mal_sources "$TMPD/mal.ndjson" >"$TMPD/mal.txt"
ok "malformed.pcap: SIP-MAL-001 for the sender 127.0.2.50" grep -q '^SIP-MAL-001 127.0.2.50$' "$TMPD/mal.txt"
ok "malformed.pcap: no event against the SBC echoing it ($(grep 127.0.0.10 "$TMPD/mal.txt" | tr '\n' ';'))" \
    test "$(grep -c '127\.0\.0\.10' "$TMPD/mal.txt")" -eq 0

finish test_examples
