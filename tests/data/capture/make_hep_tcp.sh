#!/usr/bin/env bash
# make_hep_tcp.sh -- regenerate hep-tcp.pcap: HEP v3 over TCP as a Homer
# collector's port sees it. Kamailio (examples/kamailio.cfg, the SBC at
# 127.0.0.10, -A WITH_HEP) mirrors what it receives and sends over one TCP
# connection (siptrace duplicate_uri "sip:127.0.0.1:9060;transport=tcp") to
# `fs38 inspect --hep tcp:127.0.0.1:9060`, while SIPVicious svmap (from
# 127.0.2.5) and svwar (REGISTER to extensions 100-160, from 127.0.2.6) probe it;
# tcpdump records TCP port 9060 only, so the SIP itself is in the file only
# inside HEP. Needs root (tcpdump), kamailio, sipvicious; a build of fs38
# (FS38, default build/release/fs38). tests/cli/test_hep.sh reads the result.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
FS38=${FS38:-$ROOT/build/release/fs38}
DIR=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$DIR"' EXIT
for p in 9060; do
    if ss -Hltun "sport = :$p" | grep -q .; then echo "port $p is in use" >&2; exit 1; fi
done
timeout -k 2 60 tcpdump -i lo --immediate-mode -U -s 0 -w "$DIR/hep-tcp.pcap" "tcp port 9060" 2>"$DIR/tcpdump.err" &
PIDS+=($!)
for _ in $(seq 50); do grep -q "listening on" "$DIR/tcpdump.err" && break; sleep 0.1; done
timeout -k 2 30 "$FS38" inspect -c /dev/null --hep tcp:127.0.0.1:9060 --duration 12 -q >"$DIR/fs38.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do ss -Hltn "src 127.0.0.1:9060" | grep -q . && break; sleep 0.1; done
mkdir -p "$DIR/kam"
timeout -k 2 30 kamailio -f "$ROOT/examples/kamailio.cfg" -DD -E -P "$DIR/kam/pid" -Y "$DIR/kam" -A WITH_HEP \
    -A 'HEP_URI="sip:127.0.0.1:9060;transport=tcp"' >"$DIR/kam.log" 2>&1 &
KPID=$!
PIDS+=($KPID)
for _ in $(seq 50); do ss -Hlun "src 127.0.0.10:5060" | grep -q . && break; sleep 0.1; done
sleep 0.5
timeout -k 2 20 /usr/bin/python3 "$ROOT/examples/sv-bound.py" 127.0.2.5 svmap -p 5060 127.0.0.10 >"$DIR/svmap.log" 2>&1
timeout -k 2 20 /usr/bin/python3 "$ROOT/examples/sv-bound.py" 127.0.2.6 svwar -e100-160 127.0.0.10 \
    >"$DIR/svwar.log" 2>&1 || true # svwar exits 1 when it found no extension
sleep 1
kill "$KPID" # kamailio closes its connection: the FIN is in the file
wait "$KPID" 2>/dev/null || true
sleep 1
kill "${PIDS[0]}"
wait "${PIDS[0]}" 2>/dev/null || true
cp "$DIR/hep-tcp.pcap" "$ROOT/tests/data/capture/hep-tcp.pcap"
tshark -r "$ROOT/tests/data/capture/hep-tcp.pcap" -q -z conv,tcp 2>/dev/null | sed -n '6,8p'
