#!/usr/bin/env bash
# make_tls_weak.sh -- regenerate tls-weak.pcap and tls-weak.keys (the
# clients' key log, SSLKEYLOGFILE's format): SIP servers on port 5061
# agreeing to each TLS version a client asks for, between real OpenSSL peers
# (openssl s_server / s_client) on loopback, recorded by tcpdump. One
# connection per server, each carrying one SIP OPTIONS:
#   127.0.0.61:5061  TLS 1.0   (SIP-INFO-004: version)
#   127.0.0.62:5061  TLS 1.1   (SIP-INFO-004: version)
#   127.0.0.63:5061  TLS 1.2   (quiet)
#   127.0.0.64:5061  TLS 1.3   (quiet)
#   127.0.0.65:5061  TLS 1.2, a 1024-bit RSA key, self-signed with SHA-1 (SIP-INFO-006)
#   127.0.0.66:5061  TLS 1.2, a certificate that expired on 2021-01-01 (SIP-INFO-006)
#   127.0.0.67:5061  TLS 1.3, the 1024-bit SHA-1 one of .65 (SIP-INFO-006 with the key log)
#   127.0.0.68:5061  TLS 1.3, the expired one of .66 (SIP-INFO-006 with the key log)
#   127.0.0.69:5061  TLS 1.2, mutual: the client 127.0.0.71 shows the 1024-bit SHA-1 one
#   127.0.0.70:5061  TLS 1.3, mutual: the client 127.0.0.72 shows the expired one
# TLS 1.3 encrypts the certificates: fs38 reads them with the key log's
# SERVER_ and CLIENT_HANDSHAKE_TRAFFIC_SECRET (--tls-keylog tls-weak.keys).
# Debian's OpenSSL 3 has no RC4, DES or 3DES suites left to agree to (unit
# tests feed those ServerHellos by hand: tests/unit/test_detect.c). Needs
# root (tcpdump); tests/cli/test_tls.sh reads the result.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DIR=$(mktemp -d)
trap 'kill "${TPID:-}" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$DIR"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/key.pem" -out "$DIR/cert.pem" -days 3650 \
    -subj /CN=sbc.example.net 2>/dev/null
openssl req -x509 -newkey rsa:1024 -sha1 -nodes -keyout "$DIR/weak.key" -out "$DIR/weak.pem" -days 3650 \
    -subj /CN=weak.example.net 2>/dev/null
# an expired certificate, issued by a throw-away CA with openssl ca's own dates
(cd "$DIR" && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj /CN=test-ca &&
    openssl req -newkey rsa:2048 -nodes -keyout old.key -out old.csr -subj /CN=old.example.net && touch index.txt &&
    echo 01 >serial && printf '[ca]\ndefault_ca=c\n[c]\ndir=.\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' >ca.cnf &&
    openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in old.csr -out old.pem \
        -startdate 20200101000000Z -enddate 20210101000000Z -notext) >/dev/null 2>&1
timeout -k 2 60 tcpdump -i lo --immediate-mode -U -s 0 -w "$DIR/weak.pcap" "tcp port 5061" 2>"$DIR/tcpdump.err" &
TPID=$!
for _ in $(seq 50); do grep -q "listening on" "$DIR/tcpdump.err" && break; sleep 0.1; done
# serve IP VERSION-OPTION [CERT KEY]: one connection, one OPTIONS, then both ends close
serve() {
    local ip=$1 opt=$2 cert=${3:-$DIR/cert.pem} key=${4:-$DIR/key.pem}
    timeout -k 1 8 openssl s_server -accept "$ip:5061" -cert "$cert" -key "$key" \
        -cipher 'ALL:@SECLEVEL=0' -naccept 1 -quiet >"$DIR/server-$ip.out" 2>&1 &
    local spid=$!
    for _ in $(seq 50); do ss -Hltn "src $ip:5061" | grep -q . && break; sleep 0.1; done
    printf 'OPTIONS sip:%s:5061;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: weak-%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
        "$ip" "${ip##*.}" "$ip" "${ip##*.}" |
        timeout -k 1 5 openssl s_client -connect "$ip:5061" $opt -cipher 'ALL:@SECLEVEL=0' -quiet -no_ign_eof \
            -keylogfile "$DIR/weak.keys" >"$DIR/client-$ip.out" 2>&1 || true
    wait "$spid" 2>/dev/null || true
}
serve 127.0.0.61 -tls1
serve 127.0.0.62 -tls1_1
serve 127.0.0.63 -tls1_2
serve 127.0.0.64 -tls1_3
# mutual IP FROM VERSION CERT KEY: a server that asks for a client certificate (as an
# interconnect's SBC does), and a client (Python's ssl: openssl s_client cannot pick its
# source address) connecting from FROM with CERT
mutual() {
    local ip=$1
    timeout -k 1 8 openssl s_server -accept "$ip:5061" -cert "$DIR/cert.pem" -key "$DIR/key.pem" -Verify 1 \
        -cipher 'ALL:@SECLEVEL=0' -naccept 1 -quiet >"$DIR/server-$ip.out" 2>&1 &
    local spid=$!
    for _ in $(seq 50); do ss -Hltn "src $ip:5061" | grep -q . && break; sleep 0.1; done
    timeout -k 1 5 python3 - "$@" "$DIR/weak.keys" >"$DIR/client-$ip.out" 2>&1 <<'PY' || true
import socket, ssl, sys, time
ip, src, version, cert, key, keylog = sys.argv[1:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_ciphers('ALL:@SECLEVEL=0')
ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
ctx.load_cert_chain(cert, key)
ctx.keylog_filename = keylog
tls = ctx.wrap_socket(socket.create_connection((ip, 5061), timeout=4, source_address=(src, 0)))
n = ip.rsplit('.', 1)[1]
tls.sendall(('OPTIONS sip:%s:5061;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS %s:5061;branch=z9hG4bK%s\r\n'
             'Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: weak-%s\r\n'
             'CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' % (ip, src, n, ip, n)).encode())
time.sleep(0.3)
tls.close()
PY
    wait "$spid" 2>/dev/null || true
}
serve 127.0.0.65 -tls1_2 "$DIR/weak.pem" "$DIR/weak.key"
serve 127.0.0.66 -tls1_2 "$DIR/old.pem" "$DIR/old.key"
serve 127.0.0.67 -tls1_3 "$DIR/weak.pem" "$DIR/weak.key"
serve 127.0.0.68 -tls1_3 "$DIR/old.pem" "$DIR/old.key"
mutual 127.0.0.69 127.0.0.71 TLSv1_2 "$DIR/weak.pem" "$DIR/weak.key"
mutual 127.0.0.70 127.0.0.72 TLSv1_3 "$DIR/old.pem" "$DIR/old.key"
sleep 1
kill "$TPID"; wait "$TPID" || true
cp "$DIR/weak.pcap" "$ROOT/tests/data/capture/tls-weak.pcap"
cp "$DIR/weak.keys" "$ROOT/tests/data/capture/tls-weak.keys"
echo "tls-weak.pcap: $(tshark -r "$DIR/weak.pcap" 2>/dev/null | wc -l) frames"
tshark -r "$DIR/weak.pcap" -Y 'tls.handshake.type == 2' -T fields -e ip.src -e tls.handshake.version \
    -e tls.handshake.extensions.supported_version -e tls.handshake.ciphersuite 2>/dev/null
