#!/usr/bin/env bash
# test_links.sh -- link types with no Ethernet header (tests/data/capture/
# links-*.pcap, made by make_tunnels.py): PPP (9), PPP serial with PPP and
# Cisco HDLC framing (50), Cisco HDLC (104, an MPLS label in one), Linux NFLOG
# (239), and NFLOG from a big-endian host (libpcap turns its TLV headers to
# our order). Each OPTIONS (Call-ID link-N) comes with a scanner's User-Agent
# from its own source, so each message read is a SIP-SCAN-001 incident; the
# messages and their frames are checked against tshark -Y sip on each file,
# and with --workers 2 (the shard peek reads the same headers). LCP, SLARP
# and an NFLOG record with no payload are not IP.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_links.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

seen() { jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.evidence.sample["x-capture"].frame) \(.evidence.sample.call_id)"' "$1" | sort; }
for name in ppp:2:1 pppserial:2:1 chdlc:3:1 nflog:2:1 nflog-be:1:0; do
    IFS=: read -r kind msgs notip <<<"$name"
    pcap=tests/data/capture/links-$kind.pcap
    expect_exit 0 "inspect links-$kind.pcap" "$FS38" inspect --json --stats-json "$TMPD/s.json" "$pcap"
    seen "$TMPD/out" >"$TMPD/ours"
    tshark -r "$pcap" -Y sip -T fields -e frame.number -e sip.Call-ID 2>/dev/null | tr '\t' ' ' | sort >"$TMPD/tshark"
    ok "$kind: $msgs messages" is "$(wc -l <"$TMPD/ours")" "$msgs"
    ok "$kind: the messages and frames tshark reads" is "$(cat "$TMPD/ours")" "$(cat "$TMPD/tshark")"
    ok "$kind: $notip frame not IP" is "$(jq -r .capture.not_ip "$TMPD/s.json")" "$notip"
    expect_exit 0 "inspect --workers 2 links-$kind.pcap" "$FS38" inspect --workers 2 --json "$pcap"
    ok "$kind: --workers 2 the same" is "$(seen "$TMPD/out")" "$(cat "$TMPD/ours")"
done
expect_exit 0 "the MPLS label in Cisco HDLC" "$FS38" inspect --json tests/data/capture/links-chdlc.pcap
ok "x-encap names the label" is \
    "$(jq -c 'select(.evidence.sample.call_id == "link-7") | .evidence.sample["x-encap"]' "$TMPD/out")" '[{"kind":"mpls","id":100}]'

finish test_links
