#!/usr/bin/env bash
# test_share_pull.sh -- closing the loop end to end against a real `fs38 hub`
# on loopback: operator 1 inspects a capture and shares its detections
# (fs38 share), operator 2 keeps an indicator cache (fs38 pull, also
# --follow) and inspects the same traffic with it (fs38 inspect --indicators
# raises INTEL-001 referencing the shared events), reports a false positive
# (fs38 sight), then a revocation and an expiry drop indicators from the cache;
# a live sensor reads the cache again when pull --follow rewrites it.
# Also: the share policy filter (dry run), verification against a registry
# that lacks the signer, and clear errors for a closed port and a wrong CA.
#
# Builds its own PKI (openssl), signing keys (fs38 keygen), trust registry and
# hub config in a temp dir. Fails (does not skip) when `fs38 hub` is missing.
# Usage: FS38=build/asan/fs38 tests/cli/test_share_pull.sh  (needs openssl, jq, curl)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

W=$TMPD/w
mkdir -p "$W"
HUB_PID=""
FOLLOW_PID=""
cleanup() {
    [ -n "$FOLLOW_PID" ] && kill "$FOLLOW_PID" 2>/dev/null
    [ -n "$HUB_PID" ] && kill -9 "$HUB_PID" 2>/dev/null
    rm -rf "$TMPD"
}
trap cleanup EXIT
# not_in TEXT FILE: FILE does not hold TEXT (says what it holds when it does)
not_in() { ! grep -q -- "$1" "$2" || { sed 's/^/  | /' "$2" >&2; return 1; }; }

for tool in openssl jq curl; do
    command -v $tool >/dev/null || { fail "$tool is not installed"; finish test_share_pull; exit 1; }
done

# ---- the client commands exist and explain themselves ------------------------------------
for cmd in share pull sight; do
    expect_exit 0 "$cmd --help" "$FS38" $cmd --help
    ok "$cmd --help documents exit codes" grep -q 'Exit codes' "$TMPD/out"
done
expect_exit 0 "inspect --help" "$FS38" inspect --help
ok "inspect --help documents --indicators" grep -q -- '--indicators' "$TMPD/out"

if ! "$FS38" hub --help >/dev/null 2>&1; then
    fail "'fs38 hub' is not in this build: the share/pull/sight loop cannot be tested"
    finish test_share_pull
    exit 1
fi

# ---- PKI, signing keys, registry, hub -----------------------------------------------------------
pki() {
    local d=$W/pki name ext ca
    mkdir -p "$d"
    for ca in ca other-ca; do
        openssl ecparam -name prime256v1 -genkey -noout -out "$d/$ca.key" 2>/dev/null
        openssl req -x509 -new -key "$d/$ca.key" -subj "/CN=fs38-$ca" -days 2 -out "$d/$ca.crt" 2>/dev/null || return 1
    done
    for name in hub op1 op2; do
        ext="extendedKeyUsage=clientAuth"
        [ $name = hub ] && ext=$'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
        openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null
        openssl req -new -key "$d/$name.key" -subj "/CN=$name" -out "$d/$name.csr" 2>/dev/null
        printf '%s\n' "$ext" >"$d/$name.ext"
        openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null || return 1
    done
}
fingerprint() { openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-64; }

declare -A ISSUER KEY
ISSUER[op1]=org:234-15
ISSUER[op2]=org:208-01
keys_and_registry() {
    local m kid sep=""
    printf '{"members":[' >"$W/registry.json"
    for m in op1 op2; do
        kid=$("$FS38" keygen --issuer "${ISSUER[$m]}" --out "$W/keys" 2>/dev/null) || return 1
        KEY[$m]=$W/keys/$kid.key
        printf '%s' "$sep" >>"$W/registry.json"
        sep=","
        jq -c --arg fp "$(fingerprint "$W/pki/$m.crt")" '. + {cert_sha256: $fp}' "$W/keys/$kid.pub" |
            tr -d '\n' >>"$W/registry.json"
    done
    printf ']}\n' >>"$W/registry.json"
    # a registry that only knows op2: op1's events must fail verification against it
    jq -c '{members: [.members[] | select(.issuer == "org:208-01")]}' "$W/registry.json" >"$W/registry-op2.json"
}

ok "PKI built" pki
ok "signing keys and registry" keys_and_registry
PORT=$(free_port)
HUB=https://127.0.0.1:$PORT
cat >"$W/hub.yaml" <<EOF
# written by tests/cli/test_share_pull.sh
listen: "127.0.0.1:$PORT"
node: share-pull-test
tls:
  cert: pki/hub.crt
  key: pki/hub.key
  ca: pki/ca.crt
registry: registry.json
store: "sqlite:$W/hub.db"
limits:
  ping_s: 1
  max_body: 4194304
sweep_interval_s: 1
workers: 1
EOF
tls() { echo --hub "$HUB" --cert "$W/pki/$1.crt" --key "$W/pki/$1.key" --ca "$W/pki/ca.crt"; }
hcurl() {
    curl -sS --max-time 10 --cert "$W/pki/$1.crt" --key "$W/pki/$1.key" --cacert "$W/pki/ca.crt" \
        "https://127.0.0.1:$PORT$2"
}

# ---- errors before the hub runs: nothing listens yet ------------------------------------------
expect_exit 2 "pull with the hub down" "$FS38" pull $(tls op2) --out "$W/cache.ndjson" --timeout 2
ok "the error names the hub's address" grep -q "127.0.0.1:$PORT" "$TMPD/err"
ok "the error says it cannot connect" grep -qi "connect" "$TMPD/err"
ok "nothing written when the hub is down" test ! -e "$W/cache.ndjson.cursor"
expect_exit 2 "share without --signing-key" "$FS38" share $(tls op1) </dev/null
ok "missing --signing-key is named" grep -q -- '--signing-key' "$TMPD/err"
expect_exit 2 "pull without --out" "$FS38" pull $(tls op2)
expect_exit 2 "pull --duration without --follow (a one-shot pull does not wait)" "$FS38" pull $(tls op2) --out "$W/dur.ndjson" --duration 5
ok "...and says so" grep -q -- "--duration needs --follow" "$TMPD/err"
expect_exit 2 "pull with a non-https hub" "$FS38" pull --hub "http://127.0.0.1:$PORT" --cert "$W/pki/op2.crt" \
    --key "$W/pki/op2.key" --ca "$W/pki/ca.crt" --out "$W/x"
ok "the bad URL is named" grep -q "http://127.0.0.1:$PORT" "$TMPD/err"

"$FS38" hub --config "$W/hub.yaml" >"$W/hub.log" 2>&1 &
HUB_PID=$!
started=0
for ((i = 0; i < 100; i++)); do
    hcurl op1 /health >/dev/null 2>&1 && { started=1; break; }
    kill -0 "$HUB_PID" 2>/dev/null || break
    sleep 0.1
done
if [ $started != 1 ]; then
    fail "fs38 hub did not start"
    sed 's/^/  hub | /' "$W/hub.log" | tail -10 >&2
    finish test_share_pull
    exit 1
fi
pass

# ---- TLS errors are explained ------------------------------------------------------------------------
expect_exit 2 "pull trusting the wrong CA" "$FS38" pull --hub "$HUB" --cert "$W/pki/op2.crt" --key "$W/pki/op2.key" \
    --ca "$W/pki/other-ca.crt" --out "$W/x" --timeout 3
ok "wrong CA: the TLS failure is named" grep -qi "TLS handshake failed.*certificate" "$TMPD/err"
expect_exit 2 "pull with a key that is not the certificate's" "$FS38" pull --hub "$HUB" --cert "$W/pki/op2.crt" \
    --key "$W/pki/op1.key" --ca "$W/pki/ca.crt" --out "$W/x"
ok "key/cert mismatch is named" grep -q "does not belong to" "$TMPD/err"
# a certificate of our CA that is no member (or an expired one): with TLS 1.3 the hub's
# alert comes after the client's handshake is done, often once the request is written;
# the error said "sending the request failed: Broken pipe" 7 times in 10
openssl req -new -key "$W/pki/op2.key" -subj "/CN=stranger" -out "$W/pki/stranger.csr" 2>/dev/null
for days in 2 -1; do
    openssl x509 -req -in "$W/pki/stranger.csr" -CA "$W/pki/ca.crt" -CAkey "$W/pki/ca.key" -CAcreateserial \
        -days $days -extfile "$W/pki/op2.ext" -out "$W/pki/stranger$days.crt" 2>/dev/null
done
refused_named=0
for ((i = 0; i < 8; i++)); do
    "$FS38" pull --hub "$HUB" --cert "$W/pki/stranger2.crt" --key "$W/pki/op2.key" --ca "$W/pki/ca.crt" \
        --out "$W/x" --timeout 3 >/dev/null 2>"$TMPD/err"
    [ $? = 2 ] && grep -q "refused our certificate" "$TMPD/err" && refused_named=$((refused_named + 1))
done
ok "a certificate that is no member's: the refusal is named ($refused_named of 8)" test $refused_named = 8
expect_exit 2 "pull with an expired certificate" "$FS38" pull --hub "$HUB" --cert "$W/pki/stranger-1.crt" \
    --key "$W/pki/op2.key" --ca "$W/pki/ca.crt" --out "$W/x" --timeout 3
ok "the expired certificate is named, with its date" grep -q -- "--cert .*stranger-1.crt expired on" "$TMPD/err"

# ---- operator 1 inspects and shares ---------------------------------------------------------------------
PCAP=examples/scan-svmap.pcap
"$FS38" inspect --json "$PCAP" >"$W/events.ndjson" 2>/dev/null
ok "inspect found the scanner (2 events)" test "$(wc -l <"$W/events.ndjson")" -eq 2

# the policy filter, without a hub
expect_exit 0 "share --dry-run with a policy" "$FS38" share --dry-run --signing-key "${KEY[op1]}" \
    --types SIP_SCANNER --min-confidence 90 --tlp GREEN --valid-for 600 <"$W/events.ndjson"
ok "min-confidence keeps only SIP-SCAN-001" test "$(jq -r .rule.id "$TMPD/out")" = "SIP-SCAN-001"
ok "issuer set to the signing key's owner" test "$(jq -r .issuer "$TMPD/out")" = org:234-15
ok "tlp set (given in capitals, stored lowercase)" test "$(jq -r .handling.tlp "$TMPD/out")" = green
ok "valid_until moved to now + 600 s" test "$(jq -r '.valid_until | sub("\\.[0-9]+Z$";"Z") | fromdate' "$TMPD/out")" -gt $(($(date +%s) + 590))
ok "the skipped event is counted" grep -q "confidence 1" "$TMPD/err"
expect_exit 0 "share --dry-run --types IRSF" "$FS38" share --dry-run --signing-key "${KEY[op1]}" --types IRSF <"$W/events.ndjson"
ok "no scanner event passes --types IRSF" test ! -s "$TMPD/out"
# a preview that cannot be written (a full disk) is no preview: exit 2, and why
if [ -w /dev/full ]; then
    expect_exit 2 "share --dry-run to a full device" bash -c "'$FS38' share --dry-run --signing-key '${KEY[op1]}' \
        --valid-for 600 <'$W/events.ndjson' >/dev/full"
    ok "...says why" grep -q "^fs38 share: writing to stdout: No space left on device" "$TMPD/err"
fi
expect_exit 2 "share --types with an unknown type" "$FS38" share --dry-run --signing-key "${KEY[op1]}" --types SCANNER
ok "the unknown type is named" grep -q SCANNER "$TMPD/err"

# a hub that does not answer: exit 2, and the summary says how many signed events
# were never acknowledged (to share again)
DEAD=$(free_port)
expect_exit 2 "share to a hub that is down" "$FS38" share --hub "https://127.0.0.1:$DEAD" --cert "$W/pki/op1.crt" \
    --key "$W/pki/op1.key" --ca "$W/pki/ca.crt" --timeout 2 --signing-key "${KEY[op1]}" --valid-for 3600 <"$W/events.ndjson"
ok "...the events never acknowledged are counted" grep -q "not acknowledged 2 " "$TMPD/out"
expect_exit 0 "share the capture's events" "$FS38" share $(tls op1) --signing-key "${KEY[op1]}" --valid-for 3600 <"$W/events.ndjson"
ok "both events stored" grep -q "stored 2, duplicate 0, rejected 0" "$TMPD/out"
expect_exit 0 "share them again" "$FS38" share $(tls op1) --signing-key "${KEY[op1]}" --valid-for 3600 <"$W/events.ndjson"
ok "the second share is duplicate" grep -q "stored 0, duplicate 2, rejected 0" "$TMPD/out"
# a key that does not belong to the TLS member's issuer: the hub refuses, exit 1
expect_exit 1 "share signed by another member's key" "$FS38" share $(tls op1) --signing-key "${KEY[op2]}" --valid-for 3600 <"$W/events.ndjson"
ok "the rejection is reported with its code" grep -q "rejected" "$TMPD/err"
printf 'not json\n' | "$FS38" share $(tls op1) --signing-key "${KEY[op1]}" >"$TMPD/out" 2>"$TMPD/err"
ok "invalid input line: exit 1" test $? -eq 1
ok "the invalid line is named" grep -q "stdin line 1" "$TMPD/err"

# ---- operator 2 pulls and inspects with the cache --------------------------------------------------------
CACHE=$W/op2/indicators.ndjson
mkdir -p "$W/op2"
expect_exit 0 "pull into a cache" "$FS38" pull $(tls op2) --out "$CACHE"
ok "cache holds op1's 2 events" test "$(jq -r .issuer "$CACHE" | grep -c org:234-15)" -eq 2
ok "cursor file written" grep -qE '^[0-9]+$' "$CACHE.cursor"
# the cache's new name is on disk (its folder fsynced) before the cursor moves past
# what it holds, and the cursor's too: a crash after the cursor's rename could keep
# the cursor and lose the cache's (fsync of a file covers its bytes, not its name)
if command -v strace >/dev/null; then
    mkdir -p "$W/op2s"
    # LeakSanitizer cannot run under ptrace (it reports a fatal error instead)
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
        strace -f -qq -e trace=openat,rename,renameat,renameat2,fsync -o "$W/pull.strace" \
        "$FS38" pull $(tls op2) --out "$W/op2s/c.ndjson" >/dev/null 2>&1
    ok "pull: cache renamed, its folder fsynced, then the cursor renamed and its folder fsynced" python3 - "$W/pull.strace" "$W/op2s" <<'PY'
import re, sys
lines, d = open(sys.argv[1]).read().splitlines(), sys.argv[2]
steps, path_of = [], {}
for l in lines:
    m = re.search(r'openat\(AT_FDCWD, "([^"]*)", .*\) = (\d+)$', l)
    if m: path_of[m.group(2)] = m.group(1)
    m = re.search(r'rename\w*\(.*"[^"]*/c\.ndjson(\.cursor)?"', l)
    if m: steps.append("cursor" if m.group(1) else "cache")
    m = re.search(r'fsync\((\d+)\)', l)
    if m and path_of.get(m.group(1)) == d: steps.append("dir")
assert steps == ["cache", "dir", "cursor", "dir"], steps
PY
    # a pull killed while it saves leaves its temp file (a whole cache, 1 GiB at most) under its
    # own pid: no later run removed them, one more per crash of a restarting --follow service
    mkdir -p "$W/op2k"
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -o /dev/null -e trace=fsync \
        -e inject=fsync:signal=KILL:when=1 "$FS38" pull $(tls op2) --out "$W/op2k/c.ndjson" >/dev/null 2>&1
    : >"$W/op2k/c.ndjson.cursor.tmp.1"
    : >"$W/op2k/c.ndjson.tmp.notapid"
    ok "a pull killed while saving left its temp file" test "$(ls "$W/op2k" | grep -c '^c\.ndjson\.tmp\.[0-9]*$')" = 1
    expect_exit 0 "the next pull on that cache" "$FS38" pull $(tls op2) --out "$W/op2k/c.ndjson"
    ok "...removes what was left (2 files), and says so" grep -q "removed 2 temporary file(s) a pull killed" "$TMPD/err"
    ok "...only those" test "$(ls "$W/op2k" | tr '\n' ' ')" = "c.ndjson c.ndjson.cursor c.ndjson.lock c.ndjson.tmp.notapid "
    # a save that fails (a full disk): the summary states what the file and the cursor hold, not
    # what was merged in memory (it said "holds 2 indicators; cursor 2" of a cache never written)
    mkdir -p "$W/op2f"
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -o /dev/null -e trace=fsync \
        -e inject=fsync:error=ENOSPC:when=1 "$FS38" pull $(tls op2) --out "$W/op2f/c.ndjson" >/dev/null 2>"$W/op2f.err"
    ok "a pull whose save fails names why" grep -q "cache .*op2f/c.ndjson: write failed: No space left on device" "$W/op2f.err"
    ok "...and its summary does not claim what it did not save" grep -q "op2f/c.ndjson holds 0 indicators; cursor 0" "$W/op2f.err"
else
    fail "strace is not installed (scripts/setup.sh installs it)"
fi
ok "cache lines are the shared payloads (signed issuer kept)" test "$(jq -s 'map(.issuer) | unique | length' "$CACHE")" -eq 1
expect_exit 0 "pull again: nothing new" "$FS38" pull $(tls op2) --out "$CACHE"
ok "second pull receives nothing" grep -q "0 events received" "$TMPD/err"
ok "cache still holds 2" test "$(wc -l <"$CACHE")" -eq 2
# a cache removed (to rebuild it) while its cursor stays: the cursor covers nothing held, so
# the pull starts again (it went on from the cursor, the new cache empty for good)
mkdir -p "$W/op2r"
expect_exit 0 "pull into another cache" "$FS38" pull $(tls op2) --out "$W/op2r/c.ndjson"
rm -f "$W/op2r/c.ndjson"
expect_exit 0 "pull after that cache was removed" "$FS38" pull $(tls op2) --out "$W/op2r/c.ndjson"
ok "...fetches from the start ($(grep -c . "$W/op2r/c.ndjson" 2>/dev/null) cached)" test "$(grep -c . "$W/op2r/c.ndjson")" -eq 2
ok "...saying why" grep -q "op2r/c.ndjson is missing but .*c.ndjson.cursor is at [0-9]*: fetching from the start" "$TMPD/err"
expect_exit 1 "pull verifying against a registry without the signer" "$FS38" pull $(tls op2) \
    --registry "$W/registry-op2.json" --out "$W/op2/strict.ndjson"
ok "unverifiable events are named kid_unknown" grep -q kid_unknown "$TMPD/err"
ok "unverifiable events are not cached" test ! -s "$W/op2/strict.ndjson"

expect_exit 0 "inspect --indicators" "$FS38" inspect --json --indicators "$CACHE" "$PCAP"
jq -c 'select(.rule.id == "INTEL-001")' "$TMPD/out" >"$W/intel.ndjson"
ok "INTEL-001 raised for each shared event" test "$(wc -l <"$W/intel.ndjson")" -eq 2
ok "INTEL-001 references the shared events" test "$(jq -r '.evidence.details.ref.event_id' "$W/intel.ndjson" | sort | tr '\n' ' ')" = \
    "$(jq -r .event_id "$CACHE" | sort | tr '\n' ' ')"
ok "INTEL-001 names the sharing issuer" test "$(jq -r '.evidence.details.ref.issuer' "$W/intel.ndjson" | sort -u)" = org:234-15
ok "INTEL-001 carries the shared event's type" test "$(jq -r .event_type "$W/intel.ndjson" | sort -u)" = SIP_SCANNER
ok "INTEL-001 names the matching source" test "$(jq -r '.observables[0].value' "$W/intel.ndjson" | sort -u)" = 127.0.2.5
expect_exit 0 "inspect --indicators on benign traffic" "$FS38" inspect --json examples/benign.pcap --indicators "$CACHE"
ok "benign traffic does not match" test "$(jq -r 'select(.rule.id == "INTEL-001") | .rule.id' "$TMPD/out" | wc -l)" -eq 0
expect_exit 0 "INTEL-001 events are not re-shared" "$FS38" share --dry-run --signing-key "${KEY[op2]}" <"$W/intel.ndjson"
ok "share names them echo" grep -q "echo 2" "$TMPD/err"
ok "nothing would be signed" test ! -s "$TMPD/out"
expect_exit 0 "inspect --indicators --workers 2" "$FS38" inspect --json --workers 2 --indicators "$CACHE" "$PCAP"
ok "INTEL-001 with two workers too" test "$(jq -r 'select(.rule.id == "INTEL-001") | .rule.id' "$TMPD/out" | wc -l)" -eq 2

# ---- feedback ------------------------------------------------------------------------------------------------
ID1=$(jq -r 'select(.rule.id == "SIP-SCAN-002") | .event_id' "$CACHE")
ID2=$(jq -r 'select(.rule.id == "SIP-SCAN-001") | .event_id' "$CACHE")
expect_exit 0 "sight --false-positive" "$FS38" sight $(tls op2) --signing-key "${KEY[op2]}" \
    --event "org:234-15/$ID1" --false-positive --cache "$CACHE" --note "lab scanner"
ok "sight reports it stored" grep -q "FALSE_POSITIVE.*stored" "$TMPD/out"
hcurl op1 "/v1/sightings?issuer=org:234-15&event_id=$ID1" >"$W/sightings.json"
ok "the issuer sees the false positive" test "$(jq -r '.sightings[0].kind' "$W/sightings.json")" = FALSE_POSITIVE
expect_exit 2 "sight with nothing to report on" "$FS38" sight $(tls op2) --signing-key "${KEY[op2]}" --event "org:234-15/$ID1"
# a note that cannot be JSON text is refused, not silently left out
expect_exit 2 "sight --note not UTF-8" "$FS38" sight --dry-run --signing-key "${KEY[op2]}" \
    --event "org:234-15/$ID1" --observable ip:198.51.100.7 --note $'lab\xffscanner'
ok "...named" grep -q -- "--note: not valid UTF-8" "$TMPD/err"
ok "...and nothing printed" test ! -s "$TMPD/out"

# ---- the cursor remembers the --type it was reached with ---------------------------------------------------
# the hub's `next` passes over the types not asked for: a pull without --type went on from a
# cursor a --type FALSE_POSITIVE run had moved past both scanner events, and never fetched them
expect_exit 0 "pull --type FALSE_POSITIVE into a new cache" "$FS38" pull $(tls op2) --out "$W/op2/typed.ndjson" --type FALSE_POSITIVE
ok "...its cursor names the types" grep -qE '^[0-9]+ FALSE_POSITIVE$' "$W/op2/typed.ndjson.cursor"
expect_exit 0 "then pull every type into it" "$FS38" pull $(tls op2) --out "$W/op2/typed.ndjson"
ok "...the scanner events before that cursor are fetched ($(grep -c . "$W/op2/typed.ndjson") cached)" \
    test "$(jq -r .issuer "$W/op2/typed.ndjson" | grep -c org:234-15)" -eq 2
ok "...saying why" grep -q "typed.ndjson.cursor was reached with --type FALSE_POSITIVE: fetching from the start" "$TMPD/err"
ok "...and the cursor is a plain number again" grep -qE '^[0-9]+$' "$W/op2/typed.ndjson.cursor"
# --types "" asks for every type as no --type does: it went on from such a cursor (the scanner
# events never fetched), and saved it as a plain number once it moved, covering them for good
expect_exit 0 "pull --type FALSE_POSITIVE into another cache" "$FS38" pull $(tls op2) --out "$W/op2/typed2.ndjson" --type FALSE_POSITIVE
expect_exit 0 "then pull it with --types '' (every type)" "$FS38" pull $(tls op2) --out "$W/op2/typed2.ndjson" --types ""
ok "...the scanner events before that cursor are fetched ($(grep -c . "$W/op2/typed2.ndjson") cached)" \
    test "$(jq -r .issuer "$W/op2/typed2.ndjson" | grep -c org:234-15)" -eq 2
ok "...and the cursor is a plain number" grep -qE '^[0-9]+$' "$W/op2/typed2.ndjson.cursor"

# ---- revoke: op1 publishes version 2 revoked; the cache drops it ---------------------------------------------
jq -c --arg id "$ID1" 'select(.event_id == $id) | .version = 2 | .status = "revoked"' "$CACHE" >"$W/revoke.ndjson"
expect_exit 0 "share the revocation" "$FS38" share $(tls op1) --signing-key "${KEY[op1]}" <"$W/revoke.ndjson"
ok "revocation stored" grep -q "stored 1" "$TMPD/out"
expect_exit 0 "pull after the revocation" "$FS38" pull $(tls op2) --out "$CACHE"
ok "pull counts the revocation" grep -q "1 revoked" "$TMPD/err"
ok "revoked event dropped from the cache" test "$(jq -r .event_id "$CACHE" | grep -c "$ID1")" -eq 0
ok "the other event stays" test "$(jq -r .event_id "$CACHE")" = "$ID2"
expect_exit 0 "inspect --indicators after the revocation" "$FS38" inspect --json --indicators "$CACHE" "$PCAP"
ok "after revocation only one INTEL-001" test "$(jq -c 'select(.rule.id == "INTEL-001")' "$TMPD/out" | wc -l)" -eq 1

# ---- follow: a new event reaches the cache while pull --follow runs; expiry drops it ----------------------------
"$FS38" pull $(tls op2) --out "$CACHE" --follow --duration 8 2>"$W/follow.err" &
FOLLOW_PID=$!
sleep 1.5
# a second pull on the cache this one keeps is refused: both rewrote the file from what they had
# loaded, and one that saved after the other dropped the events the other had saved while the
# cursor stayed past them (3 events shared meanwhile were never in the cache again)
expect_exit 2 "a second pull on the cache pull --follow keeps" "$FS38" pull $(tls op2) --out "$CACHE"
ok "...naming the pull that holds it" grep -q "indicators.ndjson is kept by another fs38 pull (pid $FOLLOW_PID," "$TMPD/err"
"$FS38" inspect --json "$PCAP" 2>/dev/null | "$FS38" share $(tls op1) --signing-key "${KEY[op1]}" \
    --valid-for 4 >"$TMPD/out" 2>"$TMPD/err"
ok "two short-lived events shared" grep -q "stored 2" "$TMPD/out"
got=0
for ((i = 0; i < 30; i++)); do
    [ "$(wc -l <"$CACHE")" -eq 3 ] && { got=1; break; }
    sleep 0.1
done
ok "pull --follow wrote the pushed events into the cache" test $got = 1
gone=0
for ((i = 0; i < 80; i++)); do
    [ "$(wc -l <"$CACHE")" -eq 1 ] && { gone=1; break; }
    sleep 0.1
done
ok "pull --follow dropped them when they expired" test $gone = 1
wait "$FOLLOW_PID"
ok "pull --follow ended after --duration with exit 0" test $? -eq 0
FOLLOW_PID=""
ok "cursor advanced past the new events" test "$(cat "$CACHE.cursor")" -ge 5
ok "the remaining event is the unexpired one" test "$(jq -r .event_id "$CACHE")" = "$ID2"
# SIGTERM cuts the wait for the stream short: the end asked for, no failure of the hub's to
# report (it said "Interrupted system call; reconnecting" as it ended)
"$FS38" pull $(tls op2) --out "$CACHE" --follow 2>"$W/follow-term.err" &
FOLLOW_PID=$!
sleep 1.5
kill -TERM "$FOLLOW_PID"
wait "$FOLLOW_PID"
rc=$?
FOLLOW_PID=""
ok "SIGTERM ends pull --follow with exit 0 (rc $rc)" test "$rc" = 0
ok "...with no error for the wait it cut short" not_in "reconnecting" "$W/follow-term.err"

# an expired indicator in a hand-made cache is ignored by inspect
jq -c '.valid_until = "2020-01-01T00:00:00.000Z" | .last_seen = "2020-01-01T00:00:00.000Z" | .first_seen = "2020-01-01T00:00:00.000Z"' \
    "$CACHE" >"$W/expired.ndjson"
expect_exit 0 "inspect --indicators with an expired cache" "$FS38" inspect --json --indicators "$W/expired.ndjson" "$PCAP"
ok "expired indicators raise nothing" test "$(jq -r 'select(.rule.id == "INTEL-001") | .rule.id' "$TMPD/out" | wc -l)" -eq 0
ok "the expired indicator is counted as skipped" grep -q "skipped 1 expired" "$TMPD/err"
printf '{"schema_version":"1.0"}\n' >"$W/broken.ndjson"
expect_exit 2 "inspect --indicators with an invalid cache" "$FS38" inspect --json --indicators "$W/broken.ndjson" "$PCAP"
ok "the bad line and field are named" grep -q "broken.ndjson:1:.*event_id" "$TMPD/err"

# ---- live: a running inspect reads the cache again when pull --follow rewrites it ----------------------------
# A HEP sensor (2 workers) starts with an empty cache; a probe from 127.0.2.5 then matches
# nothing. pull --follow fills the cache (ID2: 127.0.2.5); within seconds the
# sensor says so, and the next probe from 127.0.2.5 raises INTEL-001 with ID2.
cat >"$W/hep.py" <<'PY'
import socket, struct, sys, time
def chunk(t, v): return struct.pack("!HHH", 0, t, 6 + len(v)) + v
port, n = int(sys.argv[1]), int(sys.argv[2])
now = time.time()
msg = (b"OPTIONS sip:100@127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.2.5:5060;branch=z9hG4bKlive%d\r\n"
       b"From: <sip:100@127.0.2.5>;tag=%d\r\nTo: <sip:100@127.0.0.10>\r\nCall-ID: live%d\r\nCSeq: 1 OPTIONS\r\n"
       b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (n, n, n))
body = (chunk(1, b"\x02") + chunk(2, b"\x11") + chunk(3, socket.inet_aton("127.0.2.5")) +
        chunk(4, socket.inet_aton("127.0.0.10")) + chunk(7, struct.pack("!H", 5060)) + chunk(8, struct.pack("!H", 5060)) +
        chunk(9, struct.pack("!I", int(now))) + chunk(10, struct.pack("!I", int(now % 1 * 1e6))) + chunk(11, b"\x01") +
        chunk(15, msg))
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"HEP3" + struct.pack("!H", 6 + len(body)) + body, ("127.0.0.1", port))
PY
LIVE=$W/op2/live.ndjson
: >"$LIVE"
HP=$(free_port)
timeout -k 5 40 "$FS38" inspect -c /dev/null --hep 127.0.0.1:"$HP" --workers 2 --duration 14 --json --indicators "$LIVE" \
    --stats-json "$W/live-stats.json" >"$W/live.ndjson" 2>"$W/live.err" &
LIVE_PID=$!
for _ in $(seq 50); do grep -q "receiving HEP" "$W/live.err" && break; sleep 0.1; done
python3 "$W/hep.py" "$HP" 1
sleep 2.5 # the probe is read; the cache has not changed
"$FS38" pull $(tls op2) --out "$LIVE" --follow --duration 9 2>"$W/follow2.err" &
FOLLOW_PID=$!
seen=0
for _ in $(seq 80); do grep -q "indicators $LIVE changed: 1 shared indicators now (0 before)" "$W/live.err" && { seen=1; break; }; sleep 0.1; done
ok "live --indicators: the running sensor read the cache again when pull --follow wrote it" test $seen = 1
sleep 0.6 # every worker switches at its next record; the tick after frees the old set
python3 "$W/hep.py" "$HP" 2
wait "$LIVE_PID"
ok "...it ended as usual" test $? -eq 0
wait "$FOLLOW_PID"
FOLLOW_PID=""
ok "...the probe after it raised INTEL-001 for 127.0.2.5 with the shared event, the one before did not" \
    test "$(jq -r 'select(.rule.id == "INTEL-001") | "\(.observables[0].value) \(.evidence.details.ref.event_id) \(.evidence.count)"' "$W/live.ndjson" | sort -u)" = "127.0.2.5 $ID2 1"
ok "...--stats-json counts the reload" jq -e '.indicators.events == 1 and .indicators.reloads >= 1' "$W/live-stats.json"

# ---- a member that joins while pull --follow runs -------------------------------------------------------------
# pull fetched the registry when it started and fetched it again for an unknown kid only
# once 10 s had passed since: a member added (hub SIGHUP) within them had its first events
# fail as kid_unknown, the cursor moved past them, never fetched again (exit 1, then 0)
openssl req -new -key "$W/pki/op1.key" -subj "/CN=op3" -out "$W/pki/op3.csr" 2>/dev/null
openssl x509 -req -in "$W/pki/op3.csr" -CA "$W/pki/ca.crt" -CAkey "$W/pki/ca.key" -CAcreateserial -days 2 \
    -extfile "$W/pki/op1.ext" -out "$W/pki/op3.crt" 2>/dev/null
kid3=$("$FS38" keygen --issuer org:999-03 --out "$W/keys3" 2>/dev/null)
jq -c --arg fp "$(fingerprint "$W/pki/op3.crt")" '. + {cert_sha256: $fp}' "$W/keys3/$kid3.pub" >"$W/member3.json"
"$FS38" pull $(tls op2) --out "$W/op2/joined.ndjson" --follow --duration 6 2>"$W/follow3.err" &
FOLLOW_PID=$!
sleep 1.5
jq -c --slurpfile m "$W/member3.json" '.members += $m' "$W/registry.json" >"$W/registry.new" &&
    mv "$W/registry.new" "$W/registry.json"
kill -HUP "$HUB_PID"
for _ in $(seq 50); do grep -q "3 members" "$W/hub.log" && break; sleep 0.1; done
"$FS38" inspect --json "$PCAP" 2>/dev/null | head -1 | jq -c '.issuer = "org:999-03"' |
    "$FS38" share --hub "$HUB" --cert "$W/pki/op3.crt" --key "$W/pki/op1.key" --ca "$W/pki/ca.crt" \
        --signing-key "$W/keys3/$kid3.key" --valid-for 3600 >"$TMPD/out" 2>"$TMPD/err"
ok "the new member's event stored" grep -q "stored 1" "$TMPD/out"
wait "$FOLLOW_PID"
rc=$?
FOLLOW_PID=""
ok "pull --follow started before the member joined: exit 0 (rc $rc)" test $rc = 0
ok "...and its event is in the cache" test "$(jq -r .issuer "$W/op2/joined.ndjson" | grep -c org:999-03)" = 1

# ---- a run of large events: each page of GET /v1/events fits in what pull reads (64 MiB) ----------
# 800 events of ~62 KiB (~84 KiB signed): a page of 1000 was 67 MB, refused as too large, on
# every run and every retry of --follow, so one member publishing them stopped everyone's pull
python3 - "$W/events.ndjson" >"$W/big.ndjson" <<'PY'
import json, os, sys
base = json.loads(open(sys.argv[1]).readline())
for i in range(800):
    h = os.urandom(16).hex()
    base["event_id"] = f"{h[0:8]}-{h[8:12]}-7{h[13:16]}-{(int(h[16], 16) & 3) | 8:x}{h[17:20]}-{h[20:32]}"
    base["evidence"].setdefault("details", {})["pad"] = "A" * 62000
    print(json.dumps(base, separators=(",", ":")))
PY
expect_exit 0 "share 800 events of 62 KiB" "$FS38" share $(tls op1) --signing-key "${KEY[op1]}" --valid-for 3600 \
    --batch 40 <"$W/big.ndjson"
ok "...all stored" grep -q "stored 800, duplicate 0, rejected 0" "$TMPD/out"
expect_exit 0 "pull them into a new cache" "$FS38" pull $(tls op2) --out "$W/op2/big.ndjson"
ok "...every one is cached" test "$(grep -c '"pad"' "$W/op2/big.ndjson")" -eq 800
# a batch over the hub's limits.max_body (4 MiB here): share asks Expect: 100-continue, the
# hub answers 413 before the body, and share halves its batches until they fit (it stopped
# at the first 413, or was killed by SIGPIPE when the hub closed while it still sent)
"$FS38" share $(tls op1) --signing-key "${KEY[op1]}" --valid-for 3600 <"$W/big.ndjson" >"$TMPD/out" 2>"$TMPD/err"
rc=$?
ok "a batch over the hub's max_body: sent again in smaller batches, exit 0 (rc $rc)" test "$rc" = 0
ok "...every event reached the hub (they were stored before)" grep -q "stored 0, duplicate 800, rejected 0" "$TMPD/out"
ok "...the 413 and the smaller batch named" \
    grep -qE "127.0.0.1:$PORT answered 413 .*sending at most [0-9]+ events? per request" "$TMPD/err"

# a live pipe (`inspect -i eth0 --json | share`): an event read goes out within about a second,
# not once a whole batch (500) has come; SIGINT/SIGTERM publish what was read before the end
# (the events waited in the batch for as long as the pipe stayed open, and a signal lost them)
python3 - "$W/events.ndjson" >"$W/live.ndjson" <<'PY'
import json, os, sys
base = json.loads(open(sys.argv[1]).readline())
for i in range(60):
    h = os.urandom(16).hex()
    base["event_id"] = f"{h[0:8]}-{h[8:12]}-7{h[13:16]}-{(int(h[16], 16) & 3) | 8:x}{h[17:20]}-{h[20:32]}"
    print(json.dumps(base, separators=(",", ":")))
PY
live_id=$(head -1 "$W/live.ndjson" | jq -r .event_id)
sleep 1.1
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
(head -1 "$W/live.ndjson"; sleep 8) | "$FS38" share $(tls op1) --signing-key "${KEY[op1]}" --valid-for 3600 \
    >"$W/live.out" 2>"$W/live.err" &
live_pid=$!
sleep 4
held=$(hcurl op2 "/v1/events?since=$since" | jq -r '.events[].jws' | cut -d. -f2 | tr _- /+ |
    while read -r p; do printf '%s==' "$p" | base64 -d 2>/dev/null | jq -r .event_id; done)
ok "an event from a pipe still open is on the hub within seconds" test "$held" = "$live_id"
wait $live_pid
ok "...counted stored once" grep -q "stored 1, duplicate 0, rejected 0" "$W/live.out"
(tail -n +2 "$W/live.ndjson" | while read -r l; do echo "$l"; sleep 0.2; done) |
    "$FS38" share $(tls op1) --signing-key "${KEY[op1]}" --valid-for 3600 >"$W/live.out" 2>"$W/live.err" &
live_pid=$!
sleep 4
kill -TERM $live_pid
wait $live_pid
rc=$?
read_n=$(sed -n 's/^fs38 share: \([0-9]*\) events read.*/\1/p' "$W/live.out")
ok "SIGTERM while events come in a trickle: what was read is published (rc $rc, ${read_n:-no} events read)" \
    test "$rc" = 0 -a "${read_n:-0}" -gt 0
ok "...every one of them stored" grep -q "stored $read_n, duplicate 0, rejected 0" "$W/live.out"

# an event op1 signed, as the hub serves it (hostile newkid)
hcurl op2 "/v1/events?after=0&limit=1&type=SIP_SCANNER" | jq -r '.events[0].jws' >"$W/op1.jws"
kill "$HUB_PID" 2>/dev/null
wait "$HUB_PID" 2>/dev/null
HUB_PID=""

# ---- a hub that misbehaves (hostile_hub.py, the test PKI's hub certificate) ---------------------
# hostile MODE: start it on a free port; $HH_PORT, requests logged in $W/hh-MODE.log
hostile() {
    HH_PORT=$(free_port)
    : >"$W/hh-$1.log"
    python3 tests/cli/hostile_hub.py "$HH_PORT" "$W/pki/hub.crt" "$W/pki/hub.key" "$W/pki/ca.crt" "$1" \
        "$W/hh-$1.log" 2>/dev/null &
    HH_PID=$!
    local i
    for ((i = 0; i < 50; i++)); do ss -Hltn "src 127.0.0.1:$HH_PORT" | grep -q . && return 0; sleep 0.1; done
}
htls() { echo --hub "https://127.0.0.1:$HH_PORT" --cert "$W/pki/op2.crt" --key "$W/pki/op2.key" --ca "$W/pki/ca.crt" \
    --registry "$W/registry.json"; }
# timed_pull MODE N SEC: fs38 pull --timeout SEC from a hostile hub of MODE into hhN;
# sets rc and took (seconds)
timed_pull() {
    hostile "$1"
    local start
    start=$(date +%s)
    timeout -s KILL 60 "$FS38" pull $(htls) --out "$W/hh$2.ndjson" --timeout "$3" -q 2>"$W/hh$2.err"
    rc=$?
    took=$(( $(date +%s) - start ))
}
# a stream that is answered and closed at once: pull --follow waits between tries (it
# reconnected at once, ~85 times a second, a GET /v1/events and a stream each time)
hostile closing
timeout 20 "$FS38" pull $(htls) --out "$W/hh1.ndjson" --follow --duration 5 -q 2>"$W/hh1.err"
n=$(grep -c '^GET /v1/stream' "$W/hh-closing.log")
ok "a stream closed at once: pull --follow waits 1, 2, 4 s between tries ($n streams in 5 s)" test "$n" -ge 2 -a "$n" -le 4
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# a stream of comment lines back to back: --duration and SIGTERM still end pull --follow
hostile pings
start=$(date +%s%N)
timeout -s KILL 20 "$FS38" pull $(htls) --out "$W/hh2.ndjson" --follow --duration 2 -q 2>"$W/hh2.err"
rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
ok "pings without end: pull --follow --duration 2 ends ($took ms, rc $rc)" test "$rc" = 0 -a "$took" -lt 6000
timeout -s KILL 20 "$FS38" pull $(htls) --out "$W/hh3.ndjson" --follow -q 2>"$W/hh3.err" &
pid=$!
sleep 1.5
kill -TERM $pid
start=$(date +%s%N)
wait $pid
rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
ok "...and SIGTERM ends it ($took ms, rc $rc)" test "$rc" = 0 -a "$took" -lt 3000
# SIGHUP (a logrotate postrotate's pkill -HUP reaching it) ends it as SIGTERM does, its own exit
timeout -s KILL 20 "$FS38" pull $(htls) --out "$W/hh4.ndjson" --follow -q 2>"$W/hh4.err" &
pid=$!
sleep 1.5
kill -HUP $pid
wait $pid
rc=$?
ok "...and SIGHUP ends it the same way (rc $rc, not killed by the signal: 129)" test "$rc" != 129 -a "$rc" != 137
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# an answer that trickles, a byte within each read's timeout: the whole answer is bounded
# (30 x --timeout), it held the client for as long as the hub liked
timed_pull slow 4 1
ok "an answer at a byte every 0.3 s: pull --timeout 1 gives up after 30 s ($took s, rc $rc)" \
    test "$rc" = 2 -a "$took" -ge 29 -a "$took" -le 40
ok "...saying so" grep -q "no whole answer within 30 s" "$W/hh4.err"
# SIGTERM while pull --follow pages (a long catch-up when the service is stopped): the end
# asked for, exit 0 (it exited 2, "Interrupted system call", naming the hub as the fault)
timeout -s KILL 20 "$FS38" pull $(htls) --out "$W/hh4t.ndjson" --follow 2>"$W/hh4t.err" &
pid=$!
sleep 1.5
kill -TERM $pid
wait $pid
rc=$?
ok "SIGTERM while pull --follow pages ends it cleanly (rc $rc)" test "$rc" = 0
ok "...with no error for the wait it cut short" not_in "Interrupted" "$W/hh4t.err"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# a handshake that trickles, a byte within each read's timeout: done within --timeout
# as a whole, or given up (it held the client for as long as the hub liked)
timed_pull handshake 7 2
ok "a TLS handshake at a byte every 0.3 s: pull --timeout 2 gives up after 2 s ($took s, rc $rc)" \
    test "$rc" = 2 -a "$took" -ge 1 -a "$took" -le 6
ok "...saying so" grep -q "TLS handshake not done within 2000 ms" "$W/hh7.err"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# an answer in one TLS record that trickles, a byte within each read's timeout: OpenSSL read
# the record to its end inside one blocking read, past the whole answer's bound (30 x --timeout)
timed_pull record 12 1
ok "an answer's TLS record at a byte every 0.3 s: pull --timeout 1 gives up after 30 s ($took s, rc $rc)" \
    test "$rc" = 2 -a "$took" -ge 29 -a "$took" -le 40
ok "...saying so" grep -q "no whole answer within 30 s" "$W/hh12.err"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# ...and a stream's event in such a record: --duration still ends pull --follow
hostile record-stream
start=$(date +%s%N)
timeout -s KILL 20 "$FS38" pull $(htls) --out "$W/hh13.ndjson" --follow --duration 3 --timeout 30 -q 2>"$W/hh13.err"
rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
ok "a stream's TLS record at a byte every 0.3 s: pull --follow --duration 3 ends ($took ms, rc $rc)" \
    test "$rc" = 0 -a "$took" -lt 8000
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# 16 MiB of "[],": refused before jansson builds it (3 GB for 64 MiB before)
hostile bloat
/usr/bin/time -f %M -o "$W/hh5.rss" "$FS38" pull $(htls) --out "$W/hh5.ndjson" -q 2>"$W/hh5.err"
rc=$?
rss=$(tail -1 "$W/hh5.rss")
ok "a page of 16 MiB of empty arrays: refused (rc $rc), $((rss / 1024)) MB resident" test "$rc" = 2 -a "$rss" -lt 150000
ok "...naming why" grep -q "more than .* values in" "$W/hh5.err"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# escape sequences in the hub's error text do not reach the terminal
hostile escape
"$FS38" pull $(htls) --out "$W/hh6.ndjson" -q 2>"$W/hh6.err"
ok "a hub's error text with terminal escapes: shown without them" \
    is "$(grep -c 'hub says no' "$W/hh6.err") $(tr -dc '\033\007' <"$W/hh6.err" | wc -c)" "1 0"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# items without a jws or a seq count as failed verification (exit 1): each is named too
hostile malformed
"$FS38" pull $(htls) --out "$W/hh10.ndjson" -q 2>"$W/hh10.err"
rc=$?
ok "items without a jws string: exit 1, each named with the hub (rc $rc)" \
    test "$rc" = 1 -a "$(grep -c "127.0.0.1:$HH_PORT: item . of GET /v1/events.*not cached: no \"jws\" string" "$W/hh10.err")" = 2
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# a publish answered 200 with broken JSON: said so (it said "no results array"), nothing counted stored
hostile badjson
"$FS38" share --hub "https://127.0.0.1:$HH_PORT" --cert "$W/pki/op1.crt" --key "$W/pki/op1.key" --ca "$W/pki/ca.crt" \
    --signing-key "${KEY[op1]}" --valid-for 3600 <"$W/events.ndjson" >"$W/hh11.out" 2>"$W/hh11.err"
rc=$?
ok "a publish answered with broken JSON: exit 2, nothing stored (rc $rc)" test "$rc" = 2 && grep -q "stored 0," "$W/hh11.out"
ok "...named as not JSON" grep -q "127.0.0.1:$HH_PORT: answer to POST /v1/events is not JSON" "$W/hh11.err"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# an answer without a length ends at the hub's close; a reset (or a timeout) is no end: the
# part read was taken for the whole answer, and "not JSON" said instead of what happened
hostile reset
"$FS38" pull $(htls) --out "$W/hh9.ndjson" -q 2>"$W/hh9.err"
ok "an answer cut by a TCP reset: named as such, not as bad JSON" grep -q "127.0.0.1:$HH_PORT: Connection reset by peer" "$W/hh9.err"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# 429 with Retry-After: 3: share waits that long (it retried after 1 s, then 2 s, refused
# again each time, and gave up after 31 s while a hub asked for 40)
hostile ratelimited
"$FS38" share --hub "https://127.0.0.1:$HH_PORT" --cert "$W/pki/op1.crt" --key "$W/pki/op1.key" --ca "$W/pki/ca.crt" \
    --signing-key "${KEY[op1]}" --valid-for 3600 <"$W/events.ndjson" >"$W/hh8.out" 2>"$W/hh8.err"
rc=$?
ok "a 429 with Retry-After: 3: share waits 3 s and publishes at the second try (rc $rc, $(grep -c '^POST' "$W/hh-ratelimited.log") POSTs)" \
    test "$rc" = 0 -a "$(grep -c '^POST' "$W/hh-ratelimited.log")" = 2
ok "...saying how long" grep -q "retry after 3 s; retrying in 3 s" "$W/hh8.err"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# a hub that never answers Expect: 100-continue: share sends the body after 1 s (RFC 9110 10.1.1)
hostile deaf
head -2 "$W/big.ndjson" | "$FS38" share --hub "https://127.0.0.1:$HH_PORT" --cert "$W/pki/op1.crt" \
    --key "$W/pki/op1.key" --ca "$W/pki/ca.crt" --signing-key "${KEY[op1]}" --valid-for 3600 \
    >"$W/hh12.out" 2>"$W/hh12.err"
rc=$?
ok "no 100 Continue to a 170 KB batch: share sends it anyway (rc $rc)" test "$rc" = 0
ok "...it asked first" grep -q "^POST /v1/events HTTP/1.1 expect$" "$W/hh-deaf.log"
ok "...and both were stored" grep -q "stored 2, duplicate 0, rejected 0" "$W/hh12.out"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# a chunked stream's trailer lines without end, one every 0.5 s: they were read without the
# caller's timeout (only the hub's, 10 s, per line), so --duration never ended pull --follow
hostile trailers
start=$(date +%s%N)
timeout -s KILL 20 "$FS38" pull $(htls) --out "$W/hh14.ndjson" --follow --duration 3 -q 2>"$W/hh14.err"
rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
ok "a stream's trailers without end: pull --follow --duration 3 ends ($took ms, rc $rc)" test "$rc" = 0 -a "$took" -lt 8000
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# a stream answered 200 with JSON (a proxy, a wrong URL): named, not "the stream ended" again and again
hostile jsonstream
timeout -s KILL 20 "$FS38" pull $(htls) --out "$W/hh16.ndjson" --follow --duration 2 -q 2>"$W/hh16.err"
rc=$?
ok "a stream answered with JSON: pull --follow --duration 2 ends (rc $rc)" test "$rc" = 0
ok "...naming the content type" grep -q "/v1/stream?after=0 answered 200 with Content-Type 'application/json', not text/event-stream; retrying" "$W/hh16.err"
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
# an event signed by a key the registry fetched at the start does not hold (a member that just
# joined), and the registry cannot be fetched again for it (503): the event is left for the next
# pull, which takes it (it was counted kid_unknown and the cursor moved past it for good)
HH_REG1=$W/registry-op2.json HH_REG=$W/registry.json HH_JWS=$W/op1.jws hostile newkid
hpull() { "$FS38" pull --hub "https://127.0.0.1:$HH_PORT" --cert "$W/pki/op2.crt" --key "$W/pki/op2.key" \
    --ca "$W/pki/ca.crt" --out "$W/hh15.ndjson" "$@"; }
expect_exit 2 "a new member's event when the registry cannot be fetched again" hpull
ok "...says why, naming the seq left for the next try" \
    grep -q "answered 503 to GET /v1/registry (fetching the trust registry again for seq 1," "$TMPD/err"
ok "...and the cursor stays before it" test "$(cat "$W/hh15.ndjson.cursor" 2>/dev/null || echo 0)" = 0
expect_exit 0 "the next pull, the registry served again" hpull
ok "...takes that event ($(grep -c . "$W/hh15.ndjson") cached)" test "$(grep -c . "$W/hh15.ndjson")" -eq 1
kill $HH_PID 2>/dev/null; wait $HH_PID 2>/dev/null
finish test_share_pull
