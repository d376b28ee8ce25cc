#!/usr/bin/env bash
# test_docs.sh -- the documentation shows what the program does today:
#   - README.md's example output is what `make run` prints (every line of the
#     abridged example, in order; the wall time and the distinct-count
#     estimates, which vary run to run, masked);
#   - every field --stats-json writes is explained in docs/operations.md;
#   - every rule `fs38 rules` lists has its section in docs/rules.md
#     (test_docs.c checks the sections' defaults against rules.h);
#   - every long option of src/cli/cmd_*.c (but --help) is in that command's
#     --help;
#   - the systemd units in etc/systemd verify, use options that exist, and
#     the sensor's command line runs (needs root: it captures on lo);
#   - scripts/setup.sh installs the package of every tool outside Debian's
#     essential set that the tests, scripts and examples/generate.sh call.
# Usage: FS38=build/asan/fs38 tests/cli/test_docs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

# ---- README example = make run ----
mask() { sed -E 's/ in [0-9.]+ s$/ in T s/; s/(distinct_[a-z]+)=[0-9]+/\1=N/g'; }
COLUMNS=120 "$FS38" inspect --config examples/site.yaml examples/*.pcap 2>"$TMPD/err" | mask >"$TMPD/run"
ok "make run's command exits 0" test "${PIPESTATUS[0]}" -eq 0
awk '/^Example \(`make run`/ {f = 1; next} f && /^```$/ {if (in_block) exit; in_block = 1; next} in_block' README.md |
    mask >"$TMPD/readme"
ok "README has an example block" test -s "$TMPD/readme"
# each README line (but the "  ..." of the abridgement) found in the output, in order
PY_INORDER='
import sys
want = [l.rstrip("\n") for l in open(sys.argv[1]) if l.rstrip("\n") != "  ..."]
have = [l.rstrip("\n") for l in open(sys.argv[2])]
pos = 0
for w in want:
    try:
        pos = have.index(w, pos) + 1
    except ValueError:
        sys.exit("README line not in the output of make run (in this order): %r" % w)
'
ok "README example output is what make run prints" python3 -c "$PY_INORDER" "$TMPD/readme" "$TMPD/run"

# ---- every --stats-json field is in docs/operations.md ----
"$FS38" inspect -q --config examples/site.yaml --stats-json "$TMPD/stats.json" examples/*.pcap 2>/dev/null
ok "stats written" test -s "$TMPD/stats.json"
# the documented names: backquoted words on the rows of the --stats-json table
sed -n '/^### `--stats-json FILE`/,/^### /p' docs/operations.md | grep '^| `' |
    grep -oE '`[a-z0-9_.*]+`' | tr -d '`' | sort -u >"$TMPD/documented"
# field paths, without the per-method/class/transport/anomaly/rule maps' keys
# and the leaves of the objects whose rows list them all (calls, memory.*)
jq -r 'paths(scalars) | map(tostring) | join(".")' "$TMPD/stats.json" |
    sed -E 's/^(methods|status_classes|transports|anomalies|events_by_rule|worker_messages)\..*/\1/' |
    sort -u >"$TMPD/fields"
# a field is documented by its path, by its path below the top object
# (`if_dropped` on the `capture.kernel_dropped` row) or by a pattern with *
# (`memory.*_evicted`, `capacity.*`); calls' keys are named on its row
documented() {
    local f=$1 d
    while read -r d; do
        # shellcheck disable=SC2053 # $d is a pattern on purpose
        [[ $f == $d || ${f#*.} == $d ]] && return 0
    done <"$TMPD/documented"
    [[ $f == calls.* ]] && grep -q "^| \`calls\` | .*\`${f#calls.}\`" docs/operations.md
}
missing=0
while read -r f; do
    documented "$f" || { echo "--stats-json field $f is not in docs/operations.md" >&2; missing=$((missing + 1)); }
done <"$TMPD/fields"
ok "every --stats-json field is documented" test "$missing" -eq 0
ok "fields were found" test "$(wc -l <"$TMPD/fields")" -gt 60
# `memory.*_evicted` is every bounded table's, as fs38_evicted_total{table} is:
# the destinations table's evictions were in /metrics only
for t in $(jq -r '.memory.capacity | keys[]' "$TMPD/stats.json"); do
    ok "--stats-json memory.${t}_evicted (memory.capacity.$t's table)" \
        jq -e ".memory | has(\"${t}_evicted\")" "$TMPD/stats.json"
done

# ---- the rough sizing of "Memory and state" is what the defaults take ----
"$FS38" inspect -q -c /dev/null --stats-json "$TMPD/defaults.json" examples/benign.pcap 2>/dev/null
sizing=$(jq -r '.memory | "take \(.state_bytes / 1048576 * 10 | round / 10) MB of tables at start, and at most \(.state_bound_bytes / 1048576 * 10 | round / 10) MB"' "$TMPD/defaults.json")
ok "docs/operations.md: the defaults $sizing" grep -q "$sizing" <(tr '\n' ' ' <docs/operations.md | tr -s ' ')
# ...and what N workers take: docs/configuration.md said memory does not grow
# with N, but each worker's share of a limit is rounded up to a table size
# (3 workers tracked 98,304 sources for 65,536, bound 237.4 MB for 171.4)
for w in 3 7; do
    "$FS38" inspect -q -c /dev/null --workers $w --stats-json "$TMPD/w$w.json" examples/benign.pcap 2>/dev/null
    figs=$(jq -r '.memory | "\(.capacity.sources) \(.state_bound_bytes / 1048576 * 10 | round / 10)"' "$TMPD/w$w.json")
    read -r cap mb <<<"$figs"
    cap=$(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$cap") # 98304 -> 98,304
    ok "docs/configuration.md: $w workers track $cap sources, bound $mb MB" \
        grep -qE "$w( or [0-9]+)? workers( track)? $cap .*\($([ "$w" = 3 ] && echo 'state bound ')$mb MB" \
        <(tr '\n' ' ' <docs/configuration.md | tr -s ' ')
done

# ---- the fuzz harnesses: README's `make fuzz` row and architecture.md's fuzz/ row name each ----
# (one item per fuzz/fuzz_*.c; architecture.md left fuzz_esp_sa.c out)
nharness=$(find fuzz -maxdepth 1 -name 'fuzz_*.c' | wc -l)
harness_items() { grep -E "$1" "$2" | head -1 | sed -E 's/^[^(]*\(([^)]*)\).*/\1/' | tr ',' '\n' | grep -c .; }
ok "README's make fuzz row names the $nharness harnesses (names $(harness_items '^\| `make fuzz` \|' README.md))" \
    test "$(harness_items '^\| `make fuzz` \|' README.md)" -eq "$nharness"
ok "architecture.md's fuzz/ row names the $nharness harnesses (names $(harness_items '^\| `fuzz/` \|' docs/architecture.md))" \
    test "$(harness_items '^\| `fuzz/` \|' docs/architecture.md)" -eq "$nharness"

# ---- every rule has its section in docs/rules.md ----
"$FS38" rules >"$TMPD/rules"
nr=0
while read -r id _; do
    [[ $id =~ ^[A-Z]+(-[A-Z]+)?-[0-9]{3}$ ]] || continue # the header, the settings line
    nr=$((nr + 1))
    ok "docs/rules.md has $id" grep -q "^### $id — " docs/rules.md
done <"$TMPD/rules"
ok "fs38 rules lists rules" test "$nr" -gt 20

# ---- every option a command accepts is in its --help ----
for src in src/cli/cmd_*.c; do
    cmd=$(basename "$src" .c); cmd=${cmd#cmd_}; cmd=${cmd//_/-}
    "$FS38" "$cmd" --help >"$TMPD/help" 2>&1
    ok "fs38 $cmd --help exits 0" test $? -eq 0
    # a help text that cannot be written is an output error, said: it was 0, silently
    "$FS38" "$cmd" --help >/dev/full 2>"$TMPD/full.err"
    ok "fs38 $cmd --help >/dev/full exits 2 (got $?)" test $? -eq 2
    ok "...and says so: $(head -1 "$TMPD/full.err")" grep -q "^fs38 $cmd: writing to stdout" "$TMPD/full.err"
    for opt in $(grep -oE '\{"[a-z][a-z-]*", *(no|required|optional)_argument' "$src" | cut -d'"' -f2); do
        [ "$opt" = help ] && continue
        ok "fs38 $cmd --help names --$opt" grep -q -- "--$opt\b" "$TMPD/help"
    done
done

for args in --help version; do
    "$FS38" $args >/dev/full 2>"$TMPD/full.err"
    ok "fs38 $args >/dev/full exits 2 (got $?), saying so" \
        bash -c "test $? -eq 2 && grep -q '^fs38: writing to stdout' '$TMPD/full.err'"
done

# ---- inspect --help tells live reporting as docs/events.md does ----
# an incident that goes on is reported again every half ttl_s (versions 3, 4 ...):
# --help said version 1 at open and version 2 at close, nothing in between
"$FS38" inspect --help | tr '\n' ' ' | tr -s ' ' >"$TMPD/inspect-help"
ok "inspect --help: live reports while an incident goes on, every half ttl_s" \
    grep -q "again while it goes on, each time half its ttl_s passed since the last report" "$TMPD/inspect-help"
ok "...as docs/events.md says" grep -q "goes on for half its .ttl_s. past its last report is reported again" \
    <(tr '\n' ' ' <docs/events.md | tr -s ' ')
ok "...no fixed version 2 at close" bash -c "! grep -q '(version 2)' '$TMPD/inspect-help'"

# ---- docs/events.md's example event is one fs38 writes ----
# valid, window_s = last_seen - first_seen to the millisecond and valid_until =
# last_seen + ttl_s (as its table says), an event_id made no later than the
# event (UUIDv7: sortable by creation time); it said window_s 11.9 for 11.869 s
awk '/^```json/ {f = 1; next} /^```/ {f = 0} f' docs/events.md >"$TMPD/doc-event.json"
expect_exit 0 "docs/events.md's example event validates" "$FS38" validate "$TMPD/doc-event.json"
PY_DOC_EVENT='
import datetime, json, sys
e = json.load(open(sys.argv[1]))
t = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
first, last, until, created = (t(e[k]) for k in ("first_seen", "last_seen", "valid_until", "created"))
msg = []
if round((last - first).total_seconds(), 3) != e["evidence"]["window_s"]:
    msg.append("window_s %r, last_seen - first_seen %r" % (e["evidence"]["window_s"], (last - first).total_seconds()))
if (until - last).total_seconds() != e["recommended_action"]["ttl_s"]:
    msg.append("valid_until - last_seen != ttl_s")
made = datetime.datetime.fromtimestamp(int(e["event_id"].replace("-", "")[:12], 16) / 1000, datetime.timezone.utc)
if made > created:
    msg.append("event_id made %s, after created" % made.isoformat())
sys.exit("; ".join(msg) or None)
'
ok "...its figures agree as fs38 writes them" python3 -c "$PY_DOC_EVENT" "$TMPD/doc-event.json"

# ---- scripts/setup.sh installs what the tests and scripts call ----
# TOOL:PACKAGE for the tools they run that a minimal Debian (a container) does
# not have: "important" packages such as iproute2 and procps are not there.
# Each must be called somewhere (the list does not rot), come from PACKAGE where
# dpkg knows it, and PACKAGE must be in setup.sh's list.
SETUP_TOOLS="ss:iproute2 pgrep:procps sipp:sip-tester kamailio:kamailio tshark:tshark tcpdump:tcpdump
    jq:jq curl:curl nft:nftables strace:strace sngrep:sngrep gnutls-cli:gnutls-bin openssl:openssl
    nats-server:nats-server llvm-profdata:llvm-14"
setup_pkgs=" $(sed -n '/^PKGS=(/,/)/p' scripts/setup.sh | tr -d '()' | sed 's/^PKGS=//' | tr -s ' \n' '  ') "
callers=(tests/run.sh tests/cli/*.sh scripts/*.sh examples/generate.sh)
for tp in $SETUP_TOOLS; do
    tool=${tp%%:*} pkg=${tp#*:}
    ok "setup: $tool is called by a test or script" grep -qE "(^|[^a-zA-Z0-9_./-])$tool([^a-zA-Z0-9_.-]|$)" "${callers[@]}"
    ok "setup: scripts/setup.sh installs $pkg ($tool)" test "${setup_pkgs#* $pkg }" != "$setup_pkgs"
    path=$(command -v "$tool" || command -v "$tool-14") || continue
    owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null) || continue
    ok "setup: $tool comes from $pkg (dpkg: ${owner%%:*})" test "${owner%%:*}" = "$pkg"
done

# ---- the systemd units in etc/systemd: valid, and their command lines work ----
# systemd-analyze verify on each (the binary path pointed at the one under
# test); every --option of an ExecStart is in that command's --help; the
# sensor's command line runs for a second on lo with its paths moved here
for unit in etc/systemd/*.service; do
    name=$(basename "$unit")
    sed "s|/usr/local/bin/fs38|$(realpath "$FS38")|" "$unit" >"$TMPD/$name"
    ok "$name: systemd-analyze verify" systemd-analyze verify "$TMPD/$name"
    exec_line=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | sed 's/\\$//' | tr '\n' ' ' | sed 's/^ExecStart=//')
    cmd=$(echo "$exec_line" | awk '{ print $2 }')
    "$FS38" "$cmd" --help >"$TMPD/help" 2>&1
    for opt in $(echo "$exec_line" | grep -oE -- '--[a-z][a-z-]*'); do
        ok "$name: fs38 $cmd knows $opt" grep -q -- "$opt\b" "$TMPD/help"
    done
done
# docs/hub.md revokes members with `systemctl reload` (SIGHUP); without an
# ExecReload, systemd refuses: "Job type reload is not applicable"
ok "fs38-hub.service: systemctl reload sends SIGHUP (docs/hub.md)" \
    grep -qx 'ExecReload=/bin/kill -HUP \$MAINPID' etc/systemd/fs38-hub.service
mkdir -p "$TMPD/unit"
exec_line=$(sed -n '/^ExecStart=/,/[^\\]$/p' etc/systemd/fs38-inspect.service | sed 's/\\$//' | tr '\n' ' ' |
    sed -e 's/^ExecStart=[^ ]* //' -e 's/-i eth0/-i lo --duration 1/' -e "s|/etc/fs38/fs38.yaml|$ROOT/etc/fs38.yaml|" \
        -e "s|/var/log/fs38/|$TMPD/unit/|" -e "s|/var/lib/fs38/|$TMPD/unit/|" -e 's/127.0.0.1:9438/127.0.0.1:0/')
# shellcheck disable=SC2086 # the unit's words, split as systemd splits them
"$FS38" $exec_line >"$TMPD/unit/out" 2>"$TMPD/unit/err"
rc=$?
ok "fs38-inspect.service's command line runs (on lo, for 1 s): exit $rc, $(tail -1 "$TMPD/unit/err")" test $rc -eq 0
ok "...and writes its statistics" jq -e '.final == true' "$TMPD/unit/stats.json"

finish test_docs
