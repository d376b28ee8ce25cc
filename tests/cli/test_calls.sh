#!/usr/bin/env bash
# test_calls.sh -- the call tracker on captures of real SIP stacks (SIPp and
# kamailio on loopback, tests/data/calls/README.md): the calls counted in
# --stats-json and the fraud rules raised.
source "$(dirname "$0")/lib.sh"
D="$ROOT/tests/data/calls"

# inspect NAME: events in $TMPD/NAME.ndjson, statistics in $TMPD/NAME.json
inspect() {
    "$FS38" inspect --json --config "$D/calls.yaml" --stats-json "$TMPD/$1.json" "$D/$1.pcap" \
        >"$TMPD/$1.ndjson" 2>"$TMPD/$1.err"
}
# calls NAME: "started answered cancelled failed"
calls() { stats_calls "$TMPD/$1.json"; }
# rule_count NAME RULE: events of RULE
rule_count() { grep -c "\"id\":\"$2\"" "$TMPD/$1.ndjson"; }

# a 302 followed by a new INVITE to the Contact is one call, answered, not
# failed, and to the number redirected to (+882: FRAUD-IRSF-001/-002)
ok "redirect: inspect" inspect redirect-irsf
ok "redirect: 3 started, 3 answered, none failed" is "$(calls redirect-irsf)" "3 3 0 0"
ok "redirect: IRSF-001 on the 3 numbers redirected to" is "$(rule_count redirect-irsf FRAUD-IRSF-001)" 1
ok "redirect: IRSF-001 counts 3" grep -q '"distinct_numbers":3' "$TMPD/redirect-irsf.ndjson"
ok "redirect: IRSF-002 for each 5 s call" is "$(rule_count redirect-irsf FRAUD-IRSF-002)" 3
ok "redirect: the callee is the Contact" grep -q '"value":"+8821310000","role":"callee"' "$TMPD/redirect-irsf.ndjson"

# the proxy recursing on the 302 itself (lab/kamailio-redirect.cfg, get_redirects): its
# INVITE to the Contact (same Call-ID and CSeq) names the +882 number the call went to,
# which the caller's leg never shows (with one worker: the proxy's leg is the call's)
ok "proxy redirect: inspect" inspect redirect-proxy
ok "proxy redirect: 3 started, 3 answered" is "$(calls redirect-proxy)" "3 3 0 0"
ok "proxy redirect: IRSF-001 on the 3 numbers the proxy followed" grep -q '"distinct_numbers":3' "$TMPD/redirect-proxy.ndjson"
ok "proxy redirect: IRSF-002 for each 4 s call" grep -q '"long_calls":3' "$TMPD/redirect-proxy.ndjson"
ok "proxy redirect: the callee is the Contact" grep -q '"value":"+8821310000","role":"callee"' "$TMPD/redirect-proxy.ndjson"

# parallel forking: two 180s, one 200, 487 on the other branch: answered
ok "fork: inspect" inspect fork-parallel
ok "fork: 3 started, 3 answered" is "$(calls fork-parallel)" "3 3 0 0"
ok "fork: no events" is "$(wc -l <"$TMPD/fork-parallel.ndjson")" 0

# CANCEL that lost the race with the 200: answered, not cancelled calls;
# the caller hangs up 1 s after each answer, to 12 numbers, but each was
# answered 1.5 ms after its INVITE: by a machine (no person picks up that
# fast, and no one is left with a missed call), so not one-ring calls
# (max_answered_s needs a pickup after 1 s or more: test_detect)
ok "race: inspect" inspect cancel-race
ok "race: 12 started, 12 answered" is "$(calls cancel-race)" "12 12 0 0"
ok "race: answered at once, by a machine: no Wangiri" is "$(rule_count cancel-race FRAUD-WANGIRI-001)" 0

# a 407 challenge answered with credentials: one call, not failed
ok "auth: inspect" inspect auth-407
ok "auth: 3 started, 3 answered" is "$(calls auth-407)" "3 3 0 0"

# a proxy failing over (503 from its first hop, then another rings) and the
# caller's CANCEL after 2 s: the 503 on the proxy's leg does not end the call,
# whose CANCEL is a short ring, as with --workers 2 (FRAUD-WANGIRI-001)
ok "failover: inspect" inspect failover-wangiri
ok "failover: 15 started, 15 cancelled, none failed" is "$(calls failover-wangiri)" "15 0 15 0"
ok "failover: Wangiri on the 15 short rings" is "$(rule_count failover-wangiri FRAUD-WANGIRI-001)" 1

# business_hours: examples/irsf.pcap (10 numbers of high-risk ranges from one caller) was
# captured on Wednesday 2026-11-25 at 19:23 UTC: 20:23 in Paris, 14:23 in New York. With
# threshold 20 nobody is flagged; off_hours_threshold 5 flags it only where that is off hours.
SITE="$ROOT/examples/site.yaml"
hours() { # ZONE TO: the site config with business hours to TO in ZONE, IRSF-001 at 20 (5 off hours)
    sed -e "s|^high_risk_ranges: \.\./|high_risk_ranges: $ROOT/|" "$SITE" >"$TMPD/bh.yaml"
    printf 'business_hours: {timezone: %s, days: [mon, tue, wed, thu, fri], from: "08:00", to: "%s"}\n' "$1" "$2" >>"$TMPD/bh.yaml"
    sed -i 's|^rules:.*|rules:\n  FRAUD-IRSF-001: {threshold: 20, off_hours_threshold: 5}|' "$TMPD/bh.yaml"
    "$FS38" inspect --json -c "$TMPD/bh.yaml" "$ROOT/examples/irsf.pcap" 2>"$TMPD/bh.err" |
        jq -r 'select(.rule.id == "FRAUD-IRSF-001") | "\(.evidence.details.off_hours) \(.evidence.details.distinct_numbers)"'
}
ok "off hours in Paris at 20:23: IRSF-001 at the off-hours threshold" is "$(hours Europe/Paris 19:00)" "yes 10"
ok "...within hours that end at 21:00: under the threshold of 20" is "$(hours Europe/Paris 21:00)" ""
ok "...14:23 in New York is within its hours" is "$(hours America/New_York 19:00)" ""
ok "...a zone tzdata does not have is an error naming it" is \
    "$(hours Europe/Atlantis 19:00; grep -c "no time zone 'Europe/Atlantis'" "$TMPD/bh.err")" 1
hours Europe/Paris 19:00 >/dev/null
ok "fs38 rules tells the hours" grep -q "^business hours: mon tue wed thu fri 08:00-19:00 Europe/Paris" \
    <<<"$("$FS38" rules -c "$TMPD/bh.yaml")"

finish test_calls
