#!/usr/bin/env bash
# OTLP/HTTP benchmarks, every server on 127.0.0.1, taken in turn ROUNDS times
# with the median printed (the machine's other load moves single runs a lot):
#
#   bench/http.sh libs   [--build-dir DIR] [--duration S] [--rounds N]
#       http_loadgen against http_null_server on each candidate library
#       (libmicrohttpd, libevent's evhttp, libh2o-evloop): what taking a
#       request body in and answering it costs, nothing else.
#   bench/http.sh ingest [--build-dir DIR] [--duration S] [--rounds N]
#       the same daemon build over OTLP/gRPC (loadgen) and over OTLP/HTTP
#       (http_loadgen), with the same requests (loadgen's templates, fresh
#       trace ids) at full speed against a fresh `dagprof --format json`
#       (reports to /dev/null): accepted spans/s, dagprof's CPU µs per
#       accepted span (user + system, read as it exits), and HTTP / gRPC.
#
# CONCURRENCY (calls in flight = HTTP connections, default 64) and SPANS
# (spans per request, default 200) apply to both load generators.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

mode=${1:-}
[ "$mode" = libs ] || [ "$mode" = ingest ] || die "usage: bench/http.sh libs|ingest [options]"
shift
build=$here/../build-bench
duration=6
rounds=3
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
done
conc=${CONCURRENCY:-64}
spans=${SPANS:-200}
bench_init "http-$mode"
echo "== build (Release) in $build =="
bench_build "$build" "$here/.." dagprof loadgen http_loadgen http_null_server

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

http_load() { # http_load PORT: sets LINE
    LINE=$("$build/bench/http_loadgen" --target "127.0.0.1:$1" --duration "$duration" \
        --connections "$conc" --threads 1 --spans-per-request "$spans" 2>/dev/null || true)
}

# one_run KIND: KIND is a library (null server) or grpc/http (dagprof); sets
# LINE, and CPU_US (dagprof's CPU µs per accepted span) for grpc/http
one_run() {
    local port http_port pid
    port=$(free_port)
    case $1 in
    mhd | evhttp | h2o)
        start "$1" "$WORK/s.err" /dev/null "$build/bench/http_null_server" --lib "$1" \
            --listen "127.0.0.1:$port" --threads 2
        pid=$LAST_PID
        http_load "$port"
        ;;
    grpc | http)
        http_port=$(free_port)
        start dagprof "$WORK/s.err" /dev/null "$build/dagprof" --listen "127.0.0.1:$port" \
            --http-listen "127.0.0.1:$http_port" --format json --idle-timeout 200ms
        pid=$LAST_PID
        if [ "$1" = grpc ]; then
            LINE=$("$build/bench/loadgen" --target "127.0.0.1:$port" --duration "$duration" \
                --concurrency "$conc" --spans-per-request "$spans" 2>/dev/null || true)
        else
            http_load "$http_port"
        fi
        stop_counting_cpu "$pid"
        CPU_US=$(awk -v c="$STOP_CPU" -v n="$(field spans_ok "$LINE")" \
            'BEGIN { printf "%.2f", (n > 0 ? c * 1e6 / n : 0) }')
        return
        ;;
    esac
    stop "$pid"
}

kinds=(mhd evhttp h2o)
[ "$mode" = ingest ] && kinds=(grpc http)
declare -A runs cpu
for round in $(seq 1 "$rounds"); do
    for k in "${kinds[@]}"; do
        CPU_US=""
        one_run "$k"
        echo "round $round $k: $LINE${CPU_US:+ dagprof_cpu_us_per_span=$CPU_US}"
        runs[$k]="${runs[$k]:-} $(field spans_per_s "$LINE")"
        cpu[$k]="${cpu[$k]:-} ${CPU_US:-0}"
    done
done
for k in "${kinds[@]}"; do
    # shellcheck disable=SC2086
    echo "$k median spans/s: $(median ${runs[$k]})"
    # shellcheck disable=SC2086
    [ "$mode" = ingest ] && echo "$k median dagprof CPU µs/span: $(median ${cpu[$k]})"
done
if [ "$mode" = ingest ]; then
    # shellcheck disable=SC2086
    g=$(median ${runs[grpc]})
    # shellcheck disable=SC2086
    h=$(median ${runs[http]})
    echo "http / grpc: $(awk -v h="$h" -v g="$g" 'BEGIN { printf "%.2f", h / g }')"
fi
