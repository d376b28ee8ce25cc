#!/usr/bin/env bash
# fuzz-cov.sh -- how much of the code each libFuzzer harness is for does its
# corpus reach (lines and branches, clang source-based coverage).
#
#   FUZZ_KEEP=build/corpora FUZZ_SECONDS=180 scripts/fuzz.sh build/fuzz
#   scripts/fuzz-cov.sh build/fuzzcov build/corpora     # after a run
#   scripts/fuzz-cov.sh build/fuzzcov                   # the seeds alone
#
# BUILD is the coverage build (make fuzz-cov builds it: build/fuzzcov/fuzz_X
# are the harnesses with -fprofile-instr-generate -fcoverage-mapping). Each
# harness runs its corpus once (-runs=0): CORPORA/NAME if given, else the
# seeds scripts/fuzz.sh starts from. Prints, per harness, the lines and
# branches covered in its target files (TARGETS below) and the total; with
# FUZZ_COV_FILES=1 also one line per file. Reports stay in BUILD/cov/NAME.txt.
set -uo pipefail

dir=${1:?usage: scripts/fuzz-cov.sh BUILD_FUZZCOV [CORPORA]}
corpora=${2:-}
cd "$(dirname "$0")/.." || exit 2
ver=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
profdata=$(command -v "llvm-profdata-$ver" || command -v llvm-profdata) || { echo "fuzz-cov: no llvm-profdata"; exit 2; }
llvmcov=$(command -v "llvm-cov-$ver" || command -v llvm-cov) || { echo "fuzz-cov: no llvm-cov"; exit 2; }
out=$dir/cov
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

targets() {
    case $1 in
    sip) echo src/sip/*.c ;;
    decode) echo src/capture/cap_decode.c src/capture/cap_frag.c src/capture/cap_tcp.c \
        src/capture/cap_frame.c src/capture/cap_hep.c ;;
    pcapng) echo src/capture/cap_pcapng.c ;;
    tcp) echo src/capture/cap_tcp.c ;;
    keylog) echo src/capture/cap_tls.c ;;   # its key log reader: the rest is fuzz_decode's
    esp_sa) echo src/capture/cap_esp.c ;;
    sctp) echo src/capture/cap_sctp.c ;;
    config) echo src/config/cfg.c src/hub/hub_config.c ;;
    event) echo src/exchange/*.c ;;
    detect) ls src/detect/*.c | grep -v det_indicators ;; # indicators: fuzz_client's
    client) echo src/client/*.c src/detect/det_indicators.c ;;
    hub) echo src/hub/hub_server.c src/hub/hub_policy.c src/hub/hub_repl.c ;; # its request parsers; the rest needs TLS and a store
    *) echo "" ;;
    esac
}

# the seeds alone: let fuzz.sh build them (FUZZ_SECONDS=0 runs nothing new)
if [ -z "$corpora" ]; then
    corpora=$tmp/seeds
    FUZZ_KEEP=$corpora FUZZ_SECONDS=0 scripts/fuzz.sh build/fuzz >/dev/null 2>&1 ||
        { [ -d "$corpora" ] || { echo "fuzz-cov: scripts/fuzz.sh build/fuzz failed (make build/fuzz/fuzz_X first)"; exit 2; }; }
fi

printf '%-12s %8s %14s %16s\n' harness inputs "lines" "branches"
for h in "$dir"/fuzz_*; do
    [ -f "$h" ] && [ -x "$h" ] || continue
    name=${h##*/fuzz_}
    files=$(targets "$name")
    [ -n "$files" ] && [ -d "$corpora/$name" ] || continue
    rm -f "$tmp"/*.profraw
    LLVM_PROFILE_FILE="$tmp/$name-%p.profraw" "$h" -runs=0 -timeout=20 -rss_limit_mb=4096 \
        -max_len=1048576 "$corpora/$name" >"$out/$name.run.log" 2>&1
    "$profdata" merge -sparse "$tmp"/*.profraw -o "$out/$name.profdata" || continue
    # a target file the harness does not link counts too (as not reached):
    # its object brings the coverage map
    objs=()
    for f in $files; do objs+=(-object "$dir/obj/${f%.c}.o"); done
    # shellcheck disable=SC2086
    "$llvmcov" report "$h" "${objs[@]}" -instr-profile="$out/$name.profdata" $files >"$out/$name.txt" 2>/dev/null
    # columns: Filename Regions Missed Cover Functions Missed Cover Lines Missed Cover Branches Missed Cover
    awk -v name="$name" -v n="$(find "$corpora/$name" -type f | wc -l)" -v each="${FUZZ_COV_FILES:-0}" '
        $1 == "TOTAL" { printf "%-12s %8d %6d/%-6d %5.1f%% %6d/%-6d %5.1f%%\n", name, n,
                        $8 - $9, $8, $8 ? 100 * ($8 - $9) / $8 : 0, $11 - $12, $11, $11 ? 100 * ($11 - $12) / $11 : 0 }
        each == 1 && $1 ~ /\.c$/ { sub(/.*\//, "", $1); printf "    %-20s %6d/%-6d %5.1f%% %6d/%-6d %5.1f%%\n", $1,
                        $8 - $9, $8, $8 ? 100 * ($8 - $9) / $8 : 0, $11 - $12, $11, $11 ? 100 * ($11 - $12) / $11 : 0 }
    ' "$out/$name.txt"
done
