#!/usr/bin/env bash
# Runs every unit test binary and every CLI/integration script, then prints
# the total as "tests: N passed, N failed". Exit status 1 if anything failed.
#   tests/run.sh BUILD_DIR        (BUILD_DIR holds fs38 and tests/)
set -uo pipefail
build=${1:?usage: tests/run.sh BUILD_DIR}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export FS38="$PWD/$build/fs38" FS38_BUILD="$PWD/$build"
# Sanitizer reports go to files ($tmp/san/report.PID), and a test that left
# one fails whatever its own checks said: ASan, UBSan and LeakSanitizer exit
# with 1, which is also fs38's "events found" status that tests expect, and
# many test commands do not look at the status at all.
san=$tmp/san; mkdir -p "$san"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}:log_path=$san/report"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$san/report"
passed=0; failed=0; broken=()
tally() { # name, output file, exit code
    local line p f
    line=$(grep -E '^[A-Za-z0-9_./-]+: [0-9]+ passed, [0-9]+ failed' "$2" | tail -1)
    if [ -z "$line" ]; then
        failed=$((failed + 1)); broken+=("$1 (no result line, exit $3)"); return
    fi
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ] || [ "$3" -ne 0 ]; then
        broken+=("$1"); [ "$f" -eq 0 ] && failed=$((failed + 1))
    fi
}
# san_reports OUT: moves the sanitizer reports the last test left into OUT;
# status 0 (= that test is broken) if there were any
san_reports() {
    compgen -G "$san/report.*" >/dev/null || return 1
    head -n 60 "$san"/report.* | head -n 300 >"$1"
    rm -f "$san"/report.*
}
# one binary per tests/unit/test_*.c: one that was not built is a failure,
# not a test fewer
for src in tests/unit/test_*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c); t=$build/tests/$name
    if [ ! -x "$t" ]; then
        failed=$((failed + 1)); broken+=("$name (not built: $t)"); echo "$name: not built ($t)"
        continue
    fi
    timeout 300 "$t" >"$tmp/$name.out" 2>&1; rc=$?
    label=$name
    san_reports "$tmp/$name.san" && { label="$name (sanitizer report)"; [ $rc -ne 0 ] || rc=86; }
    tally "$label" "$tmp/$name.out" $rc
    tail -1 "$tmp/$name.out"
    [ $rc -ne 0 ] && grep -v ' passed, ' "$tmp/$name.out" | head -40
    [ -f "$tmp/$name.san" ] && cat "$tmp/$name.san"
done
for s in tests/cli/test_*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    timeout 900 bash "$s" >"$tmp/$name.out" 2>&1; rc=$?
    label=$name
    san_reports "$tmp/$name.san" && { label="$name (sanitizer report)"; [ $rc -ne 0 ] || rc=86; }
    tally "$label" "$tmp/$name.out" $rc
    tail -1 "$tmp/$name.out"
    [ $rc -ne 0 ] && grep -v ' passed, ' "$tmp/$name.out" | tail -40
    [ -f "$tmp/$name.san" ] && cat "$tmp/$name.san"
done
[ ${#broken[@]} -gt 0 ] && printf 'failing: %s\n' "${broken[@]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
