#!/usr/bin/env bash
# test_benign.sh -- legitimate traffic that looks like attacks must stay quiet
# once the site is configured as docs/rules.md and docs/configuration.md tell
# an operator to (tests/data/benign/site.yaml), and what the built-in defaults
# raise on it is pinned too (documented as configurable). The captures are
# real SIPp/kamailio traffic on loopback (tests/data/benign/generate.sh,
# README.md there).
source "$(dirname "$0")/lib.sh"
D="$ROOT/tests/data/benign"

# run NAME CONFIG TAG: events in $TMPD/NAME.TAG.ndjson
run() {
    "$FS38" inspect --json --config "$2" --stats-json "$TMPD/$1.$3.json" "$D/$1.pcap" \
        >"$TMPD/$1.$3.ndjson" 2>"$TMPD/$1.$3.err"
}
# rules NAME TAG: the rule ids raised, sorted, space separated
rules() {
    python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["rule"]["id"] for l in open(sys.argv[1]) if l.strip()})))' \
        "$TMPD/$1.$2.ndjson"
}
# calls NAME TAG: "started answered cancelled failed"
calls() { stats_calls "$TMPD/$1.$2.json"; }

for n in dialer office sbc-relay keepalive storm restart ims lossy; do
    ok "$n: inspect (site)" run "$n" "$D/site.yaml" site
    ok "$n: inspect (defaults)" run "$n" /dev/null def
done

# 1. predictive dialer: 70 calls from the company's main number to 70
# numbers, a quarter answered, the rest abandoned after 15 s of ringing. No
# Wangiri (rings are long, a quarter answered); FRAUD-VOL-001 (concurrent
# calls) until max_concurrent is raised; the trunk's PAI is SIP-TRUST-001
# (an untrusted customer asserting identity); the core gateway's Server
# version toward a customer is SIP-INFO-001.
ok "dialer: 70 calls, 18 answered, 52 cancelled" is "$(calls dialer site)" "70 18 52 0"
ok "dialer: defaults: only FRAUD-VOL-001" is "$(rules dialer def)" "FRAUD-VOL-001"
ok "dialer: site" is "$(rules dialer site)" "FRAUD-VOL-001 SIP-INFO-001 SIP-TRUST-001"
ok "dialer: VOL-001 says concurrent" grep -q '"trigger":"concurrent"' "$TMPD/dialer.site.ndjson"
{ sed "s|^high_risk_ranges: .*|high_risk_ranges: $D/ranges.txt|" "$D/site.yaml"; printf '  FRAUD-VOL-001:\n    threshold: 500\n    max_concurrent: 200\n'; } >"$TMPD/dialer.yaml"
ok "dialer: inspect (max_concurrent raised)" run dialer "$TMPD/dialer.yaml" tuned
ok "dialer: max_concurrent raised: no VOL-001" is "$(rules dialer tuned)" "SIP-INFO-001 SIP-TRUST-001"
# ... or, without raising the limits for every caller, the dialer's number
# listed in allow_callers (docs/configuration.md): its calls are not judged by
# FRAUD-VOL-001 (nor Wangiri/IRSF-001); the rest of what it does still is
{ sed "s|^high_risk_ranges: .*|high_risk_ranges: $D/ranges.txt|" "$D/site.yaml"; printf 'allow_callers: ["+442071234567,Acme dialer"]\n'; } >"$TMPD/callers.yaml"
ok "dialer: inspect (allow_callers)" run dialer "$TMPD/callers.yaml" callers
ok "dialer: allow_callers: no VOL-001" is "$(rules dialer callers)" "SIP-INFO-001 SIP-TRUST-001"
ok "dialer: allow_callers: its 70 calls counted as allowed" python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["calls"]; sys.exit(c["allowed_caller"] != 70 or c["started"] != 70)' "$TMPD/dialer.callers.json"
ok "dialer: site: none allowed" python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["calls"]["allowed_caller"] != 0)' "$TMPD/dialer.site.json"
# a neighbouring number is not the dialer's: an entry is a prefix, not a range
{ sed "s|^high_risk_ranges: .*|high_risk_ranges: $D/ranges.txt|" "$D/site.yaml"; printf 'allow_callers: ["+442071234568"]\n'; } >"$TMPD/other.yaml"
ok "dialer: inspect (another caller allowed)" run dialer "$TMPD/other.yaml" other
ok "dialer: another caller allowed: VOL-001 still" is "$(rules dialer other)" "FRAUD-VOL-001 SIP-INFO-001 SIP-TRUST-001"
ok "dialer: fs38 rules counts the entry" sh -c '"$1" rules -c "$2" | tail -2 | head -1 | grep -q "^allow_callers: 1 number or prefix not judged by FRAUD-VOL-001, FRAUD-WANGIRI-001, FRAUD-IRSF-001$"' _ "$FS38" "$TMPD/callers.yaml"

# 2. an SBC (core) relaying 150 registrations, 13 with a stale password: our
# own relay is not a brute forcer (SIP-BRUTE-*/ENUM-001 do not judge core
# requesters); without zones it is one more source
ok "sbc-relay: site: quiet" is "$(rules sbc-relay site)" ""
ok "sbc-relay: defaults" is "$(rules sbc-relay def)" "SIP-BRUTE-002 SIP-FLOOD-001"

# 3. office NAT after a password change: 50 phones, 401 then 403 each. Its
# zone's flood_multiplier (10: 100 phones) scales SIP-BRUTE-002 as it scales
# the flood rules
ok "office: site: quiet" is "$(rules office site)" ""
ok "office: defaults" is "$(rules office def)" "SIP-BRUTE-002 SIP-FLOOD-001"
# A sketch's estimate (docs/events.md), never above the 50 failures it is
# drawn from. 50 users in its 511 bits: 50 in 58 % of seeds, 47-50 in 97.7 %,
# below 42 in fewer than 4 seeds in a million (the exact occupancy law); a
# seed repeats its run
ok "office: defaults: about 50 users" grep -Eq '"distinct_users":(4[2-9]|50)[,}]' "$TMPD/office.def.ndjson"
office_users() {
    "$FS38" inspect --json --config /dev/null --seed "$1" "$D/office.pcap" 2>/dev/null |
        grep -o '"distinct_users":[0-9]*' | sort -u | tr '\n' ' '
}
users_once=$(office_users 5eed0ff1ce)
ok "office: --seed: an estimate" test -n "$users_once"
ok "office: --seed: the same estimate again" is "$(office_users 5eed0ff1ce)" "$users_once"

# 4. OPTIONS keepalives: kamailio's dispatcher pinging 30 gateways every 2 s
# (core in the site), a phone qualifying the registrar 4 times a second
ok "keepalive: site: quiet" is "$(rules keepalive site)" ""
ok "keepalive: defaults" is "$(rules keepalive def)" "SIP-FLOOD-001 SIP-SCAN-002"
ok "keepalive: the flood is the dispatcher's OPTIONS" grep -q '"trigger":"OPTIONS"' "$TMPD/keepalive.def.ndjson"

# 5. registration storm: 3 NATs x 60 phones re-register in 2 s, each 401
# challenged first: no brute force or enumeration in any config
ok "storm: site: quiet" is "$(rules storm site)" ""
ok "storm: defaults: floods only" is "$(rules storm def)" "SIP-FLOOD-001"

# 5b. the registrar (kamailio) restarts: 60 phones of one NAT refresh with
# the nonce of their last login, get a fresh 401 without stale=true, and
# register again: no brute force (the nonce had let each of them in)
ok "restart: site: quiet" is "$(rules restart site)" ""
ok "restart: defaults: only the REGISTER burst" is "$(rules restart def)" "SIP-FLOOD-001"

# 6/7. IMS core calls with PAI/PCV/PANI, a UE's private Via, History-Info,
# Diversion, versions; a trusted interconnect's calls to one bridge number,
# 112 calls and calls from our subscribers it diverted back to us (PAI ours:
# no SIP-CLI-001); long calls to an excepted ("!") satellite number
ok "ims: 82 calls answered" is "$(calls ims site)" "82 82 0 0"
ok "ims: site: quiet" is "$(rules ims site)" ""
ok "ims: defaults: quiet" is "$(rules ims def)" ""
grep -v '^!' "$D/ranges.txt" >"$TMPD/ranges.txt"
sed "s|^high_risk_ranges: .*|high_risk_ranges: $TMPD/ranges.txt|" "$D/site.yaml" >"$TMPD/noexc.yaml"
ok "ims: inspect (no exception)" run ims "$TMPD/noexc.yaml" noexc
ok "ims: without the exception the ship calls are IRSF-002" is "$(rules ims noexc)" "FRAUD-IRSF-002"
ok "ims: two of them" is "$(grep -c '"FRAUD-IRSF-002"' "$TMPD/ims.noexc.ndjson")" 2

# 8. lossy path: INVITE sent 4 times, 407 retransmitted, re-INVITE, UPDATE;
# our phones' From carries our domain: not SIP-CLI-001 from an access zone
ok "lossy: 12 calls answered" is "$(calls lossy site)" "12 12 0 0"
ok "lossy: site: quiet" is "$(rules lossy site)" ""
ok "lossy: defaults: quiet" is "$(rules lossy def)" ""

# 8b. a call centre's PBX (198.51.100.70) places 40 calls in a minute
# through its carrier's proxy, which does not record-route: each answer's
# Contact is one of 25 carrier gateways, where the PBX sends its ACK and,
# 20 s later, its BYE (RFC 3261 12.2.1.1). Hanging up its own answered
# calls is no scan; the same BYEs with To-tags no answer gave are one.
carrier_pcap() { # OUT TAG: TAG "g" = the answers' To-tags, else made up
    python3 - "$1" "$2" <<'PY2'
import sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import eth, ip4, udp_c
import struct
out, tag = sys.argv[1], sys.argv[2]
PBX, CP, frames = '198.51.100.70', '203.0.113.100', []
def udp(t, a, b, lines, body=''):
    m = ('\r\n'.join(lines) + '\r\nContent-Length: %d\r\n\r\n' % len(body) + body).encode()
    frames.append((t, eth(ip4(a, b, 17, udp_c(a, b, 5060, 5060, m)))))
sdp = 'v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\n'
for i in range(40):
    t, gw, num = 1700000000 + 1.5 * i, '203.0.113.%d' % (1 + i % 25), '+4479%08d' % (20000000 + i * 7)
    via, frm = 'Via: SIP/2.0/UDP %s:5060;branch=z9hG4bKo%d' % (PBX, i), 'From: <sip:+442071239999@example.net>;tag=o%d' % i
    to, cid, ct = 'To: <sip:%s@carrier.example>' % num, 'Call-ID: out%d@%s' % (i, PBX), 'Contact: <sip:%s@%s:5060>' % (num, gw)
    udp(t, PBX, CP, ['INVITE sip:%s@carrier.example SIP/2.0' % num, via, 'Max-Forwards: 70', frm, to, cid, 'CSeq: 1 INVITE',
        'Contact: <sip:+442071239999@%s:5060>' % PBX, 'Content-Type: application/sdp'], sdp % (PBX, PBX))
    udp(t + 0.01, CP, PBX, ['SIP/2.0 100 Trying', via, frm, to, cid, 'CSeq: 1 INVITE'])
    udp(t + 1.5, CP, PBX, ['SIP/2.0 180 Ringing', via, frm, to + ';tag=g%d' % i, cid, 'CSeq: 1 INVITE', ct])
    udp(t + 5.5, CP, PBX, ['SIP/2.0 200 OK', via, frm, to + ';tag=g%d' % i, cid, 'CSeq: 1 INVITE', ct,
        'Content-Type: application/sdp'], sdp % (gw, gw))
    udp(t + 5.51, PBX, gw, ['ACK sip:%s@%s:5060 SIP/2.0' % (num, gw), via.replace('bKo', 'bKa'), 'Max-Forwards: 70', frm,
        to + ';tag=g%d' % i, cid, 'CSeq: 1 ACK'])
    bye = [via.replace('bKo', 'bKb'), frm, to + ';tag=%s%d' % (tag, i), cid, 'CSeq: 2 BYE']
    udp(t + 25.5, PBX, gw, ['BYE sip:%s@%s:5060 SIP/2.0' % (num, gw), 'Max-Forwards: 70'] + bye)
    udp(t + 25.51, gw, PBX, ['SIP/2.0 %s' % ('200 OK' if tag == 'g' else '481 Call/Transaction Does Not Exist')] + bye)
frames.sort(key=lambda f: f[0])
b = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
for ts, f in frames: b += struct.pack('<IIII', int(ts), int(round((ts - int(ts)) * 1e6)) % 1000000, len(f), len(f)) + f
open(out, 'wb').write(b)
PY2
}
ok "carrier: capture" carrier_pcap "$TMPD/carrier.pcap" g
ok "carrier: inspect" sh -c '"$1" inspect --json -c /dev/null --stats-json "$2.json" "$3" >"$2.ndjson"' _ \
    "$FS38" "$TMPD/carrier.def" "$TMPD/carrier.pcap"
ok "carrier: 40 calls answered" is "$(calls carrier def)" "40 40 0 0"
ok "carrier: defaults: quiet" is "$(rules carrier def)" ""
ok "carrier: made-up tags: capture" carrier_pcap "$TMPD/badtags.pcap" x
ok "carrier: made-up tags: inspect" sh -c '"$1" inspect --json -c /dev/null "$3" >"$2.ndjson"' _ \
    "$FS38" "$TMPD/badtags.def" "$TMPD/badtags.pcap"
ok "carrier: BYEs outside the answered dialogs: a scan" grep -q '"SIP-SCAN-002"' "$TMPD/badtags.def.ndjson"


# 9. a PBX qualifying 80 phones that registered with it from port 5060 (as
# most desk phones do). With --workers the phones' REGISTERs are sharded by
# the phones, the PBX's OPTIONS by the PBX: the worker judging the PBX knows
# the phones through the workers' shared peer table, not its own. OPTIONS to
# 80 addresses that never registered are still a scan, with any workers.
qualify_pcap() { # OUT PHONE_NET: REGISTER + 200 from each phone, then the PBX's OPTIONS to PHONE_NET.x
    python3 - "$1" "$2" <<'PY'
import sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import eth, ip4, udp_c, write_pcap
out, net = sys.argv[1], sys.argv[2]
PBX, N, frames = '198.51.100.50', 80, []
def msg(lines): return ('\r\n'.join(lines) + '\r\nContent-Length: 0\r\n\r\n').encode()
def udp(a, b, m): frames.append(eth(ip4(a, b, 17, udp_c(a, b, 5060, 5060, m))))
for i in range(N):
    ph, u = '198.51.100.%d' % (100 + i), 200 + i
    head = ['Via: SIP/2.0/UDP %s:5060;branch=z9hG4bKr%d' % (ph, i), 'From: <sip:%d@pbx.example>;tag=r%d' % (u, i)]
    udp(ph, PBX, msg(['REGISTER sip:pbx.example SIP/2.0'] + head + ['Max-Forwards: 70', 'To: <sip:%d@pbx.example>' % u,
        'Call-ID: reg%d' % i, 'CSeq: 1 REGISTER', 'Contact: <sip:%d@%s:5060>' % (u, ph), 'Expires: 3600']))
    udp(PBX, ph, msg(['SIP/2.0 200 OK'] + head + ['To: <sip:%d@pbx.example>;tag=p%d' % (u, i), 'Call-ID: reg%d' % i,
        'CSeq: 1 REGISTER', 'Contact: <sip:%d@%s:5060>;expires=3600' % (u, ph)]))
for i in range(N):
    ph, u = '%s.%d' % (net, 100 + i), 200 + i
    udp(PBX, ph, msg(['OPTIONS sip:%d@%s:5060 SIP/2.0' % (u, ph), 'Via: SIP/2.0/UDP %s:5060;branch=z9hG4bKq%d' % (PBX, i),
        'Max-Forwards: 70', 'From: <sip:pbx@pbx.example>;tag=q%d' % i, 'To: <sip:%d@%s:5060>' % (u, ph),
        'Call-ID: q%d' % i, 'CSeq: 1 OPTIONS']))
write_pcap(out, frames)
PY
}
ok "qualify: capture" qualify_pcap "$TMPD/qualify.pcap" 198.51.100
ok "qualify: unregistered targets: capture" qualify_pcap "$TMPD/unknown.pcap" 198.51.101
for w in 1 2; do
    ok "qualify: --workers $w: inspect" sh -c '"$1" inspect --json -c /dev/null --workers $2 --stats-json "$3.json" "$4" >"$3.ndjson"' _ \
        "$FS38" "$w" "$TMPD/qualify.w$w" "$TMPD/qualify.pcap"
    ok "qualify: --workers $w: quiet" is "$(rules qualify w$w)" ""
    ok "unknown: --workers $w: inspect" sh -c '"$1" inspect --json -c /dev/null --workers $2 "$3" >"$4.ndjson"' _ \
        "$FS38" "$w" "$TMPD/unknown.pcap" "$TMPD/unknown.w$w"
    ok "unknown: --workers $w: a scan" is "$(rules unknown w$w)" "SIP-SCAN-002"
done
# the PBX and the phones were on different workers (else the test proves nothing)
ok "qualify: --workers 2: both workers read" python3 -c 'import json,sys; sys.exit(min(json.load(open(sys.argv[1]))["worker_messages"]) < 40)' "$TMPD/qualify.w2.json"

# 10. a PBX's ring-all hunt group: each inbound call rings 12 registered
# phones (a B2BUA: one Call-ID per phone, From the caller). 6 calls from 6
# callers: 3 answered (the other legs cancelled with Reason SIP;cause=200),
# 3 abandoned by the caller after 3 s (the PBX cancels the 12 legs at once,
# no Reason). An abandoned call is one short ring, not 12: no Wangiri
# against the caller, nor (withheld numbers) against the PBX. The same 12
# numbers rung one after another, 0.3 s apart, are a Wangiri campaign.
ringgroup_pcap() { # OUT MODE: group (the hunt group) | campaign (12 calls in a row, each cancelled 3 s in)
    python3 - "$1" "$2" <<'PY2'
import sys
sys.path.insert(0, 'tests/data/capture')
from pcapgen import eth, ip4, udp_c
import struct
out, mode = sys.argv[1], sys.argv[2]
PBX, frames, t = '192.0.2.40', [], [1700000000.0]
def msg(lines, body=''): return ('\r\n'.join(lines) + '\r\nContent-Length: %d\r\n\r\n' % len(body) + body).encode()
def udp(a, b, m, dt=0.001):
    frames.append((t[0], eth(ip4(a, b, 17, udp_c(a, b, 5060, 5060, m))))); t[0] += dt
phones = ['192.0.2.%d' % (41 + j) for j in range(12)]
for j, ph in enumerate(phones):
    h = ['Via: SIP/2.0/UDP %s:5060;branch=z9hG4bKr%d' % (ph, j), 'From: <sip:3%02d@pbx.example>;tag=r%d' % (j, j),
         'To: <sip:3%02d@pbx.example>' % j, 'Call-ID: reg%d' % j, 'CSeq: 1 REGISTER']
    udp(ph, PBX, msg(['REGISTER sip:pbx.example SIP/2.0'] + h + ['Max-Forwards: 70', 'Contact: <sip:3%02d@%s>' % (j, ph), 'Expires: 3600']))
    udp(PBX, ph, msg(['SIP/2.0 200 OK'] + h[:2] + [h[2] + ';tag=p%d' % j] + h[3:] + ['Contact: <sip:3%02d@%s>;expires=3600' % (j, ph)]))
sdp = 'v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n' % (PBX, PBX)
for n in range(6 if mode == 'group' else 1):
    caller = '+4479111%05d' % n if n % 3 or mode == 'campaign' else 'anonymous'
    step = 0.001 if mode == 'group' else 0.3
    legs = []
    for j, ph in enumerate(phones):
        cid = 'rg%d-%d@%s' % (n, j, PBX)
        h = ['Via: SIP/2.0/UDP %s:5060;branch=z9hG4bKi%d-%d' % (PBX, n, j), 'Max-Forwards: 70',
             'From: <sip:%s@pbx.example>;tag=f%d-%d' % (caller, n, j), 'To: <sip:3%02d@pbx.example>' % j, 'Call-ID: ' + cid]
        udp(PBX, ph, msg(['INVITE sip:3%02d@%s SIP/2.0' % (j, ph)] + h + ['CSeq: 1 INVITE', 'Contact: <sip:%s>' % PBX,
            'Content-Type: application/sdp'], sdp), step)
        udp(ph, PBX, msg(['SIP/2.0 180 Ringing'] + h[:1] + h[2:3] + [h[3] + ';tag=t%d' % j] + h[4:] + ['CSeq: 1 INVITE']), 0)
        legs.append((j, ph, h))
    t[0] += 3 if mode == 'group' else 0  # a campaign: each call cancelled 3.6 s after its INVITE
    answered = mode == 'group' and n % 2 == 0
    for j, ph, h in legs:
        resp = h[:1] + h[2:3] + [h[3] + ';tag=t%d' % j] + h[4:]
        if answered and j == 0:
            udp(ph, PBX, msg(['SIP/2.0 200 OK'] + resp + ['CSeq: 1 INVITE', 'Contact: <sip:%s>' % ph, 'Content-Type: application/sdp'], sdp))
            udp(PBX, ph, msg(['ACK sip:3%02d@%s SIP/2.0' % (j, ph), h[0].replace('bKi', 'bKa')] + h[1:3] + resp[2:] + ['CSeq: 1 ACK']))
            continue
        reason = ['Reason: SIP;cause=200;text="Call completed elsewhere"'] if answered else []
        udp(PBX, ph, msg(['CANCEL sip:3%02d@%s SIP/2.0' % (j, ph)] + h + ['CSeq: 1 CANCEL'] + reason), step)
        udp(ph, PBX, msg(['SIP/2.0 200 OK'] + resp + ['CSeq: 1 CANCEL']), 0)
        udp(ph, PBX, msg(['SIP/2.0 487 Request Terminated'] + resp + ['CSeq: 1 INVITE']), 0)
        udp(PBX, ph, msg(['ACK sip:3%02d@%s SIP/2.0' % (j, ph)] + h[:3] + resp[2:] + ['CSeq: 1 ACK']), 0)
    t[0] += 20
frames.sort(key=lambda f: f[0])
b = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
for ts, f in frames: b += struct.pack('<IIII', int(ts), int(round((ts - int(ts)) * 1e6)) % 1000000, len(f), len(f)) + f
open(out, 'wb').write(b)
PY2
}
ok "ringgroup: capture" ringgroup_pcap "$TMPD/ringgroup.pcap" group
ok "ringgroup: inspect" sh -c '"$1" inspect --json -c /dev/null --stats-json "$2.json" "$3" >"$2.ndjson"' _ \
    "$FS38" "$TMPD/ringgroup.def" "$TMPD/ringgroup.pcap"
ok "ringgroup: 72 legs, 3 answered, 69 cancelled" is "$(calls ringgroup def)" "72 3 69 0"
ok "ringgroup: defaults: quiet" is "$(rules ringgroup def)" ""
ok "campaign: capture" ringgroup_pcap "$TMPD/campaign.pcap" campaign
ok "campaign: inspect" sh -c '"$1" inspect --json -c /dev/null "$3" >"$2.ndjson"' _ \
    "$FS38" "$TMPD/campaign.def" "$TMPD/campaign.pcap"
ok "campaign: the same 12 numbers in a row: Wangiri" is "$(rules campaign def)" "FRAUD-WANGIRI-001"

finish test_benign
