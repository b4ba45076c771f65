#!/usr/bin/env bash
# The persistent queue's cost: loadgen -> dagprof at full speed with
# storage off, storage.sync: always and the default interval (100ms),
# alternately, ROUNDS times each; accepted spans/s and calls refused.
# Then the same three through a do-nothing upstream (lib.sh's
# through_upstream), with its acknowledged = delivered check.
#
#   bench/storage.sh [--duration S] [--rounds N] [--build-dir DIR]
# Environment: DAGPROF_WORKERS (default 0 = cores), CONCURRENCY (64), BENCH_PIN (lib.sh),
#   SPANS_PER_REQUEST (200), STORAGE_DIR (where segments go; default in the
#   scratch directory).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=5
ROUNDS=2
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --build-dir) BUILD_DIR=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "storage.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
. "$ROOT/bench/lib.sh"
bench_init storage
bench_tools "$BUILD_DIR"
quiet_listeners "$DAGPROF" # only the gRPC receiver: no default port to compete for
STORE=${STORAGE_DIR:-$WORK/queue}
LG_ARGS=(--concurrency "${CONCURRENCY:-64}" --spans-per-request "${SPANS_PER_REQUEST:-200}"
         --quiet --duration "$DURATION")

# storage_args MODE: dagprof's flags for off / always / interval
storage_args() {
    rm -rf "$STORE"
    case "$1" in
        off) STORAGE_ARGS=() ;;
        always) STORAGE_ARGS=(--set "storage.path=$STORE" --set storage.sync=always) ;;
        interval) STORAGE_ARGS=(--set "storage.path=$STORE") ;;
    esac
}

segment_files() { # segment files left in $STORE
    { find "$STORE" -name 'wal-*.log' 2>/dev/null || true; } | wc -l
}

declare -A SPS
echo "== loadgen -> dagprof --format json >/dev/null, ${DURATION}s, $ROUNDS round(s) =="
for round in $(seq 1 "$ROUNDS"); do
    for mode in off always interval; do
        storage_args "$mode"
        port=$(free_port)
        start dagprof "$WORK/d.err" /dev/null ${SERVER_ON[@]+"${SERVER_ON[@]}"} "$DAGPROF" \
            --listen "127.0.0.1:$port" --format json --idle-timeout 200ms \
            --workers "${DAGPROF_WORKERS:-0}" ${QUIET_LISTENERS[@]+"${QUIET_LISTENERS[@]}"} \
            ${STORAGE_ARGS[@]+"${STORAGE_ARGS[@]}"}
        pid=$LAST_PID
        line=$(${CLIENT_ON[@]+"${CLIENT_ON[@]}"} "$LOADGEN" --target "127.0.0.1:$port" \
            "${LG_ARGS[@]}" || true)
        stop "$pid"
        left=$(segment_files)
        echo "round $round $mode: $line segment_files_after_stop=$left"
        SPS[$mode]="${SPS[$mode]:-} $(field spans_per_s "$line")"
    done
done
for mode in off always interval; do
    echo "spans/s $mode:${SPS[$mode]}"
done

echo "== through a do-nothing upstream (acknowledged = delivered check) =="
for mode in off always interval; do
    storage_args "$mode"
    through_upstream "$DAGPROF" count ${STORAGE_ARGS[@]+"${STORAGE_ARGS[@]}"} -- "${LG_ARGS[@]}" \
        >/dev/null
    echo "$mode: $THROUGH_KV segment_files_after_stop=$(segment_files)"
done
