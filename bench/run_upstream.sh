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

echo "== build (Release) in $BUILD_DIR =="
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDAGPROF_BUILD_TESTS=OFF \
    -DDAGPROF_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD_DIR" -j2 --target dagprof loadgen null_server >/dev/null
DAGPROF=$BUILD_DIR/dagprof
LOADGEN=$BUILD_DIR/bench/loadgen
NULL_SERVER=$BUILD_DIR/bench/null_server

WORK=$(mktemp -d /tmp/dagprof-bench-up.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME ERRFILE OUTFILE CMD...: background CMD, wait for "listening on"; sets LAST_PID.
start() {
    local name=$1 err=$2 out=$3
    shift 3
    "$@" >"$out" 2>"$err" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    for _ in $(seq 1 300); do
        grep -q "listening on" "$err" && return 0
        kill -0 "$LAST_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "run_upstream.sh: $name did not start:" >&2
    cat "$err" >&2
    exit 1
}

stop() { # stop PID: SIGTERM and wait; non-zero exit fails the script
    kill -TERM "$1"
    local rc=0
    wait "$1" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "run_upstream.sh: process $1 exited with status $rc" >&2
        exit 1
    fi
}

field() { # field KEY LINE
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

now() { date +%s.%N; }

cpu_s() { # cpu_s PID: user + system CPU seconds so far
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

stop_counting_cpu() { # like stop, and sets STOP_CPU to the CPU time read until the exit
    kill -TERM "$1"
    STOP_CPU=0
    while [ -r "/proc/$1/stat" ]; do
        STOP_CPU=$(cpu_s "$1" 2>/dev/null || echo "$STOP_CPU")
        grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null && break
        sleep 0.05
    done
    local rc=0
    wait "$1" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "run_upstream.sh: process $1 exited with status $rc" >&2
        exit 1
    fi
}

LG_ARGS=(--concurrency "$CONCURRENCY" --spans-per-request "$SPANS_PER_REQUEST"
         --threads "$LOADGEN_THREADS" --duration "$DURATION" --quiet)
[ -n "$RATE" ] && LG_ARGS+=(--rate "$RATE")

case "$SINK" in
    count|decode) ;;
    *) echo "--sink takes count or decode" >&2; exit 2 ;;
esac
echo "== 1. direct: loadgen -> null_server --$SINK, ${DURATION}s =="
PORT=$(free_port)
start null_server "$WORK/n1.err" "$WORK/n1.out" "$NULL_SERVER" --listen "127.0.0.1:$PORT" "--$SINK"
N1=$LAST_PID
DIRECT_LINE=$("$LOADGEN" --target "127.0.0.1:$PORT" "${LG_ARGS[@]}" || true)
stop "$N1"
echo "loadgen: $DIRECT_LINE"
echo "null_server: $(cat "$WORK/n1.out")"
DIRECT_SPS=$(field spans_per_s "$DIRECT_LINE")

echo "== 2. through dagprof: loadgen -> dagprof --upstream -> null_server --$SINK, ${DURATION}s =="
UP_PORT=$(free_port)
start null_server "$WORK/n2.err" "$WORK/n2.out" "$NULL_SERVER" --listen "127.0.0.1:$UP_PORT" "--$SINK"
N2=$LAST_PID
PORT=$(free_port)
start dagprof "$WORK/d.err" /dev/null "$DAGPROF" --listen "127.0.0.1:$PORT" \
    --upstream "http://127.0.0.1:$UP_PORT" --idle-timeout 200ms --workers "$DAGPROF_WORKERS" \
    --set upstream.shutdown_timeout=60s ${BATCH_SPANS:+--set upstream.batch_max_spans=$BATCH_SPANS}
D=$LAST_PID
T0=$(now)
TIMEFORMAT="%U %S"
THROUGH_LINE=$( { time "$LOADGEN" --target "127.0.0.1:$PORT" "${LG_ARGS[@]}" || true; } \
    2>"$WORK/lg.time")
T_LOAD=$(now)
HWM=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$D/status")
stop_counting_cpu "$D"
T1=$(now)
D_CPU=$STOP_CPU
N_CPU=$(cpu_s "$N2")
L_CPU=$(tail -n 1 "$WORK/lg.time" | awk '{ print $1 + $2 }')
stop "$N2"
echo "loadgen: $THROUGH_LINE"
echo "null_server: $(cat "$WORK/n2.out")"
grep -E "\[export\]|totals" "$WORK/d.err" | sed 's/^/dagprof: /'

ACKED=$(field spans_ok "$THROUGH_LINE")
REFUSED=$(field status_14 "$THROUGH_LINE")
DELIVERED=$(field spans "$(cat "$WORK/n2.out")")
python3 - "$DIRECT_SPS" "$ACKED" "${REFUSED:-0}" "$DELIVERED" "$T0" "$T_LOAD" "$T1" "$HWM" \
    "$L_CPU" "$D_CPU" "$N_CPU" <<'PY'
import sys
direct, acked, refused, delivered = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0, tl, t1, hwm = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
l_cpu, d_cpu, n_cpu = float(sys.argv[9]), float(sys.argv[10]), float(sys.argv[11])
print("== summary ==")
print("direct to the null sink:        %10.0f spans/s" % direct)
print("acknowledged by dagprof:        %10.0f spans/s (%d spans in %.2f s; %d calls refused UNAVAILABLE)"
      % (acked / (tl - t0), acked, tl - t0, refused))
print("end to end (until delivered):   %10.0f spans/s (%d spans in %.2f s incl. %.2f s drain)"
      % (delivered / (t1 - t0), delivered, t1 - t0, t1 - tl))
print("dagprof peak RSS:               %10.1f MiB" % (hwm / 1024))
if delivered:
    us = lambda c: c / delivered * 1e6
    print("CPU per delivered span:         loadgen %.2f us, dagprof %.2f us, null server %.2f us"
          " (total %.2f us; 2 cores allow %.0f spans/s at most)"
          % (us(l_cpu), us(d_cpu), us(n_cpu), us(l_cpu + d_cpu + n_cpu),
             2e6 / max(us(l_cpu + d_cpu + n_cpu), 1e-9)))
print("loss: %d span(s) acknowledged but not delivered" % (acked - delivered))
sys.exit(0 if delivered == acked else 1)
PY
