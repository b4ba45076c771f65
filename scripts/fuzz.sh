#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*_fuzzer.c) with clang in
# build-fuzz (-DDAGPROF_FUZZ=ON) and runs each, one at a time, over a copy
# of its seed corpus.
#   scripts/fuzz.sh [--time SECONDS] [--runs N] [--build-dir DIR] [--no-build] [TARGET...]
# TARGET is a name such as otlp_trace (all targets by default). Each runs
# for SECONDS or N executions, whichever comes first (default: 60 seconds).
# The corpus a target grows is
# kept in DIR/fuzz/work/TARGET/corpus for the next run; its log is
# DIR/fuzz/work/TARGET/fuzz.log. A crash (or leak, timeout, sanitizer
# report) leaves its input in DIR/fuzz/work/TARGET/ and the script names it
# and exits 1 once every target has run. An input is a timeout after 120 s
# of wall-clock time (generous: a fuzzer at nice 19 on a busy machine can
# be kept off the CPU for tens of seconds). At the end a table gives, per
# target, the executions, seconds, executions per second, corpus size and
# crashes. Extra libFuzzer flags: FUZZ_FLAGS="-max_len=65536 ...".
# clang with libFuzzer: Debian's clang package (scripts/install-deps.sh --fuzz).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
time_limit=""
runs_limit=""
do_build=1
targets=()

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --time)
        [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || usage
        time_limit="$2"
        shift 2
        ;;
    --runs)
        [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || usage
        runs_limit="$2"
        shift 2
        ;;
    --build-dir)
        [ $# -ge 2 ] || usage
        build=$(realpath -m "$2")
        shift 2
        ;;
    --no-build)
        do_build=0
        shift
        ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
        targets+=("$1")
        shift
        ;;
    esac
done

limit=()
[ -n "$time_limit" ] && limit+=(-max_total_time="$time_limit")
[ -n "$runs_limit" ] && limit+=(-runs="$runs_limit")
[ ${#limit[@]} -eq 0 ] && limit=(-max_total_time=60)

if [ ${#targets[@]} -eq 0 ]; then
    for f in "$root"/tests/fuzz/*_fuzzer.c; do
        t=$(basename "$f" _fuzzer.c)
        targets+=("$t")
    done
fi
for t in "${targets[@]}"; do
    if [ ! -f "$root/tests/fuzz/${t}_fuzzer.c" ]; then
        echo "fuzz.sh: no target $t (no tests/fuzz/${t}_fuzzer.c)" >&2
        exit 2
    fi
done

if [ "$do_build" = 1 ]; then
    if ! command -v clang >/dev/null 2>&1; then
        echo "fuzz.sh: clang is not installed; scripts/install-deps.sh --fuzz installs it" >&2
        exit 2
    fi
    CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDAGPROF_FUZZ=ON \
        -DDAGPROF_BUILD_BENCH=OFF >/dev/null
    cmake --build "$build" -j2 --target "${targets[@]/%/_fuzz}"
fi

summary=()
failed=0
for t in "${targets[@]}"; do
    bin="$build/fuzz/${t}_fuzz"
    work="$build/fuzz/work/$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: $bin is missing (build it, or leave out --no-build)" >&2
        exit 2
    fi
    mkdir -p "$work/corpus"
    cp -n "$root/tests/fuzz/corpus/$t"/* "$work/corpus/" 2>/dev/null || true
    echo "== $t: ${limit[*]} over $work/corpus"
    start=$(date +%s.%N)
    rc=0
    # the crash input is written to the artifact prefix; the log keeps the report
    (cd "$work" && "$bin" "${limit[@]}" -timeout=120 -print_final_stats=1 \
        -artifact_prefix="$work/" ${FUZZ_FLAGS:-} corpus) >"$work/fuzz.log" 2>&1 || rc=$?
    end=$(date +%s.%N)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n1)
    if [ -z "$runs" ]; then # a crash stops before the final stats
        runs=$(grep -o '^#[0-9]*' "$work/fuzz.log" | tail -n1 | tr -d '#')
    fi
    runs=${runs:-0}
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
    rate=$(awk -v r="$runs" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? r / s : r) }')
    files=$(find "$work/corpus" -type f | wc -l)
    bytes=$(du -sb "$work/corpus" | cut -f1)
    crashes=0
    if [ "$rc" -ne 0 ]; then
        failed=1
        crashes=1
        echo "fuzz.sh: $t FAILED (exit $rc); log: $work/fuzz.log" >&2
        grep -E '^==[0-9]+==ERROR|SUMMARY:|runtime error|Test unit written to' "$work/fuzz.log" >&2 || true
        input=$(sed -n 's/.*Test unit written to //p' "$work/fuzz.log" | tail -n1)
        [ -n "$input" ] && echo "fuzz.sh: $t: the crash input is $input" >&2
    fi
    summary+=("| $t | $runs | $secs | $rate | $files files, $bytes B | $crashes |")
    echo "== $t: $runs executions in $secs s ($rate/s), corpus $files files, exit $rc"
done

echo
echo "| target | executions | seconds | exec/s | corpus | crashes |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
exit "$failed"
