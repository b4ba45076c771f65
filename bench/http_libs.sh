#!/usr/bin/env bash
# The OTLP/HTTP library choice: http_loadgen (loadgen's trace requests posted
# to /v1/traces over keep-alive connections) against http_null_server on
# each candidate library, the libraries taken in turn ROUNDS times; prints
# the spans/s of every run and the median per library.
#   bench/http_libs.sh [--build-dir DIR] [--duration S] [--rounds N]
#   extra http_loadgen options: HTTP_LOADGEN_ARGS="--connections 16 --threads 1"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

build=$here/../build-bench
duration=5
rounds=3
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
done
bench_init http-libs
echo "== build (Release) in $build =="
bench_build "$build" "$here/.." http_loadgen http_null_server
declare -A runs
for round in $(seq 1 "$rounds"); do
    for lib in mhd evhttp h2o; do
        port=$(free_port)
        start "$lib" "$WORK/$lib.err" /dev/null "$build/bench/http_null_server" --lib "$lib" \
            --listen "127.0.0.1:$port" --threads 2
        pid=$LAST_PID
        # shellcheck disable=SC2086
        line=$("$build/bench/http_loadgen" --target "127.0.0.1:$port" --duration "$duration" \
            ${HTTP_LOADGEN_ARGS:-})
        stop "$pid"
        echo "round $round $lib: $line"
        runs[$lib]="${runs[$lib]:-} $(field spans_per_s "$line")"
    done
done
for lib in mhd evhttp h2o; do
    # shellcheck disable=SC2086
    echo "$lib median spans/s: $(printf '%s\n' ${runs[$lib]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
