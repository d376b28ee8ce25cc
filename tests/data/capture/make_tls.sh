#!/usr/bin/env bash
# make_tls.sh -- regenerate tls.pcap and tls.keys: SIP over TLS and secure
# WebSocket between real peers (tests/cli/tls_peers.sh: Kamailio, Python's
# ssl, openssl s_client) on loopback, recorded by tcpdump; the clients' key
# log is tls.keys. Run as root from anywhere; tests/cli/test_tls.sh reads
# the result. The keys are random: every run makes different bytes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
source "$ROOT/tests/cli/tls_peers.sh"
DIR=$(mktemp -d)
trap 'kill "${TLS_KPID:-}" "${TPID:-}" 2>/dev/null; rm -rf "$DIR"' EXIT
tls_setup "$DIR" || { echo "make_tls.sh: kamailio refuses the TLS config" >&2; exit 1; }
tls_start "$DIR" || { echo "make_tls.sh: kamailio did not start: $(tail -3 "$DIR/kamailio.log")" >&2; exit 1; }
timeout -k 2 60 tcpdump -i lo -U -s 0 -w "$DIR/tls.pcap" "$TLS_BPF" 2>"$DIR/tcpdump.err" &
TPID=$!
for _ in $(seq 50); do grep -q "listening on" "$DIR/tcpdump.err" && break; sleep 0.1; done
tls_clients "$DIR/keys" "$DIR/clients.out" || { cat "$DIR/clients.out" >&2; exit 1; }
sleep 0.5
kill "$TPID"; wait "$TPID" || true
cp "$DIR/tls.pcap" "$ROOT/tests/data/capture/tls.pcap"
cp "$DIR/keys" "$ROOT/tests/data/capture/tls.keys"
echo "tls.pcap: $(tshark -r "$DIR/tls.pcap" 2>/dev/null | wc -l) frames, tls.keys: $(grep -c . "$DIR/keys") lines"
