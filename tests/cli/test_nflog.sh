#!/usr/bin/env bash
# test_nflog.sh -- live capture from a Linux NFLOG group (libpcap's
# "nflog:GROUP" device): an nftables rule logs SIP sent to 127.0.3.9:5099
# to group 7, `fs38 inspect -i nflog:7` reads it with no BPF filter
# (libpcap cannot filter NFLOG; the rule chose), and three OPTIONS with a
# scanner's User-Agent must be one SIP-SCAN-001 incident counting 3. The
# table is removed on exit.
#
# Needs root and nft (nftables). When the kernel refuses the nftables table
# (no nf_tables here, or no CAP_NET_ADMIN), the test says so and runs nothing:
# that is this host's limit, not fs38's.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_nflog.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

TABLE=fs38test_nflog_$$
GROUP=7
if ! command -v nft >/dev/null; then
    fail "nft not installed (scripts/setup.sh installs nftables)"
    finish test_nflog
    exit
fi
if ! nft add table inet "$TABLE" 2>"$TMPD/nft.err"; then
    echo "test_nflog: NOTE: nothing run, the kernel refused an nftables table: $(head -1 "$TMPD/nft.err")" >&2
    finish test_nflog
    exit
fi
# replaces lib.sh's EXIT trap, so it removes $TMPD too
trap 'nft delete table inet "$TABLE" 2>/dev/null; rm -rf "$TMPD"' EXIT
nft add chain inet "$TABLE" out '{ type filter hook output priority 0; }' &&
    nft add rule inet "$TABLE" out ip daddr 127.0.3.9 udp dport 5099 log group "$GROUP"
ok "the NFLOG rule is in place" bash -c "nft list table inet $TABLE | grep -q 'log group $GROUP'"

timeout 30 "$FS38" inspect -i "nflog:$GROUP" --duration 5 --json --stats-json "$TMPD/s.json" \
    >"$TMPD/ev.json" 2>"$TMPD/live.err" &
pid=$!
for _ in $(seq 50); do grep -q "capturing on" "$TMPD/live.err" && break; sleep 0.1; done
sleep 0.5
python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    m = ("OPTIONS sip:100@127.0.3.9 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-nf%d\r\n"
         "From: <sip:100@127.0.3.9>;tag=nf%d\r\nTo: <sip:100@127.0.3.9>\r\nCall-ID: nflog-%d\r\nCSeq: 1 OPTIONS\r\n"
         "Max-Forwards: 70\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n" % (i, i, i)).encode()
    s.sendto(m, ("127.0.3.9", 5099))
PY
wait "$pid"
rc=$?
ok "inspect -i nflog:$GROUP exits 0" is "$rc" 0
ok "it says it captures with no filter" grep -q "^fs38 inspect: capturing on nflog:$GROUP, no filter (the NFLOG group's rule chose), 1 worker;" "$TMPD/live.err"
ok "no read error" bash -c "! grep -q 'frame\\|error' '$TMPD/live.err'"
ok "one SIP-SCAN-001 incident counting the 3 messages" is \
    "$(jq -r 'select(.rule.id == "SIP-SCAN-001") | "\(.evidence.count) \(.evidence.sample.dst)"' "$TMPD/ev.json")" "3 127.0.3.9:5099"
ok "3 frames, all IP" is "$(jq -r '"\(.capture.frames) \(.capture.not_ip)"' "$TMPD/s.json")" "3 0"

finish test_nflog
