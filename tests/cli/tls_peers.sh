# tls_peers.sh -- real TLS peers for the SIP over TLS tests, sourced by
# tests/cli/test_tls_live.sh and tests/data/capture/make_tls.sh: Debian's
# Kamailio (tests/data/kamailio/tls.cfg: SIP over TLS on 127.0.0.13:5061,
# secure WebSocket on 127.0.0.13:8443) with a certificate made here, and the
# clients that talk to it, each writing its session keys to one key log:
#   127.0.3.1  tests/cli/sip_client.py: TLS 1.3 (AES-256-GCM), TLS 1.2 with
#              AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 and AES-128-CBC
#              with HMAC-SHA1 encrypt-then-MAC (2 OPTIONS, then two in one
#              write and a 12,000-byte MESSAGE in three records)
#   127.0.3.2  sip_client.py over secure WebSocket, TLS 1.3 (the same requests)
#   127.0.3.3  openssl s_client, TLS 1.3 with ChaCha20-Poly1305: an OPTIONS, a
#              KeyUpdate both ways, an OPTIONS
#   127.0.3.4  openssl s_client, TLS 1.3 with AES-128-GCM: an OPTIONS
#   127.0.3.5  openssl s_client, TLS 1.2 with AES-256-CBC and HMAC-SHA384,
#              MAC-then-encrypt (-no_etm): an OPTIONS
# Every request carries a scanner's User-Agent; Kamailio answers each one.
# 35 requests and 35 answers: 29 + 29 over TLS, 6 + 6 over secure WebSocket.
# Needs root (nothing else on 127.0.0.13), kamailio with its tls and
# websocket modules, openssl, python3. Each peer runs under timeout.
TLS_HOST=127.0.0.13
TLS_BPF="host $TLS_HOST and tcp"

# tls_setup DIR: certificate, key and Kamailio configs in DIR.
tls_setup() {
    local dir=$1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 3650 \
        -subj /CN=sip.test.invalid >/dev/null 2>&1 || return 1
    printf '[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\nprivate_key = %s\ncertificate = %s\n' \
        "$dir/key.pem" "$dir/cert.pem" >"$dir/tls-module.cfg"
    sed "s#CERTDIR#$dir#" "$ROOT/tests/data/kamailio/tls.cfg" >"$dir/kamailio.cfg"
    kamailio -c -f "$dir/kamailio.cfg" >/dev/null 2>&1
}

tls_listening() { ss -Hltn "src $TLS_HOST:5061" 2>/dev/null | grep -q . && ss -Hltn "src $TLS_HOST:8443" 2>/dev/null | grep -q .; }

# tls_start DIR: Kamailio in the background (its pid in TLS_KPID); 1 when
# it does not listen within 10 s.
tls_start() {
    local dir=$1
    timeout -k 5 60 kamailio -f "$dir/kamailio.cfg" -DD -E -P "$dir/kamailio.pid" -Y "$dir" >"$dir/kamailio.log" 2>&1 &
    TLS_KPID=$!
    for _ in $(seq 100); do tls_listening && return 0; sleep 0.1; done
    return 1
}

tls_options() { # CALLID: an OPTIONS as s_client sends it
    printf 'OPTIONS sip:100@%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.3.9;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nFrom: <sip:100@%s>;tag=%s\r\nTo: <sip:100@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n' \
        "$TLS_HOST" "$1" "$TLS_HOST" "$1" "$TLS_HOST" "$1"
}

# tls_clients KEYLOG OUT: every client in turn; 0 when each got all its
# answers (their output in OUT).
tls_clients() {
    local keys=$1 out=$2 m rc=0
    for m in tls13 tls12-aes128 tls12-aes256 tls12-chacha tls12-cbc; do
        timeout -k 2 15 python3 "$ROOT/tests/cli/sip_client.py" 127.0.3.1 $TLS_HOST 5061 "$keys" $m 2 $m big >>"$out" 2>&1 || rc=1
    done
    timeout -k 2 15 python3 "$ROOT/tests/cli/sip_client.py" 127.0.3.2 $TLS_HOST 8443 "$keys" wss13 3 wss big >>"$out" 2>&1 || rc=1
    (sleep 0.5; tls_options ku-1; sleep 0.3; printf 'K\n'; sleep 0.3; tls_options ku-2; sleep 0.7) |
        timeout -k 2 10 openssl s_client -connect $TLS_HOST:5061 -bind 127.0.3.3:0 -tls1_3 \
            -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -keylogfile "$keys" >"$out.ku" 2>&1
    [ "$(grep -c '^SIP/2.0 200' "$out.ku")" = 2 ] || rc=1
    (sleep 0.5; tls_options aes128-1; sleep 0.7) |
        timeout -k 2 10 openssl s_client -connect $TLS_HOST:5061 -bind 127.0.3.4:0 -tls1_3 \
            -ciphersuites TLS_AES_128_GCM_SHA256 -keylogfile "$keys" >"$out.a128" 2>&1
    [ "$(grep -c '^SIP/2.0 200' "$out.a128")" = 1 ] || rc=1
    (sleep 0.5; tls_options cbc-1; sleep 0.7) |
        timeout -k 2 10 openssl s_client -connect $TLS_HOST:5061 -bind 127.0.3.5:0 -tls1_2 \
            -cipher ECDHE-RSA-AES256-SHA384 -no_etm -keylogfile "$keys" >"$out.cbc" 2>&1
    [ "$(grep -c '^SIP/2.0 200' "$out.cbc")" = 1 ] || rc=1
    return $rc
}
