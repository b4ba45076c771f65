#!/usr/bin/env bash
# CPU per span per pipeline stage of two dagprof trees on this machine:
# compiles this tree's bench/stage_bench.c (with this tree's trace_template.c,
# so both get the same requests) against the libraries of each build, runs
# the two programs alternately (before, after, before, after, ...) and prints
# a markdown table of the median of each stage, in microseconds of CPU per span.
#
#   bench/stages.sh --before-build DIR [--after-build DIR] [--iterations N]
#                   [--rounds N] [--warmup N] [--format json|text]
#
# --before-build, --after-build: configured CMake build directories (Release),
#   each of its own tree; their libraries are (re)built here, -j2. The after
#   build defaults to build-bench/ of this tree, configured if needed.
# --iterations: requests per run (~207 spans each; default 2000).
# --rounds: before/after pairs (default 3). --warmup: untimed requests first
#   (default 300). --format: the report the render stage writes (default json).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BEFORE_BUILD=""
AFTER_BUILD=$ROOT/build-bench
ITERATIONS=2000
ROUNDS=3
WARMUP=300
FORMAT=json
while [ $# -gt 0 ]; do
    case "$1" in
        --before-build) BEFORE_BUILD=$2; shift 2 ;;
        --after-build) AFTER_BUILD=$2; shift 2 ;;
        --iterations) ITERATIONS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --format) FORMAT=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "stages.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$BEFORE_BUILD" ] || { echo "stages.sh: --before-build DIR is required" >&2; exit 2; }

. "$ROOT/bench/lib.sh"
bench_init stages

[ -f "$AFTER_BUILD/CMakeCache.txt" ] || bench_build "$AFTER_BUILD" "$ROOT" dp_exporter

# compile_stage_bench BUILD_DIR OUT: build the tree's libraries, then link
# this tree's stage_bench.c against them with the flags of a Release build.
compile_stage_bench() {
    local build=$1 out=$2 src d l
    src=$(source_dir "$build")
    [ -n "$src" ] || die "$build is not a configured CMake build directory"
    grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt" ||
        echo "$BENCH_NAME: warning: $build is not a Release build" >&2
    echo "== libraries of $src in $build =="
    cmake --build "$build" -j2 --target dp_exporter >/dev/null
    local flags=(-I"$ROOT/bench" -I"$build/gen")
    for d in common assembly profiler otlp exporter; do
        [ -d "$src/$d" ] && flags+=(-I"$src/$d")
    done
    local libs=()
    for l in exporter otlp assembly profiler proto common; do
        [ -f "$build/libdp_$l.a" ] && libs+=("$build/libdp_$l.a")
    done
    # shellcheck disable=SC2046
    cc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
        -Wno-missing-field-initializers "${flags[@]}" $(pkg-config --cflags grpc libprotobuf-c jansson) \
        "$ROOT/bench/stage_bench.c" "$ROOT/bench/trace_template.c" \
        -Wl,--start-group "${libs[@]}" -Wl,--end-group \
        $(pkg-config --libs grpc libprotobuf-c jansson) -lcrypto -lm -lpthread -o "$out"
}

compile_stage_bench "$BEFORE_BUILD" "$WORK/stage_bench.before"
compile_stage_bench "$AFTER_BUILD" "$WORK/stage_bench.after"
BEFORE_LABEL=$(tree_label "$BEFORE_BUILD")
AFTER_LABEL=$(tree_label "$AFTER_BUILD")

ARGS=(--requests "$ITERATIONS" --warmup "$WARMUP" --format "$FORMAT")
for round in $(seq 1 "$ROUNDS"); do
    for side in before after; do
        "$WORK/stage_bench.$side" "${ARGS[@]}" >"$WORK/$side.$round.out" ||
            die "stage_bench ($side, round $round) failed"
        echo "round $round $side: $(tail -n 1 "$WORK/$side.$round.out")"
    done
done
head -n 1 "$WORK/after.1.out"

python3 - "$WORK" "$ROUNDS" "$BEFORE_LABEL" "$AFTER_LABEL" <<'PY'
import statistics, sys
work, rounds, before_label, after_label = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def runs(side):
    out = []
    for r in range(1, rounds + 1):
        last = open("%s/%s.%d.out" % (work, side, r)).read().strip().splitlines()[-1]
        out.append({k: float(v) for k, v in (p.split("=", 1) for p in last.split())})
    return out
before, after = runs("before"), runs("after")
median = lambda rs, k: statistics.median(r[k] for r in rs)
rows = [("decode", "decode"), ("assemble", "assemble"), ("profile", "profile"),
        ("render (report sink, no upstream)", "render"), ("enrich", "enrich"),
        ("derived metrics", "metrics"), ("export (queue and batches, before gRPC)", "export"),
        ("**without an upstream**: decode + assemble + profile + render", "report_path"),
        ("**with an upstream**: decode + assemble + profile + enrich + metrics + export",
         "upstream_path")]
print()
print("Median of %d runs each, CPU µs per span (one thread), before = %s, after = %s."
      % (rounds, before_label, after_label))
print()
print("| stage | before | after | change |")
print("| --- | --- | --- | --- |")
for name, key in rows:
    b, a = median(before, key), median(after, key)
    change = "%+.0f %%" % ((a - b) / b * 100) if b else "n/a"
    print("| %s | %.3f | %.3f | %s |" % (name, b, a, change))
for name, key in (("spans/s on one core without an upstream", "report_spans_per_s"),
                  ("spans/s on one core with an upstream", "upstream_spans_per_s")):
    b, a = median(before, key), median(after, key)
    print("| %s | %s | %s | %+.0f %% |" % (name, format(int(b), ","), format(int(a), ","),
                                          (a - b) / b * 100 if b else 0))
PY
