#!/usr/bin/env bash
# dagprof end-to-end benchmark with an upstream, in one run on this machine:
#   1. direct:  loadgen -> null_server (a do-nothing sink that counts the spans
#               of every request by walking the wire format; --sink decode
#               makes it unpack every request with protobuf-c instead)
#   2. through: loadgen -> dagprof --upstream -> null_server (same settings)
# For 2 it prints the spans dagprof acknowledged, the spans the null server
# received once dagprof has shut down (they must be equal: zero loss), and
# the end-to-end rate = spans delivered / (load time + drain time until
# dagprof exited). Calls dagprof refused with UNAVAILABLE (backpressure) are
# shown as status_14 by loadgen; an SDK would retry them, nothing is lost.
# It also prints the CPU time each process of run 2 spent per delivered span.
#
#   bench/run_upstream.sh [--duration S] [--concurrency N] [--spans-per-request N]
#                         [--rate REQ_PER_S] [--batch-spans N] [--build-dir DIR]
#                         [--sink count|decode]
# --batch-spans sets dagprof's upstream.batch_max_spans (default: dagprof's own).
# Environment: LOADGEN_THREADS (default 1), DAGPROF_WORKERS (default 0 = cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=10
CONCURRENCY=64
SPANS_PER_REQUEST=200
RATE=""
BATCH_SPANS=""
SINK=count
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --spans-per-request) SPANS_PER_REQUEST=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --build-dir) BUILD_DIR=$2; shift 2 ;;
        --batch-spans) BATCH_SPANS=$2; shift 2 ;;
        --sink) SINK=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "run_upstream.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
DAGPROF_WORKERS=${DAGPROF_WORKERS:-0}

. "$ROOT/bench/lib.sh"
bench_init bench-up
bench_tools "$BUILD_DIR"

LG_ARGS=(--concurrency "$CONCURRENCY" --spans-per-request "$SPANS_PER_REQUEST"
         --threads "$LOADGEN_THREADS" --duration "$DURATION" --quiet)
[ -n "$RATE" ] && LG_ARGS+=(--rate "$RATE")

case "$SINK" in
    count|decode) ;;
    *) echo "--sink takes count or decode" >&2; exit 2 ;;
esac
echo "== 1. direct: loadgen -> null_server --$SINK, ${DURATION}s =="
direct_to_sink "$SINK" "${LG_ARGS[@]}"
echo "loadgen: $DIRECT_LINE"
echo "null_server: $SINK_LINE"
DIRECT_SPS=$(field spans_per_s "$DIRECT_LINE")

echo "== 2. through dagprof: loadgen -> dagprof --upstream -> null_server --$SINK, ${DURATION}s =="
through_upstream "$DAGPROF" "$SINK" ${BATCH_SPANS:+--set upstream.batch_max_spans=$BATCH_SPANS} \
    -- "${LG_ARGS[@]}"

python3 - "$DIRECT_SPS" "$THROUGH_KV" <<'PY'
import sys
direct = float(sys.argv[1])
r = dict(p.split("=", 1) for p in sys.argv[2].split())
acked, delivered, refused = int(r["acked"]), int(r["delivered"]), int(r["refused"])
load, drain = float(r["load_s"]), float(r["drain_s"])
print("== summary ==")
print("direct to the null sink:        %10.0f spans/s" % direct)
print("acknowledged by dagprof:        %10.0f spans/s (%d spans in %.2f s; %d calls refused UNAVAILABLE)"
      % (float(r["ack_spans_per_s"]), acked, load, refused))
print("end to end (until delivered):   %10.0f spans/s (%d spans in %.2f s incl. %.2f s drain)"
      % (float(r["e2e_spans_per_s"]), delivered, load + drain, drain))
print("dagprof peak RSS:               %10.1f MiB" % (int(r["hwm_kib"]) / 1024))
if delivered:
    l, d, n = (float(r[k]) for k in ("cpu_loadgen_us", "cpu_dagprof_us", "cpu_sink_us"))
    print("CPU per delivered span:         loadgen %.2f us, dagprof %.2f us, null server %.2f us"
          " (total %.2f us; 2 cores allow %.0f spans/s at most)"
          % (l, d, n, l + d + n, 2e6 / max(l + d + n, 1e-9)))
print("loss: %d span(s) acknowledged but not delivered" % (acked - delivered))
sys.exit(0 if delivered == acked else 1)
PY
