#!/usr/bin/env bash
# fs38 keygen and fs38 hash-id end to end: files written, modes 0600 on
# secrets, refusal to overwrite, exit codes, bad arguments, --help, and
# hash-id values checked against an independent HMAC (openssl dgst).
source "$(dirname "$0")/lib.sh"
umask 022   # the secrets must be 0600 whatever the umask allows

# --- keygen -----------------------------------------------------------------------
expect_exit 0 "keygen --help" "$FS38" keygen --help
ok "keygen --help documents --issuer" grep -q -- '--issuer' "$TMPD/out"
ok "keygen --help documents exit codes" grep -q 'Exit codes' "$TMPD/out"
expect_exit 0 "fs38 --help" "$FS38" --help
ok "--help lists keygen" grep -q 'keygen' "$TMPD/out"
ok "--help lists hash-id" grep -q 'hash-id' "$TMPD/out"

expect_exit 0 "keygen" "$FS38" keygen --issuer org:234-15 --out "$TMPD/keys"
KID=$(cat "$TMPD/out")
ok "keygen prints a 22-character kid" bash -c "[[ '$KID' =~ ^[A-Za-z0-9_-]{22}$ ]]"
ok "secret key file written" test -f "$TMPD/keys/$KID.key"
ok "public member file written" test -f "$TMPD/keys/$KID.pub"
ok "secret key mode 0600" test "$(stat -c %a "$TMPD/keys/$KID.key")" = 600
ok "key directory mode 0700" test "$(stat -c %a "$TMPD/keys")" = 700
ok "key file names the issuer" grep -q '"issuer":"org:234-15"' "$TMPD/keys/$KID.key"
ok "key file has alg EdDSA" grep -q '"alg":"EdDSA"' "$TMPD/keys/$KID.key"
ok "key file has the secret" grep -q '"secret_key":"' "$TMPD/keys/$KID.key"
SK=$(sed 's/.*"secret_key":"\([^"]*\)".*/\1/' "$TMPD/keys/$KID.key")
ok "secret is 43 base64url characters" bash -c "[[ '$SK' =~ ^[A-Za-z0-9_-]{43}$ ]]"
ok "secret not printed" bash -c "! grep -qF -- '$SK' '$TMPD/out' '$TMPD/err'"
ok "pub file has no secret" bash -c "! grep -q secret_key '$TMPD/keys/$KID.pub'"
ok "pub file is an active member" grep -q '"status":"active"' "$TMPD/keys/$KID.pub"
ok "pub file names the kid" grep -q "\"kid\":\"$KID\"" "$TMPD/keys/$KID.pub"
# kid = base64url(SHA-256(public key)[0..16)), recomputed with openssl
PK=$(sed 's/.*"public_key":"\([^"]*\)".*/\1/' "$TMPD/keys/$KID.pub")
WANT=$(printf '%s' "$PK" | tr '_-' '/+' | sed 's/$/=/' | base64 -d 2>/dev/null | openssl dgst -sha256 -binary | head -c 16 | base64 | tr '/+' '_-' | tr -d '=')
ok "kid is the SHA-256 prefix of the public key" test "$KID" = "$WANT"

expect_exit 0 "second key in the same folder" "$FS38" keygen --issuer org:carrier-x.example --out "$TMPD/keys"
KID2=$(cat "$TMPD/out")
ok "second key has another kid" test "$KID" != "$KID2"
ok "first key untouched by the second" grep -q '"issuer":"org:234-15"' "$TMPD/keys/$KID.key"
# (refusal to overwrite an existing <kid>.key is tested in tests/unit/test_xc_jws.c:
#  kids are random here, so no run can make them collide)
# a write that fails (here: no file may grow, EFBIG) leaves no cut secret behind
mkdir -m 700 "$TMPD/full"
expect_exit 2 "keygen whose write fails" bash -c "trap '' XFSZ; ulimit -f 0; exec '$FS38' keygen --issuer org:234-15 --out '$TMPD/full'"
ok "no partial key file left" test -z "$(ls -A "$TMPD/full")"
expect_exit 2 "community key whose write fails" bash -c "trap '' XFSZ; ulimit -f 0; exec '$FS38' hash-id --new-key --key-id k1 --out '$TMPD/full/community.key'"
ok "no partial community key file left" test -z "$(ls -A "$TMPD/full")"
: >"$TMPD/notadir"
expect_exit 2 "--out is a file" "$FS38" keygen --issuer org:234-15 --out "$TMPD/notadir"
ok "--out file is named" grep -q notadir "$TMPD/err"
# the kid a script reads from stdout could not be written: not "done"
if [ -w /dev/full ]; then
    expect_exit 2 "keygen with stdout on a full device" bash -c "'$FS38' keygen --issuer org:234-15 --out '$TMPD/kfull' >/dev/full"
    ok "...says so" grep -q "^fs38 keygen: writing the key id to stdout: No space left on device" "$TMPD/err"
fi

for bad in "234-15" "org:" "org:23-15" "org:234-1" "org:234-1516" "org:Upper" "org:a b" "ORG:234-15" "org:$(printf 'a%.0s' {1..65})"; do
    expect_exit 2 "keygen refuses issuer '$bad'" "$FS38" keygen --issuer "$bad" --out "$TMPD/bad"
    ok "refused issuer is named ('$bad')" grep -qF -- "$bad" "$TMPD/err"
done
# a name of digits and '-' alone looks like a PLMN and must be one: the help
# and the refusal say so (they gave [a-z0-9._-]{1,64}, which "12345" matches)
expect_exit 2 "keygen refuses issuer 'org:12345'" "$FS38" keygen --issuer org:12345 --out "$TMPD/bad"
ok "...the refusal says why" grep -q "not digits and '-' alone: those must be an MCC-MNC" "$TMPD/err"
"$FS38" keygen --help >"$TMPD/help"
ok "keygen --help says a name of digits and '-' must be an MCC-MNC" grep -q "digits and '-' alone must be an MCC-MNC" "$TMPD/help"
ok "nothing written for refused issuers" test ! -e "$TMPD/bad"
expect_exit 2 "keygen without --out" "$FS38" keygen --issuer org:234-15
expect_exit 2 "keygen without --issuer" "$FS38" keygen --out "$TMPD/k3"
expect_exit 2 "keygen unknown option" "$FS38" keygen --issuer org:234-15 --out "$TMPD/k3" --bogus
expect_exit 2 "keygen extra argument" "$FS38" keygen --issuer org:234-15 --out "$TMPD/k3" extra

# --- hash-id ----------------------------------------------------------------------
expect_exit 0 "hash-id --help" "$FS38" hash-id --help
ok "hash-id --help documents --new-key" grep -q -- '--new-key' "$TMPD/out"
CK=$TMPD/community.key
expect_exit 0 "new community key" "$FS38" hash-id --new-key --key-id 2026-11 --out "$CK"
ok "new key prints its id" grep -qx '2026-11' "$TMPD/out"
ok "community key mode 0600" test "$(stat -c %a "$CK")" = 600
expect_exit 0 "hash an MSISDN" "$FS38" hash-id --key-file "$CK" +447700900123
read -r KIND KEYID VALUE <"$TMPD/out"
ok "kind msisdn_hmac" test "$KIND" = msisdn_hmac
ok "key id printed" test "$KEYID" = 2026-11
ok "43-character base64url" bash -c "[[ '$VALUE' =~ ^[A-Za-z0-9_-]{43}$ ]]"
# independent HMAC-SHA256 with openssl over the normalised value
KEYB64=$(sed -n 's/.*"key_id":"2026-11","key":"\([^"]*\)".*/\1/p' "$CK")
KEYHEX=$(printf '%s=' "$KEYB64" | tr '_-' '/+' | base64 -d | od -An -tx1 | tr -d ' \n')
WANT=$(printf '%s' '+447700900123' | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEYHEX" -binary | base64 | tr '/+' '_-' | tr -d '=')
ok "value equals openssl's HMAC-SHA256" test "$VALUE" = "$WANT"
expect_exit 0 "spellings" "$FS38" hash-id --key-file "$CK" "0044 7700 900123" "+44-7700-900-123"
ok "spellings agree" test "$(cut -d' ' -f3 "$TMPD/out" | sort -u)" = "$VALUE"
ok "one line per value" test "$(wc -l <"$TMPD/out")" -eq 2
printf '+447700900123\n\n234150123456789\n' >"$TMPD/in"
expect_exit 2 "stdin stops at a value of the wrong kind" bash -c "'$FS38' hash-id --key-file '$CK' - <'$TMPD/in'"
ok "stdin error names the line" grep -q 'stdin line 3' "$TMPD/err"
printf '+447700900123\n\n+33 1 23 45 67 89\n' >"$TMPD/in"
expect_exit 0 "stdin values" bash -c "'$FS38' hash-id --key-file '$CK' - <'$TMPD/in'"
ok "stdin: two values, blank line skipped" test "$(wc -l <"$TMPD/out")" -eq 2
# --help said "output lines match input lines": not so with a blank line
"$FS38" hash-id --help >"$TMPD/help"
ok "hash-id --help says blank lines are skipped" grep -q "blank" "$TMPD/help"
ok "...and does not promise one output line per input line" bash -c "! grep -q 'output lines match input lines' '$TMPD/help'"
# a NUL byte in a line is no separator: "+4477009<NUL>1234" must not be hashed
# as the valid, shorter +4477009 (strlen would stop there)
printf '+4477009\0001234\n' >"$TMPD/in"
expect_exit 2 "stdin: NUL byte in a value refused" bash -c "'$FS38' hash-id --key-file '$CK' - <'$TMPD/in'"
ok "stdin: nothing printed for the NUL line" test ! -s "$TMPD/out"
ok "stdin: NUL refusal names the line and the byte" grep -q 'stdin line 1: .*0x00' "$TMPD/err"
printf '+4477009\0001234' >"$TMPD/in" # last line, no line feed
expect_exit 2 "stdin: NUL byte in an unterminated last line refused" bash -c "'$FS38' hash-id --key-file '$CK' - <'$TMPD/in'"
printf '+44 7700 900123' >"$TMPD/in"
expect_exit 0 "stdin: unterminated last line hashed" bash -c "'$FS38' hash-id --key-file '$CK' - <'$TMPD/in'"
ok "stdin: unterminated last line gives the same value" grep -q -- " $VALUE\$" "$TMPD/out"
printf '+44%0300d\n' 1 >"$TMPD/in"
expect_exit 2 "stdin: over-long line refused" bash -c "'$FS38' hash-id --key-file '$CK' - <'$TMPD/in'"
ok "stdin: over-long line named" grep -q 'stdin line 1: longer than 254' "$TMPD/err"
# of several values, the refused one is named by place and value (the
# output so far does not say which: the run stops at it)
expect_exit 2 "a bad value among several" "$FS38" hash-id --key-file "$CK" +447700900123 +4477009001234567 +447700900124
ok "...named by place and value" grep -q "argument 2 '+4477009001234567': MSISDN must have 7 to 15 digits" "$TMPD/err"
expect_exit 0 "imsi" "$FS38" hash-id --key-file "$CK" --kind imsi 234150123456789
ok "imsi_hmac" grep -q '^imsi_hmac 2026-11 ' "$TMPD/out"
expect_exit 0 "iccid" "$FS38" hash-id --key-file "$CK" --kind iccid 8944100000000000001
ok "iccid_hmac" grep -q '^iccid_hmac 2026-11 ' "$TMPD/out"
expect_exit 2 "national MSISDN refused" "$FS38" hash-id --key-file "$CK" 07700900123
ok "refusal explains international form" grep -q 'international' "$TMPD/err"
if [ -w /dev/full ]; then
    expect_exit 2 "hash-id to a full device" bash -c "'$FS38' hash-id --key-file '$CK' +447700900123 >/dev/full"
    ok "hash-id output error explained" grep -q 'writing to stdout' "$TMPD/err"
fi
expect_exit 2 "bad --kind" "$FS38" hash-id --key-file "$CK" --kind phone 1
expect_exit 2 "no values" "$FS38" hash-id --key-file "$CK"
expect_exit 2 "no key file" "$FS38" hash-id +447700900123
expect_exit 2 "missing key file" "$FS38" hash-id --key-file "$TMPD/nope.key" +447700900123
ok "missing key file named" grep -q nope.key "$TMPD/err"

# rotation: newest first, old keys kept and usable
expect_exit 0 "rotate" "$FS38" hash-id --new-key --key-id 2026-12 --out "$CK"
ok "rotated file still 0600" test "$(stat -c %a "$CK")" = 600
expect_exit 0 "hash after rotation" "$FS38" hash-id --key-file "$CK" +447700900123
ok "newest key used" grep -q '^msisdn_hmac 2026-12 ' "$TMPD/out"
ok "new key gives a new value" bash -c "! grep -q -- '$VALUE' '$TMPD/out'"
expect_exit 0 "older key on request" "$FS38" hash-id --key-file "$CK" --key-id 2026-11 +447700900123
ok "older key gives the old value" grep -q -- " $VALUE\$" "$TMPD/out"
# a key file reached through a symlink is rotated where it lives: the link
# stays a link and the file it names gets the new key (renamed over, the link
# became a copy and the file kept the old keys only)
mkdir -m 700 "$TMPD/shared"
cp -p "$CK" "$TMPD/shared/community.key"
ln -s "$TMPD/shared/community.key" "$TMPD/community-link.key"
expect_exit 0 "rotate through a symlink" "$FS38" hash-id --new-key --key-id via-link --out "$TMPD/community-link.key"
ok "...the link is still a link" test -L "$TMPD/community-link.key"
ok "...the file it names has the new key" grep -q '"key_id":"via-link"' "$TMPD/shared/community.key"
ok "...and the older keys" grep -q '"key_id":"2026-11"' "$TMPD/shared/community.key"
ok "...still 0600" test "$(stat -c %a "$TMPD/shared/community.key")" = 600
expect_exit 2 "duplicate key id refused" "$FS38" hash-id --new-key --key-id 2026-11 --out "$CK"
expect_exit 2 "unknown --key-id" "$FS38" hash-id --key-file "$CK" --key-id 1999 +447700900123
expect_exit 2 "bad key id" "$FS38" hash-id --new-key --key-id "a b" --out "$TMPD/c2.key"
expect_exit 2 "--new-key without --out" "$FS38" hash-id --new-key --key-id x
# rotation by someone who cannot read the key file (wrong account, the folder
# writable to them) must fail, not replace the file and lose every older key
SH=$(mktemp -d); chmod 777 "$SH"
cp -p "$CK" "$SH/community.key"
AS_OTHER=(); CAN=1
if [ "$(id -u)" != 0 ]; then
    chmod 000 "$SH/community.key"
elif command -v setpriv >/dev/null &&
    setpriv --reuid=65534 --regid=65534 --clear-groups "$FS38" version >/dev/null 2>&1; then
    AS_OTHER=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
    CAN=0 # root reads everything, and there is no one else to be here
fi
if [ "$CAN" = 1 ]; then
    expect_exit 2 "rotation of an unreadable key file refused" "${AS_OTHER[@]}" "$FS38" hash-id --new-key --key-id 2027-01 --out "$SH/community.key"
    ok "unreadable key file named" grep -q "$SH/community.key: Permission denied" "$TMPD/err"
    chmod 600 "$SH/community.key"
    ok "older keys kept" grep -q '"key_id":"2026-11"' "$SH/community.key"
fi
rm -rf "$SH"
chmod 644 "$CK"
expect_exit 2 "readable key file refused" "$FS38" hash-id --key-file "$CK" +447700900123
ok "refusal says chmod" grep -q 'chmod 600' "$TMPD/err"

# a FIFO with no writer as a key file: refused as no regular file, not waited
# on for ever (the open blocked before fstat could refuse it)
mkfifo -m 600 "$TMPD/fifo.key"
expect_exit 2 "sign --signing-key FIFO refused, not waited on" timeout 10 "$FS38" sign --signing-key "$TMPD/fifo.key" </dev/null
ok "...named" grep -q "key file $TMPD/fifo.key: not a regular file" "$TMPD/err"
expect_exit 2 "hash-id --key-file FIFO refused, not waited on" timeout 10 "$FS38" hash-id --key-file "$TMPD/fifo.key" +447700900123
ok "...named" grep -q "community key file $TMPD/fifo.key: not a regular file" "$TMPD/err"
expect_exit 2 "hash-id --new-key --out FIFO refused, not waited on" timeout 10 "$FS38" hash-id --new-key --key-id k9 --out "$TMPD/fifo.key"
ok "...named" grep -q "community key file $TMPD/fifo.key: not a regular file" "$TMPD/err"
rm -f "$TMPD/fifo.key"

# --- sight --observable: a long value is kept whole, with its role ---------------------
UA=$(printf 'A%.0s' {1..300})
expect_exit 0 "sight --dry-run with a 300-byte observable" "$FS38" sight --dry-run \
    --signing-key "$TMPD/keys/$KID.key" --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 \
    --observable "sip_user_agent:$UA:tool"
ok "the value is not cut" grep -qF "\"value\":\"$UA\"" "$TMPD/out"
ok "the role is kept" grep -qF '"role":"tool"' "$TMPD/out"
# --tlp in any case, as share's: stored lowercase
expect_exit 0 "sight --tlp GREEN" "$FS38" sight --dry-run --tlp GREEN \
    --signing-key "$TMPD/keys/$KID.key" --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 --observable ip:198.51.100.7
ok "sight --tlp GREEN: green" grep -qF '"tlp":"green"' "$TMPD/out"
# red: the hub shows a red event to its issuer (the reporter) and its audience
# only, so the audience names the shared event's issuer (without it, the
# issuer the feedback is for could not read it with GET /v1/sightings)
expect_exit 0 "sight --tlp red" "$FS38" sight --dry-run --tlp red \
    --signing-key "$TMPD/keys/$KID.key" --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 --observable ip:198.51.100.7
ok "sight --tlp red: audience is the shared event's issuer" \
    test "$(jq -c .handling "$TMPD/out")" = '{"tlp":"red","audience":["org:208-01"]}'
expect_exit 2 "sight --tlp purple" "$FS38" sight --dry-run --tlp purple \
    --signing-key "$TMPD/keys/$KID.key" --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 --observable ip:198.51.100.7
if [ -w /dev/full ]; then
    expect_exit 2 "sight --dry-run to a full device" bash -c "'$FS38' sight --dry-run --signing-key '$TMPD/keys/$KID.key' \
        --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 --observable ip:198.51.100.7 >/dev/full"
    ok "sight output error explained" grep -q 'writing to stdout' "$TMPD/err"
fi
# a victim's number given with --observable: subscriber identifiers of victims
# never travel in clear (the spec; share checks it, the hub refuses it with
# clear_identifier), so sight refuses it before signing, dry run included
expect_exit 2 "sight refuses a victim's number in clear" "$FS38" sight --dry-run \
    --signing-key "$TMPD/keys/$KID.key" --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 \
    --observable e164:+447700900123:victim
ok "...nothing printed" test ! -s "$TMPD/out"
ok "...the observable named" grep -q "observables\[0\].value: a victim's subscriber identifier in clear (kind e164)" "$TMPD/err"
expect_exit 0 "sight: a victim address is no subscriber identifier" "$FS38" sight --dry-run \
    --signing-key "$TMPD/keys/$KID.key" --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 \
    --observable ip:198.51.100.7:victim
# --cache holding the event, but only victim observables (never reported back):
# the refusal must not ask for "--cache FILE holding the event"
python3 - "$ROOT/tests/data/exchange/valid/spec-example.json" >"$TMPD/cache.ndjson" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e["valid_until"] = "2099-01-01T00:00:00Z"
e["observables"] = [{"kind": "msisdn_hmac", "value": "A" * 43, "role": "victim", "key_id": "2026-11"}]
print(json.dumps(e, separators=(",", ":")))
PY
expect_exit 2 "sight --cache: only victim observables" "$FS38" sight --dry-run --signing-key "$TMPD/keys/$KID.key" \
    --event "$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e["issuer"]+"/"+e["event_id"])' "$TMPD/cache.ndjson")" \
    --cache "$TMPD/cache.ndjson"
ok "the refusal says the observables are victims" grep -q 'role victim' "$TMPD/err"
# a note that makes the event larger than an event may be: refused, dry run
# included (it printed the event and said 0; the real run failed signing it)
NOTE=$(head -c 70000 /dev/zero | tr '\0' a)
expect_exit 2 "sight --dry-run with a 70 KB note" "$FS38" sight --dry-run \
    --signing-key "$TMPD/keys/$KID.key" --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 \
    --observable ip:198.51.100.7 --note "$NOTE"
ok "...nothing printed" test ! -s "$TMPD/out"
ok "...the note named" grep -q "an event is at most 65536: shorten the note (70000 bytes)" "$TMPD/err"
# --cache holding a TLP:RED event: its observables went out in an amber feedback,
# which the hub gives every member; the feedback is red, for the event's readers
python3 - "$ROOT/tests/data/exchange/valid/spec-example.json" >"$TMPD/red.ndjson" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e["valid_until"] = "2099-01-01T00:00:00Z"
e["handling"] = {"tlp": "red", "audience": ["org:208-01", e["issuer"]]}
print(json.dumps(e, separators=(",", ":")))
PY
RED_EV=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e["issuer"]+"/"+e["event_id"])' "$TMPD/red.ndjson")
expect_exit 0 "sight --cache of a red event" "$FS38" sight --dry-run --signing-key "$TMPD/keys/$KID.key" \
    --event "$RED_EV" --cache "$TMPD/red.ndjson"
ok "the feedback copying a red event's observables is red, for its issuer and audience" \
    test "$(jq -c .handling "$TMPD/out")" = "{\"tlp\":\"red\",\"audience\":[\"${RED_EV%%/*}\",\"org:208-01\"]}"
expect_exit 2 "sight --cache of a red event with --tlp amber" "$FS38" sight --dry-run --tlp amber \
    --signing-key "$TMPD/keys/$KID.key" --event "$RED_EV" --cache "$TMPD/red.ndjson"
ok "the refusal says the event is red" grep -q 'is TLP:RED' "$TMPD/err"
UA=$(printf 'A%.0s' {1..1100})
expect_exit 2 "sight refuses an observable value over 1024 bytes" "$FS38" sight --dry-run \
    --signing-key "$TMPD/keys/$KID.key" --event org:208-01/0193a5e0-7c1e-7d2a-9b1f-5e4c3d2b1a00 \
    --observable "sip_user_agent:$UA:tool"

finish test_keygen
