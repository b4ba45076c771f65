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

. "$ROOT/bench/lib.sh"
bench_init rss
bench_tools "$BUILD_DIR"

echo "| upstream | allocator | VmHWM MiB | VmRSS MiB after 1 s | after ${SETTLE} s | refused calls |"
echo "| --- | --- | --- | --- | --- | --- |"
for mode in none upstream; do
    for alloc in glibc jemalloc; do
        [ "$alloc" = jemalloc ] && [ -z "$JEMALLOC" ] && continue
        up_args=()
        if [ "$mode" = upstream ]; then
            UP=$(free_port)
            start null_server "$WORK/n.err" "$WORK/n.out" "$NULL_SERVER" \
                --listen "127.0.0.1:$UP" --count
            N=$LAST_PID
            up_args=(--upstream "http://127.0.0.1:$UP")
        fi
        PORT=$(free_port)
        preload=""
        [ "$alloc" = jemalloc ] && preload=$JEMALLOC
        start dagprof "$WORK/d.err" /dev/null env LD_PRELOAD="$preload" "$DAGPROF" \
            --listen "127.0.0.1:$PORT" --format json --idle-timeout 200ms "${up_args[@]}"
        D=$LAST_PID
        LINE=$("$LOADGEN" --target "127.0.0.1:$PORT" --duration "$DURATION" \
            --rate "$RATE" --concurrency 64 --channels 4 --spans-per-request 200 --quiet || true)
        sleep 1
        R1=$(vm "$D" VmRSS)
        sleep $((SETTLE - 1))
        R2=$(vm "$D" VmRSS)
        HWM=$(vm "$D" VmHWM)
        stop "$D"
        [ "$mode" = upstream ] && stop "$N"
        refused=$(field status_14 "$LINE")
        awk -v m="$mode" -v a="$alloc" -v h="$HWM" -v r1="$R1" -v r2="$R2" -v f="${refused:-0}" \
            'BEGIN { printf "| %s | %s | %.0f | %.0f | %.0f | %s |\n", m, a, h/1024, r1/1024, r2/1024, f }'
    done
done
