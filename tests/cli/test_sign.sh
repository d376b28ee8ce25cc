#!/usr/bin/env bash
# fs38 sign end to end: JWS per line checked with OpenSSL's Ed25519 (a second
# implementation), exit codes, output errors, and bounded memory per line.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "keygen" "$FS38" keygen --issuer org:234-15 --out "$TMPD/keys"
KEY=$TMPD/keys/$(cat "$TMPD/out").key
EV=$ROOT/tests/data/exchange/valid/spec-example.json
tr -d '\n' <"$EV" >"$TMPD/ev.json"; echo >>"$TMPD/ev.json"

expect_exit 0 "sign one event" "$FS38" sign --signing-key "$KEY" <"$TMPD/ev.json"
ok "one JWS line" test "$(wc -l <"$TMPD/out")" -eq 1
# the signature verifies with openssl over header.payload as printed
b64d() { local s; s=$(printf '%s' "$1" | tr '_-' '/+'); while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | base64 -d; }
J=$(cat "$TMPD/out")
printf '%s' "${J%.*}" >"$TMPD/si"
b64d "${J##*.}" >"$TMPD/sig"
PK=$(sed 's/.*"public_key":"\([^"]*\)".*/\1/' "$KEY")
{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; b64d "$PK"; } | openssl pkey -pubin -inform DER -out "$TMPD/pub.pem" 2>/dev/null
ok "openssl verifies the Ed25519 signature" bash -c "openssl pkeyutl -verify -pubin -inkey '$TMPD/pub.pem' -rawin -in '$TMPD/si' -sigfile '$TMPD/sig' >/dev/null"
ok "payload is the line's exact bytes" cmp <(b64d "$(cut -d. -f2 <<<"$J")") <(tr -d '\n' <"$TMPD/ev.json")

# an event of another issuer: every receiver refuses it (issuer_mismatch), so
# it is named and not signed; --raw still signs it (hostile test input)
sed 's/"issuer":"org:234-15"/"issuer":"org:208-01"/' "$TMPD/ev.json" >"$TMPD/foreign.json"
expect_exit 1 "sign an event of another issuer" "$FS38" sign --signing-key "$KEY" <"$TMPD/foreign.json"
ok "foreign issuer: nothing printed" test ! -s "$TMPD/out"
ok "foreign issuer: named on stderr" grep -q "line 1: issuer 'org:208-01' is not the signing key's owner 'org:234-15'" "$TMPD/err"
expect_exit 0 "--raw signs it anyway" "$FS38" sign --raw --signing-key "$KEY" <"$TMPD/foreign.json"
ok "--raw: one JWS line" test "$(wc -l <"$TMPD/out")" -eq 1

# stdout that cannot be written: nothing was delivered, so no "all signed"
if [ -w /dev/full ]; then
    expect_exit 2 "sign to a full device" bash -c "'$FS38' sign --signing-key '$KEY' <'$TMPD/ev.json' >/dev/full"
    ok "output error explained" grep -q 'writing to stdout' "$TMPD/err"
fi

# one line of 100 MB (no event is over 64 KiB): refused and skipped without
# being held in memory, and the event after it is still signed
rss_of_sign() { # prints the peak RSS (KiB) of fs38 sign reading a 100 MB line then an event
    python3 - "$FS38" "$KEY" "$TMPD/ev.json" "$TMPD/out" "$TMPD/err" <<'PY'
import resource, subprocess, sys
fs38, key, ev, out, err = sys.argv[1:]
with open(out, "wb") as o, open(err, "wb") as e:
    p = subprocess.Popen([fs38, "sign", "--raw", "--signing-key", key], stdin=subprocess.PIPE, stdout=o, stderr=e)
    chunk = b"a" * (1 << 20)
    for _ in range(100):
        p.stdin.write(chunk)
    p.stdin.write(b"\n" + open(ev, "rb").read())
    p.stdin.close()
    rc = p.wait()
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
PY
}
read -r RSS RC < <(rss_of_sign)
ok "100 MB line: exit 1 (a line refused)" is "$RC" 1
ok "100 MB line: peak RSS under 64 MB (got ${RSS} KiB)" test "$RSS" -lt 65536
ok "100 MB line: refusal names the line" grep -q 'line 1: longer than' "$TMPD/err"
ok "100 MB line: the next event is still signed" test "$(wc -l <"$TMPD/out")" -eq 1

finish test_sign
