#!/usr/bin/env bash
# dagprof benchmark: builds Release, then on this machine measures
#   1. the ceiling: loadgen -> null_server (gRPC C core, answers OK, decodes)
#   2. loadgen -> dagprof (--format json, output to /dev/null): spans/s, peak RSS
#   3. loadgen -> dagprof (output kept): a fixed number of requests, then the
#      count check: spans accepted = sum of span_count in dagprof's reports
#   4. memory per buffered span: long idle timeout so every run stays
#      buffered; RSS growth / encoded bytes accepted, and the table's own
#      accounting (bytes held / encoded span bytes, which dagprof logs at
#      shutdown), then the count check again
#
#   bench/run.sh [--duration S] [--concurrency N] [--spans-per-request N]
#                [--requests N] [--memory-requests N] [--build-dir DIR]
# Environment: LOADGEN_THREADS (default 1), DAGPROF_WORKERS (default 0 = cores),
#   RATES (request rates of the sustained sweep), SWEEP_DURATION (s per rate).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=10
CONCURRENCY=64
SPANS_PER_REQUEST=200
REQUESTS=5000
MEMORY_REQUESTS=1000
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --spans-per-request) SPANS_PER_REQUEST=$2; shift 2 ;;
        --requests) REQUESTS=$2; shift 2 ;;
        --memory-requests) MEMORY_REQUESTS=$2; shift 2 ;;
        --build-dir) BUILD_DIR=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
# Request rates tried for the sustained figure (x ~207 spans per request).
RATES=${RATES:-"250 300 350 400 450 500 750 1000 1250"}
SWEEP_DURATION=${SWEEP_DURATION:-5}
DAGPROF_WORKERS=${DAGPROF_WORKERS:-0}

. "$ROOT/bench/lib.sh"
bench_init bench
bench_tools "$BUILD_DIR"

LG_ARGS=(--concurrency "$CONCURRENCY" --spans-per-request "$SPANS_PER_REQUEST"
         --threads "$LOADGEN_THREADS" --quiet)

echo "== 1. ceiling: loadgen -> null_server (decodes every request) =="
direct_to_sink decode --duration "$DURATION" "${LG_ARGS[@]}"
NULL_LINE=$DIRECT_LINE
echo "$NULL_LINE"
NULL_SPS=$(field spans_per_s "$NULL_LINE")

echo "== 2. loadgen -> dagprof --format json >/dev/null, ${DURATION}s =="
PORT=$(free_port)
start dagprof "$WORK/d1.err" /dev/null "$DAGPROF" --listen "127.0.0.1:$PORT" --format json \
    --idle-timeout 200ms --workers "$DAGPROF_WORKERS"
D1_LINE=$("$LOADGEN" --target "127.0.0.1:$PORT" --duration "$DURATION" "${LG_ARGS[@]}" || true)
D1_HWM=$(vm "$LAST_PID" VmHWM)
stop "$LAST_PID"
echo "$D1_LINE"
D1_SPS=$(field spans_per_s "$D1_LINE")

echo "== 2b. sustained: highest of these rates dagprof takes without refusing a call =="
SUSTAINED_SPS=0
SUSTAINED_RATE=none
for rate in $RATES; do
    dagprof_at_rate "$DAGPROF" "$rate" "$SWEEP_DURATION" "${LG_ARGS[@]}"
    echo "rate $rate requests/s: $RATE_LINE"
    if [ "$(field requests_failed "$RATE_LINE")" = "0" ]; then
        SUSTAINED_SPS=$(field spans_per_s "$RATE_LINE")
        SUSTAINED_RATE=$rate
    else
        break
    fi
done

echo "== 3. count check: $REQUESTS requests -> dagprof, reports kept =="
PORT=$(free_port)
start dagprof "$WORK/d2.err" "$WORK/d2.json" "$DAGPROF" --listen "127.0.0.1:$PORT" --format json \
    --idle-timeout 200ms --workers "$DAGPROF_WORKERS"
D2_LINE=$("$LOADGEN" --target "127.0.0.1:$PORT" --requests "$REQUESTS" "${LG_ARGS[@]}" || true)
stop "$LAST_PID"
echo "$D2_LINE"
read -r D2_REPORTED D2_RUNS D2_LATE < <(sum_span_count "$WORK/d2.json")
D2_SENT=$(field spans_ok "$D2_LINE")
D2_SPS=$(field spans_per_s "$D2_LINE")
echo "spans accepted=$D2_SENT spans reported=$D2_REPORTED runs=$D2_RUNS late_reports=$D2_LATE"

echo "== 4. memory per buffered span: $MEMORY_REQUESTS requests held (idle timeout 600 s) =="
cat >"$WORK/hold.yaml" <<EOF
assembly:
  idle_timeout: 600s
  max_age: 600s
  memory_limit: 8GiB
EOF
PORT=$(free_port)
start dagprof "$WORK/d3.err" "$WORK/d3.json" "$DAGPROF" --config "$WORK/hold.yaml" \
    --listen "127.0.0.1:$PORT" --format json --workers "$DAGPROF_WORKERS"
RSS0=$(vm "$LAST_PID" VmRSS)
D3_LINE=$("$LOADGEN" --target "127.0.0.1:$PORT" --requests "$MEMORY_REQUESTS" "${LG_ARGS[@]}" || true)
RSS1=$(vm "$LAST_PID" VmRSS)
stop "$LAST_PID"
echo "$D3_LINE"
read -r D3_REPORTED D3_RUNS D3_LATE < <(sum_span_count "$WORK/d3.json")
D3_SENT=$(field spans_ok "$D3_LINE")
D3_BYTES=$(field bytes_ok "$D3_LINE")
echo "spans accepted=$D3_SENT spans reported=$D3_REPORTED runs=$D3_RUNS"
# the table's own accounting, logged by dagprof at shutdown before it finalises the runs
D3_TABLE=$(sed -n 's/.*buffered at shutdown: .* \([0-9][0-9]*\) encoded span bytes held in \([0-9][0-9]*\) bytes.*/\1 \2/p' "$WORK/d3.err" | tail -1)
D3_TABLE_ENCODED=${D3_TABLE%% *}
D3_TABLE_HELD=${D3_TABLE##* }
echo "table accounting: encoded span bytes=$D3_TABLE_ENCODED held=$D3_TABLE_HELD"

python3 - "$NULL_SPS" "$D1_SPS" "$D1_HWM" "$D2_SENT" "$D2_REPORTED" "$D2_SPS" \
    "$RSS0" "$RSS1" "$D3_BYTES" "$D3_SENT" "$D3_REPORTED" "$SUSTAINED_SPS" "$SUSTAINED_RATE" \
    "$D3_TABLE_ENCODED" "$D3_TABLE_HELD" <<'EOF'
import sys
a = sys.argv[1:]
tbl_enc, tbl_held = (float(x) if x else float("nan") for x in a[13:15])
num = lambda s: float(s) if s not in ("", None) else float("nan")
null_sps, d1_sps, hwm, d2_sent, d2_rep, d2_sps, rss0, rss1, d3_bytes, d3_sent, d3_rep, sus_sps = map(num, a[:12])
sus_rate = a[12]
growth = (rss1 - rss0) * 1024
print()
print("| measure | value |")
print("| --- | --- |")
print("| null_server (ceiling), spans/s | %.0f |" % null_sps)
print("| dagprof, accepted spans/s at full load (json to /dev/null) | %.0f |" % d1_sps)
print("| dagprof peak RSS (VmHWM) in that run | %.1f MiB |" % (hwm / 1024))
print("| dagprof, sustained spans/s with no call refused | %.0f (at %s requests/s) |" % (sus_sps, sus_rate))
print("| dagprof, spans/s (json kept, fixed requests) | %.0f |" % d2_sps)
print("| count check: spans accepted / reported | %.0f / %.0f %s |" % (
    d2_sent, d2_rep, "ok" if d2_sent == d2_rep else "MISMATCH"))
print("| buffered: encoded bytes accepted | %.1f MiB (%.0f spans, %.0f B/span) |" % (
    d3_bytes / 2**20, d3_sent, d3_bytes / d3_sent if d3_sent else float("nan")))
print("| buffered: RSS growth | %.1f MiB = %.2f x encoded size |" % (
    growth / 2**20, growth / d3_bytes if d3_bytes else float("nan")))
print("| buffered: table accounting (bytes held / encoded span bytes) | %.1f MiB / %.1f MiB = %.2f x |" % (
    tbl_held / 2**20, tbl_enc / 2**20, tbl_held / tbl_enc if tbl_enc else float("nan")))
print("| buffered count check: accepted / reported | %.0f / %.0f %s |" % (
    d3_sent, d3_rep, "ok" if d3_sent == d3_rep else "MISMATCH"))
ok = d2_sent == d2_rep and d3_sent == d3_rep
sys.exit(0 if ok else 1)
EOF
