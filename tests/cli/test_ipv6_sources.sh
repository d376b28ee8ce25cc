#!/usr/bin/env bash
# test_ipv6_sources.sh -- IPv6 attackers sending every request from another
# address of their /64 (tests/data/capture/v6rot-*.pcap: real svmap, svwar,
# svcrack and a SIPp INVITE flood moved to 2001:db8:1:2::/64 by
# make_ipv6_rotation.py). Counted per address, no address reaches a
# threshold and the attacks went unreported; counted per /64
# (state.ipv6_source_prefix, default 64) each is one incident naming the
# network to block (`cidr`) and the address of its sample (`ip`), with one
# worker or several (the workers shard IPv6 clients by the same network).
#
# Usage: FS38=build/asan/fs38 tests/cli/test_ipv6_sources.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

CFG=tests/data/cli/ipv6-site.yaml
not() { ! "$@"; }
NET=2001:db8:1:2::/64

# rule id, count, cidr and ip observables, sample src of every event: one per line
PY_EVENTS='
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.strip():
        continue
    ev = json.loads(line)
    obs = ev["observables"]
    cidr = ",".join(o["value"] for o in obs if o["kind"] == "cidr" and o["role"] == "source") or "-"
    ip = ",".join(o["value"] for o in obs if o["kind"] == "ip" and o["role"] == "source") or "-"
    print(ev["rule"]["id"], ev["evidence"]["count"], cidr, ip, ev["evidence"]["sample"]["src"])
'

# check_once FILE RULE COUNT: RULE fired exactly once, COUNT messages,
# naming $NET and, as ip, the address of its sample
check_once() {
    local n line
    n=$(grep -c "^$2 " "$1")
    ok "$1: $2 fired once (got $n)" [ "$n" -eq 1 ]
    line=$(grep "^$2 " "$1" | head -1)
    read -r _ count cidr ip src <<<"$line"
    ok "$1: $2 count $3 (got ${count:-none})" [ "${count:-0}" = "$3" ]
    ok "$1: $2 names $NET (got ${cidr:-none})" [ "${cidr:-}" = "$NET" ]
    ok "$1: $2 ip is its sample's address ($ip, $src)" [ "[${ip:-}]:5060" = "${src:-}" ]
}

# name: the rules counting per source that must fire, as RULE:COUNT
declare -A MUST=(
    [scan-svmap]="SIP-SCAN-002:62 SIP-SCAN-001:62"
    [enum-svwar]="SIP-ENUM-001:202 SIP-FLOOD-001:202 SIP-SCAN-001:202"
    [brute-svcrack]="SIP-BRUTE-001:40 SIP-SCAN-001:41"
    [flood-invite]="SIP-FLOOD-001:360"
)
for name in scan-svmap enum-svwar brute-svcrack flood-invite; do
    pcap=tests/data/capture/v6rot-$name.pcap
    for workers in 1 2; do
        out=$TMPD/$name-$workers
        expect_exit 0 "$name --workers $workers" \
            "$FS38" inspect -c "$CFG" --json --seed 1 --workers $workers "$pcap"
        python3 -c "$PY_EVENTS" "$TMPD/out" >"$out"
        for want in ${MUST[$name]}; do check_once "$out" "${want%%:*}" "${want##*:}"; done
        jq -r 'select(.rule.id == "SIP-SCAN-002") | "\(.evidence.details.probes) \(.evidence.details.distinct_targets)"' \
            "$TMPD/out" >"$out.scan"
    done
    # the workers' shares of one scan add up to what one worker reports (31 + 31 probes, 62;
    # the distinct targets are sketch estimates, summed: within 2)
    [ "$name" = scan-svmap ] && ok "$name: SIP-SCAN-002 probes and targets with 2 workers ($(cat "$TMPD/$name-2.scan")) as with 1 ($(cat "$TMPD/$name-1.scan"))" \
        awk -v a="$(cat "$TMPD/$name-1.scan")" -v b="$(cat "$TMPD/$name-2.scan")" \
        'BEGIN { split(a, x, " "); split(b, y, " "); d = x[2] - y[2]; exit !(x[1] == 62 && y[1] == 62 && d * d <= 4) }'
    # per address (128), as before: none of these rules fires
    printf 'state: {ipv6_source_prefix: 128}\n' >"$TMPD/per-address.yaml"
    cat "$CFG" >>"$TMPD/per-address.yaml"
    expect_exit 0 "$name per address" "$FS38" inspect -c "$TMPD/per-address.yaml" --json --seed 1 "$pcap"
    python3 -c "$PY_EVENTS" "$TMPD/out" >"$TMPD/$name-128"
    ok "$name per address: no counting rule fires" \
        not grep -qE '^(SIP-SCAN-002|SIP-ENUM-001|SIP-BRUTE-001|SIP-FLOOD-001) ' "$TMPD/$name-128"
    ok "$name per address: no cidr" not grep -q ' 2001:db8:1:2::/64 ' "$TMPD/$name-128"
done

# the summary lists the /64 as one talker
expect_exit 0 "summary" "$FS38" inspect -c "$CFG" --seed 1 tests/data/capture/v6rot-flood-invite.pcap
ok "summary: the /64 is the top talker" \
    grep -qE '^  2001:db8:1:2::/64 +360 requests' <(sed -n '/^TOP TALKERS/,/^$/p' "$TMPD/out")

finish test_ipv6_sources
