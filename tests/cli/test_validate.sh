#!/usr/bin/env bash
# fs38 validate: valid events pass, every invalid test event is refused with
# the field its MANIFEST.tsv names, exit codes.
source "$(dirname "$0")/lib.sh"
INV=$ROOT/tests/data/exchange/invalid

expect_exit 0 "validate --help" "$FS38" validate --help
ok "--help documents exit codes" grep -q "Exit codes" "$TMPD/out"

# what inspect writes is valid
"$FS38" inspect -c "$ROOT/examples/site.yaml" --json "$ROOT"/examples/*.pcap >"$TMPD/ev.ndjson"
ok "inspect wrote events" test -s "$TMPD/ev.ndjson"
expect_exit 0 "inspect's events validate" "$FS38" validate "$TMPD/ev.ndjson"
expect_exit 0 "from stdin" bash -c "'$FS38' validate < '$TMPD/ev.ndjson'"
expect_exit 0 "valid test events" "$FS38" validate "$ROOT"/tests/data/exchange/valid/*.json

# every invalid file: exit 1 and the named field
while IFS=$'\t' read -r file field _; do
    case $file in ''|\#*) continue ;; esac
    expect_exit 1 "$file is invalid" "$FS38" validate "$INV/$file"
    ok "$file: names $field" grep -qF -- ": $field: " "$TMPD/out"
done <"$INV/MANIFEST.tsv"

# one bad line among good ones: only it is reported, with its line number
{ head -2 "$TMPD/ev.ndjson"; printf '{"schema_version":"1.0"}\n'; } >"$TMPD/mixed.ndjson"
expect_exit 1 "one bad line" "$FS38" validate "$TMPD/mixed.ndjson"
ok "bad line numbered" grep -q "mixed.ndjson:3: event_id" "$TMPD/out"
ok "good lines quiet" bash -c "! grep -q 'mixed.ndjson:[12]:' '$TMPD/out'"
expect_exit 2 "missing file" "$FS38" validate "$TMPD/nope.ndjson"
# an unreadable input is named, and the inputs after it are still checked
expect_exit 2 "missing then good" "$FS38" validate "$TMPD/nope.ndjson" "$TMPD" "$TMPD/mixed.ndjson"
ok "the missing one is named" grep -q "nope.ndjson: No such file" "$TMPD/err"
ok "a directory is named as one" grep -q "Is a directory" "$TMPD/err"
ok "the good one was still checked" grep -q "mixed.ndjson:3: event_id" "$TMPD/out"
# a big input that is not one event is read as lines, never parsed whole
python3 -c "
import sys
sys.stdout.write('[' + '1,' * 400000 + '1]')" >"$TMPD/big.json"
expect_exit 1 "a 800 KB document is checked as a line" "$FS38" validate "$TMPD/big.json"
ok "over the event limit, named" grep -q "big.json:1:" "$TMPD/out"
finish test_validate
