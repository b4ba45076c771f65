#!/usr/bin/env bash
# The end-to-end measurements of two dagprof builds, taken alternately on this
# machine (before, after, before, after, ...) with the same load generator
# and null servers (this tree's), every server on 127.0.0.1:
#   a. loadgen -> dagprof without an upstream (--format json to /dev/null) at
#      each offered rate of --rates, as run.sh's sweep: the sustained rate is
#      the highest at which dagprof refuses no call and loadgen achieves at
#      least 95 % of the offered rate (a saturated machine sends less, and a
#      rate not sent is not sustained); and what it took at each rate;
#   b. loadgen -> null_server --decode: the ceiling of this machine;
#   c. loadgen -> dagprof --upstream -> null_server --count at --rate, against
#      loadgen -> null_server --count directly: end-to-end rate, CPU per
#      delivered span, and the zero-loss check (acknowledged = delivered).
# Prints the raw lines, then markdown tables; with --rounds N > 1 every figure
# is the median of the N rounds. Fails when a span was lost.
#
#   bench/side_by_side.sh --before-build DIR [--after-build DIR] [--rounds N]
#       [--rates "R1 R2 ..."] [--sweep-duration S] [--rate R] [--duration S]
#       [--concurrency N] [--spans-per-request N]
#
# --before-build, --after-build: configured CMake build directories (Release)
#   of the two trees; dagprof is (re)built in each, -j2. The after build
#   defaults to build-bench/ of this tree and also provides loadgen and
#   null_server. Defaults: --rates "500 750 1000 1250 1500 1750" requests/s,
#   --sweep-duration 5, --rate 1250 and --duration 10 for c, --rounds 1.
# Environment: LOADGEN_THREADS (default 1), DAGPROF_WORKERS (default 0 = cores),
# BENCH_PIN=1 (servers under test on CPU 1, the load generator on CPU 0).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BEFORE_BUILD=""
AFTER_BUILD=$ROOT/build-bench
ROUNDS=1
RATES="500 750 1000 1250 1500 1750"
SWEEP_DURATION=5
RATE=1250
DURATION=10
CONCURRENCY=64
SPANS_PER_REQUEST=200
while [ $# -gt 0 ]; do
    case "$1" in
        --before-build) BEFORE_BUILD=$2; shift 2 ;;
        --after-build) AFTER_BUILD=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --rates) RATES=$2; shift 2 ;;
        --sweep-duration) SWEEP_DURATION=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --spans-per-request) SPANS_PER_REQUEST=$2; shift 2 ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "side_by_side.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$BEFORE_BUILD" ] || { echo "side_by_side.sh: --before-build DIR is required" >&2; exit 2; }
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
DAGPROF_WORKERS=${DAGPROF_WORKERS:-0}

. "$ROOT/bench/lib.sh"
bench_init side
bench_tools "$AFTER_BUILD" "$ROOT"
BEFORE_SRC=$(source_dir "$BEFORE_BUILD")
[ -n "$BEFORE_SRC" ] || die "$BEFORE_BUILD is not a configured CMake build directory"
echo "== build dagprof of $BEFORE_SRC in $BEFORE_BUILD =="
cmake --build "$BEFORE_BUILD" -j2 --target dagprof >/dev/null
declare -A BIN=([before]=$BEFORE_BUILD/dagprof [after]=$DAGPROF)
declare -A LABEL=([before]=$(tree_label "$BEFORE_BUILD") [after]=$(tree_label "$AFTER_BUILD"))

LG_ARGS=(--concurrency "$CONCURRENCY" --spans-per-request "$SPANS_PER_REQUEST"
         --threads "$LOADGEN_THREADS" --quiet)
RESULTS=$WORK/results # lines: ROUND SIDE MEASURE key=value...

for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round: b. ceiling: loadgen -> null_server --decode, ${DURATION}s =="
    direct_to_sink decode --duration "$DURATION" "${LG_ARGS[@]}"
    echo "$DIRECT_LINE"
    echo "$round - ceiling $DIRECT_LINE" >>"$RESULTS"

    echo "== round $round: a. dagprof without an upstream at fixed rates, ${SWEEP_DURATION}s each =="
    declare -A REFUSED_AT=()
    for rate in $RATES; do
        for side in before after; do
            [ -n "${REFUSED_AT[$side]:-}" ] && continue
            dagprof_at_rate "${BIN[$side]}" "$rate" "$SWEEP_DURATION" "${LG_ARGS[@]}"
            echo "$side, $rate requests/s: $RATE_LINE"
            echo "$round $side rate=$rate $RATE_LINE" >>"$RESULTS"
            [ "$(field requests_failed "$RATE_LINE")" = "0" ] || REFUSED_AT[$side]=$rate
        done
    done

    echo "== round $round: c. direct: loadgen -> null_server --count, ${DURATION}s at $RATE/s =="
    direct_to_sink count --duration "$DURATION" --rate "$RATE" "${LG_ARGS[@]}"
    echo "loadgen: $DIRECT_LINE"
    echo "null_server: $SINK_LINE"
    echo "$round - direct $DIRECT_LINE" >>"$RESULTS"
    for side in before after; do
        echo "== round $round: c. $side: loadgen -> dagprof -> null_server --count =="
        through_upstream "${BIN[$side]}" count -- --duration "$DURATION" --rate "$RATE" \
            "${LG_ARGS[@]}"
        echo "$THROUGH_KV"
        echo "$round $side upstream $THROUGH_KV" >>"$RESULTS"
    done
done

python3 - "$RESULTS" "${LABEL[before]}" "${LABEL[after]}" "$RATES" "$RATE" <<'PY'
import statistics, sys
path, before_label, after_label, rates, up_rate = sys.argv[1:6]
rates = [int(r) for r in rates.split()]
rows = []
for line in open(path):
    parts = line.split()
    kv = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
    rows.append((int(parts[0]), parts[1], parts[2], kv))
nrounds = max(r[0] for r in rows)
med = lambda xs: statistics.median(xs) if xs else float("nan")
def values(side, measure, key):
    return [float(kv.get(key, 0)) for _, s, m, kv in rows if s == side and m == measure]
def sustained(side, rnd):
    best = None
    for r in rates:
        hit = [kv for n, s, m, kv in rows if n == rnd and s == side and m == "rate=%d" % r]
        if not hit or hit[0].get("requests_failed") != "0":
            break
        if float(hit[0].get("requests_per_s", 0)) >= 0.95 * r:
            best = (r, float(hit[0]["spans_per_s"]))
    return best
sides = ("before", "after")
n = lambda x: format(int(round(x)), ",")
print()
print("Before = %s, after = %s; %s." % (before_label, after_label,
      "one round" if nrounds == 1 else "median of %d rounds" % nrounds))
print()
print("| measure | before | after |")
print("| --- | --- | --- |")
ceiling = med(values("-", "ceiling", "spans_per_s"))
print("| b. ceiling: loadgen → null_server --decode, spans/s | %s | (same tools) |" % n(ceiling))
cells = []
for side in sides:
    found = [sustained(side, rnd) for rnd in range(1, nrounds + 1)]
    found = [f for f in found if f]
    if not found:
        cells.append("none of the rates")
    else:
        cells.append("%s spans/s (%s requests/s)" % (n(med([f[1] for f in found])),
                                                   n(med([f[0] for f in found]))))
print("| a. sustained without an upstream: highest rate kept up with, no call refused | %s | %s |"
      % tuple(cells))
direct = med(values("-", "direct", "spans_per_s"))
print("| c. loadgen → null_server --count directly at %s requests/s, spans/s | %s | (same tools) |"
      % (up_rate, n(direct)))
for label, key, fmt in (("c. through dagprof: delivered end to end, spans/s", "e2e_spans_per_s", n),
                        ("c. acknowledged by dagprof, spans/s", "ack_spans_per_s", n),
                        ("c. drain after the load, s", "drain_s", lambda x: "%.2f" % x),
                        ("c. CPU µs per delivered span: dagprof", "cpu_dagprof_us",
                         lambda x: "%.2f" % x),
                        ("c. CPU µs per delivered span: loadgen / null server", None, None),
                        ("c. dagprof peak RSS, MiB", "hwm_kib", lambda x: "%.0f" % (x / 1024)),
                        ("c. refused calls", "refused", n),
                        ("c. spans lost (acknowledged, not delivered)", "lost", n)):
    if key is None:
        cells = ["%.2f / %.2f" % (med(values(s, "upstream", "cpu_loadgen_us")),
                                  med(values(s, "upstream", "cpu_sink_us"))) for s in sides]
    else:
        cells = [fmt(med(values(s, "upstream", key))) for s in sides]
    print("| %s | %s | %s |" % (label, cells[0], cells[1]))
print()
print("a. at each offered rate (accepted spans/s, requests/s achieved, calls refused; round 1):")
print()
print("| offered requests/s | before | after |")
print("| --- | --- | --- |")
for r in rates:
    cells = []
    for side in sides:
        hit = [kv for k, s, m, kv in rows if k == 1 and s == side and m == "rate=%d" % r]
        cells.append("%s, %s/s, %s refused" % (n(float(hit[0]["spans_per_s"])),
                                               n(float(hit[0].get("requests_per_s", 0))),
                                               hit[0].get("requests_failed", "?"))
                     if hit else "not run")
    print("| %d | %s | %s |" % (r, cells[0], cells[1]))
lost = sum(float(kv.get("lost", 0)) for _, _, m, kv in rows if m == "upstream")
print()
print("zero-loss check: %s" % ("every acknowledged span was delivered" if lost == 0
                               else "%d span(s) acknowledged but not delivered" % lost))
sys.exit(0 if lost == 0 else 1)
PY
