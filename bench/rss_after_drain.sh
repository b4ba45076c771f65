#!/usr/bin/env bash
# dagprof's memory after a load has drained, with and without an upstream,
# with glibc malloc and with Debian's jemalloc (LD_PRELOAD, libjemalloc2):
#   for each of: no upstream / upstream (a counting null_server), each allocator,
#   loadgen sends --duration S at --rate REQ/S, then dagprof's VmRSS is read
#   every second for --settle S seconds while it is idle (the upstream queue
#   drains in well under a second at these rates), and printed with VmHWM.
#
#   bench/rss_after_drain.sh [--duration S] [--rate REQ_PER_S] [--settle S] [--build-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=10
RATE=1000
SETTLE=10
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --settle) SETTLE=$2; shift 2 ;;
        --build-dir) BUILD_DIR=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "rss_after_drain.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -n 1 || true)

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDAGPROF_BUILD_TESTS=OFF \
    -DDAGPROF_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD_DIR" -j2 --target dagprof loadgen null_server >/dev/null

WORK=$(mktemp -d /tmp/dagprof-rss.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_listening() { # wait_listening PID ERRFILE
    for _ in $(seq 1 300); do
        grep -q "listening on" "$2" && return 0
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    echo "rss_after_drain.sh: a server did not start:" >&2
    cat "$2" >&2
    exit 1
}

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$2/status"; }

echo "| upstream | allocator | VmHWM MiB | VmRSS MiB after 1 s | after ${SETTLE} s | refused calls |"
echo "| --- | --- | --- | --- | --- | --- |"
for mode in none upstream; do
    for alloc in glibc jemalloc; do
        [ "$alloc" = jemalloc ] && [ -z "$JEMALLOC" ] && continue
        up_args=()
        if [ "$mode" = upstream ]; then
            UP=$(free_port)
            "$BUILD_DIR/bench/null_server" --listen "127.0.0.1:$UP" --count >"$WORK/n.out" \
                2>"$WORK/n.err" &
            N=$!
            PIDS+=("$N")
            wait_listening "$N" "$WORK/n.err"
            up_args=(--upstream "http://127.0.0.1:$UP")
        fi
        PORT=$(free_port)
        preload=""
        [ "$alloc" = jemalloc ] && preload=$JEMALLOC
        LD_PRELOAD=$preload "$BUILD_DIR/dagprof" --listen "127.0.0.1:$PORT" --format json \
            --idle-timeout 200ms "${up_args[@]}" >/dev/null 2>"$WORK/d.err" &
        D=$!
        PIDS+=("$D")
        wait_listening "$D" "$WORK/d.err"
        LINE=$("$BUILD_DIR/bench/loadgen" --target "127.0.0.1:$PORT" --duration "$DURATION" \
            --rate "$RATE" --concurrency 64 --channels 4 --spans-per-request 200 --quiet || true)
        sleep 1
        R1=$(kib VmRSS "$D")
        sleep $((SETTLE - 1))
        R2=$(kib VmRSS "$D")
        HWM=$(kib VmHWM "$D")
        kill -TERM "$D"
        wait "$D" || true
        [ "$mode" = upstream ] && { kill -TERM "$N"; wait "$N" || true; }
        refused=$(echo "$LINE" | tr ' ' '\n' | sed -n 's/^status_14=//p')
        awk -v m="$mode" -v a="$alloc" -v h="$HWM" -v r1="$R1" -v r2="$R2" -v f="${refused:-0}" \
            'BEGIN { printf "| %s | %s | %.0f | %.0f | %.0f | %s |\n", m, a, h/1024, r1/1024, r2/1024, f }'
    done
done
