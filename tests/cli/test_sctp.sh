#!/usr/bin/env bash
# test_sctp.sh -- SIP over SCTP in captures (RFC 4168; tests/data/capture/
# sctp.pcap, made by make_tunnels.py). Each OPTIONS (Call-ID sctp-N) is one
# user message in a DATA chunk: alone, two bundled after a SACK, one on a port
# that is not a SIP port (the start-line heuristic, over IPv6). A message split
# over two chunks is counted (capture.sctp_fragmented) and not read, Diameter
# on 3868 is not SIP, a chunk whose length runs past its packet is bad_ip.
# The messages are checked against tshark -Y sip on the same file.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_sctp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

PCAP=tests/data/capture/sctp.pcap
ids() { tr ',' '\n' | sort -V | tr '\n' ' ' | sed 's/ $//'; }
# every message's Call-ID once: the SIP-SCAN-001 incident of each source
# counts its messages; the bundled pair shares a source (its sample is one)
stat() { jq -r "$2" "$1"; }

expect_exit 0 "inspect sctp.pcap" "$FS38" inspect --json --stats-json "$TMPD/s.json" "$PCAP"
ok "4 messages over SCTP" is "$(stat "$TMPD/s.json" .transports.sctp)" 4
ok "SCAN-001 per source, counting its messages" is \
    "$(jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.observables[] | select(.kind == "ip") | .value)=\(.evidence.count)"' "$TMPD/out" | sort -V | tr '\n' ' ')" \
    "10.2.0.1=1 10.2.0.2=2 2001:db8:2::4=1 "
ok "SCTP packets counted" is "$(stat "$TMPD/s.json" .capture.sctp_packets)" 7
ok "the split message counted, not read" is "$(stat "$TMPD/s.json" .capture.sctp_fragmented)" 2
ok "the overlong chunk is bad_ip" is "$(stat "$TMPD/s.json" .capture.bad_ip)" 1
ok "nothing else is SIP" is "$(stat "$TMPD/s.json" .not_sip)" 0

tshark -r "$PCAP" -Y sip -T fields -e sip.Call-ID 2>/dev/null | ids >"$TMPD/tshark"
ok "tshark finds the same 4 messages" is "$(cat "$TMPD/tshark")" "sctp-1 sctp-2 sctp-3 sctp-4"

expect_exit 0 "inspect --workers 2" "$FS38" inspect --workers 2 --json --stats-json "$TMPD/s2.json" "$PCAP"
ok "--workers 2: the same 4 messages" is "$(stat "$TMPD/s2.json" .transports.sctp)" 4

finish test_sctp
