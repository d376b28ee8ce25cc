#!/usr/bin/env bash
# fuzz.sh -- runs every libFuzzer harness in a folder for a fixed time each.
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh build/fuzz
#
# For harness fuzz_NAME the starting corpus is a temporary copy of
# fuzz/corpus/NAME/ plus the test data already in that harness's input format
# (sip: tests/data/rfc4475 torture messages, tests/data/cve (inputs that broke
# other SIP stacks) and tests/data/sip; detect: the
# same torture messages as one record each; config: tests/data/config YAML
# with the selector byte; pcapng: tests/data/capture/*.pcapng), so runs never write into
# the repository (fuzz/make_seeds.py writes the structured seeds gen_* there;
# each harness also gets its dictionary, see dict_for). Crash/timeout/OOM inputs go to
# BUILD/artifacts/NAME-*, the libFuzzer log to BUILD/logs/NAME.log.
# Prints one line per harness and "fuzz: N passed, N failed"; exits 1 if any
# harness crashed, timed out, ran out of memory or did not run.
set -uo pipefail

dir=${1:?usage: scripts/fuzz.sh BUILD_FUZZ_DIR}
cd "$(dirname "$0")/.." || exit 2
secs=${FUZZ_SECONDS:-60}
art=$dir/artifacts logs=$dir/logs
mkdir -p "$art" "$logs"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# FUZZ_KEEP=DIR keeps each harness's final corpus in DIR/NAME (for
# scripts/fuzz-cov.sh); FUZZ_ONLY=NAME runs that harness alone.
keep=${FUZZ_KEEP:-}
only=${FUZZ_ONLY:-}

# Largest input worth trying: SIP messages are bounded by limits.max_message
# (64 KiB) but bugs live in the first few KiB; captures need several frames.
max_len_for() {
    case $1 in
    sip* | hep*) echo 16384 ;;
    decode* | pcap* | cap* | tcp* | frag* | detect*) echo 65536 ;;
    sctp*) echo 4096 ;; # 3-byte records: over a thousand chunks
    cfg* | config* | yaml*) echo 8192 ;;
    *) echo 16384 ;;
    esac
}

# The libFuzzer dictionary of harness NAME (fuzz/dict/*.dict): tokens of its
# input format that mutation alone takes long to spell.
dict_for() {
    case $1 in
    sip* | detect*) echo fuzz/dict/sip.dict ;;
    decode* | pcapng*) echo fuzz/dict/decode.dict ;;
    config*) echo fuzz/dict/config.dict ;;
    event* | client* | hub*) echo fuzz/dict/json.dict ;;
    keylog*) echo fuzz/dict/keylog.dict ;;
    esp*) echo fuzz/dict/esp_sa.dict ;;
    esac
}

# add_seeds DIR REGEX PREFIX OUT: copies the files of DIR (recursive, < 1 MiB)
# whose path matches REGEX into OUT, each preceded by the bytes PREFIX (a
# printf format: harnesses that read a selector byte first). Seeds are named
# by content, so duplicates collapse. Prints how many were copied.
add_seeds() {
    local d=$1 re=$2 pre=$3 out=$4 f tmpf n=0
    [ -d "$d" ] || { echo 0; return; }
    while IFS= read -r f; do
        tmpf=$out/.seed
        { printf "$pre"; cat "$f"; } >"$tmpf"
        mv "$tmpf" "$out/$(sha1sum <"$tmpf" | cut -c1-40)" && n=$((n + 1))
    done < <(find "$d" -type f -size -1024k | grep -E "$re")
    echo "$n"
}

# The starting corpus of harness NAME: its own folder in fuzz/corpus, plus the
# test data that is already in the harness's input format.
copy_seeds() { # name out -> prints the number of seeds
    local name=$1 out=$2 n=0
    n=$((n + $(add_seeds "fuzz/corpus/$name" . '' "$out")))
    case $name in
    sip*) # raw SIP messages: the RFC 4475 torture tests and the parser's test data
        n=$((n + $(add_seeds tests/data/rfc4475 '\.(dat|sip|txt)$' '' "$out")))
        n=$((n + $(add_seeds tests/data/cve '\.sip$' '' "$out")))
        n=$((n + $(add_seeds tests/data/sip '\.(dat|sip|txt|msg)$' '' "$out"))) ;;
    detect*) # one record: sender 10.0.0.1, +1 s, length 0x7fff (= the rest: they are shorter)
        n=$((n + $(add_seeds tests/data/rfc4475 '\.(dat|sip|txt)$' '\001\004\177\377' "$out"))) ;;
    config*) # byte 0: 0 = the YAML loader, 2 = the hub's config
        n=$((n + $(add_seeds tests/data/config '\.ya?ml$' '\000' "$out")))
        n=$((n + $(add_seeds etc 'hub\.yaml$' '\002' "$out"))) ;;
    pcapng*) # capture files as they are
        n=$((n + $(add_seeds tests/data/capture '\.pcapng$' '' "$out"))) ;;
    esac
    echo "$n"
}

passed=0 failed=0 bad=()
found=0
for h in "$dir"/fuzz_*; do
    [ -f "$h" ] && [ -x "$h" ] || continue
    found=1
    name=${h##*/fuzz_}
    [ -z "$only" ] || [ "$only" = "$name" ] || continue
    corpus=$tmp/$name
    [ -z "$keep" ] || { corpus=$keep/$name; rm -rf "$corpus"; }
    mkdir -p "$corpus"
    nseeds=$(copy_seeds "$name" "$corpus")
    log=$logs/$name.log
    before=$(find "$art" -name "$name-*" | wc -l)
    touch "$tmp/$name.start"
    start=$(date +%s)
    opts=(-timeout=5 -rss_limit_mb=2048 -max_len="$(max_len_for "$name")")
    if [ "$secs" -gt 0 ]; then opts+=(-max_total_time="$secs"); else opts+=(-runs=0); fi
    dict=$(dict_for "$name")
    [ -n "$dict" ] && [ -f "$dict" ] && opts+=(-dict="$dict")
    "$h" "${opts[@]}" -artifact_prefix="$art/$name-" -print_final_stats=1 "$corpus" >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    crashes=$(($(find "$art" -name "$name-*" | wc -l) - before))
    printf 'fuzz_%-14s %10s execs %5ss  seeds %-5s corpus %-6s crashes %s  exit %s\n' \
        "$name" "${execs:-?}" "$took" "$nseeds" "$(find "$corpus" -type f | wc -l)" "$crashes" "$rc"
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        failed=$((failed + 1)); bad+=("fuzz_$name")
        grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error:|SUMMARY:' "$log" | sed 's/^/  | /'
        find "$art" -name "$name-*" -newer "$tmp/$name.start" | head -3 | sed 's/^/  artifact: /'
        echo "  log: $log"
    else
        passed=$((passed + 1))
    fi
done
[ "$found" -eq 1 ] || { echo "fuzz: no harness in $dir (build them with make fuzz)"; exit 1; }
[ -z "$only" ] || [ $((passed + failed)) -gt 0 ] ||
    { echo "fuzz: FUZZ_ONLY=$only names no harness in $dir (NAME as in fuzz_NAME: sip, decode, ...)"; exit 1; }
[ ${#bad[@]} -gt 0 ] && echo "failing: ${bad[*]}"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
