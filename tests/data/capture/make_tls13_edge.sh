#!/usr/bin/env bash
# make_tls13_edge.sh -- regenerate tls13-hrr.pcap/.keys and tls13-0rtt.pcap/.keys:
# SIP OPTIONS and 200s over TLS 1.3 between openssl s_client (127.0.77.2) and
# s_server (127.0.77.1:5061), recorded by tcpdump on lo; both sides' key logs.
#   tls13-hrr:  the server accepts only P-384, the client offers X25519 first:
#               a HelloRetryRequest, and each side's middlebox-compatible CCS
#               before the ServerHello (RFC 8446 4.1.4, D.4)
#   tls13-0rtt: a first connection, then a resumption whose OPTIONS goes as
#               0-RTT early data (RFC 8446 2.3), then one after the handshake
# Run as root; tests/cli/test_tls.sh reads the result. Keys are random.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DIR=$(mktemp -d)
trap 'kill "${TP:-}" 2>/dev/null; rm -rf "$DIR"' EXIT
cd "$DIR"
H=127.0.77.1
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 -subj /CN=$H 2>/dev/null
req() { printf 'OPTIONS sip:100@%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.77.2;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nFrom: <sip:100@%s>;tag=%s\r\nTo: <sip:100@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n' $H "$1" $H "$1" $H "$1"; }
resp() { printf 'SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.77.2;branch=z9hG4bK-%s\r\nFrom: <sip:100@%s>;tag=%s\r\nTo: <sip:100@%s>;tag=srv\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$1" $H "$1" $H "$1"; }
record() { # NAME: start tcpdump
    timeout -k 2 30 tcpdump -i lo -U -s 0 -w "$1.pcap" "host $H and tcp" 2>"$1.tcpdump.err" &
    TP=$!
    for _ in $(seq 50); do grep -q "listening on" "$1.tcpdump.err" && break; sleep 0.1; done
}
finish() { # NAME: stop tcpdump, keep the capture and both key logs
    sleep 0.3
    kill "$TP"; wait "$TP" 2>/dev/null || true
    cat "$1.skeys" >>"$1.keys"
    cp "$1.pcap" "$ROOT/tests/data/capture/$1.pcap"
    cp "$1.keys" "$ROOT/tests/data/capture/$1.keys"
    echo "$1.pcap: $(tshark -r "$1.pcap" 2>/dev/null | wc -l) frames, $1.keys: $(grep -c . "$1.keys") lines"
}
N=tls13-hrr
record $N
(sleep 1.0; resp "$N-1"; sleep 1.8) | timeout -k 2 10 openssl s_server -accept $H:5061 -cert cert.pem -key key.pem \
    -keylogfile $N.skeys -naccept 1 -tls1_3 -groups P-384 >/dev/null 2>&1 &
SP=$!
sleep 0.4
(sleep 0.5; req "$N-1"; sleep 2.1) | timeout -k 2 10 openssl s_client -connect $H:5061 -bind 127.0.77.2:0 \
    -tls1_3 -groups X25519:P-384 -keylogfile $N.keys >/dev/null 2>&1
wait $SP || true
finish $N
N=tls13-0rtt
req "$N-early" >$N.early
record $N
(sleep 1.0; resp "$N-1"; sleep 2.5; resp "$N-2"; sleep 1.5) | timeout -k 2 15 openssl s_server -tls1_3 -early_data \
    -accept $H:5061 -cert cert.pem -key key.pem -keylogfile $N.skeys -naccept 2 >/dev/null 2>&1 &
SP=$!
sleep 0.4
(sleep 0.5; req "$N-1"; sleep 1.0) | timeout -k 2 10 openssl s_client -tls1_3 -connect $H:5061 -bind 127.0.77.2:0 \
    -sess_out $N.sess -keylogfile $N.keys >/dev/null 2>&1
(sleep 0.5; req "$N-2"; sleep 1.0) | timeout -k 2 10 openssl s_client -tls1_3 -connect $H:5061 -bind 127.0.77.2:0 \
    -sess_in $N.sess -early_data $N.early -keylogfile $N.keys >/dev/null 2>&1
wait $SP || true
finish $N
