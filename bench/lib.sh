# Shell helpers of the benchmark scripts (run.sh, run_upstream.sh,
# rss_after_drain.sh, side_by_side.sh, stages.sh); sourced, not run.
#
# A script may set BENCH_NAME (its messages' prefix; default its name), calls bench_init
# (a scratch directory in $WORK, removed at exit with every server still
# running) and bench_tools BUILD_DIR (Release build; sets DAGPROF, LOADGEN,
# NULL_SERVER). Servers are started with `start`, which tracks their ids, and
# stopped with `stop`; every server listens on 127.0.0.1 only.
#
# shellcheck shell=bash
# shellcheck disable=SC2034 # results are set in variables the caller reads

BENCH_NAME=${BENCH_NAME:-${0##*/}}
BENCH_PIDS=()

die() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}

bench_cleanup() {
    local p
    for p in "${BENCH_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
}

# bench_init TAG: $WORK = a fresh scratch directory; cleanup at exit.
bench_init() {
    WORK=$(mktemp -d "/tmp/dagprof-$1.XXXXXX")
    trap bench_cleanup EXIT
}

# bench_build BUILD_DIR SRC_DIR TARGET...: configure a Release build of the
# tree SRC_DIR (tests off, benchmark tools on) and build the targets, -j2.
bench_build() {
    local build=$1 src=$2
    shift 2
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDAGPROF_BUILD_TESTS=OFF \
        -DDAGPROF_BUILD_BENCH=ON >/dev/null
    cmake --build "$build" -j2 --target "$@" >/dev/null
}

# bench_tools BUILD_DIR [SRC_DIR]: build dagprof, loadgen and null_server
# (SRC_DIR defaults to this tree) and set DAGPROF, LOADGEN, NULL_SERVER.
bench_tools() {
    local build=$1 src=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
    echo "== build (Release) in $build =="
    bench_build "$build" "$src" dagprof loadgen null_server
    DAGPROF=$build/dagprof
    LOADGEN=$build/bench/loadgen
    NULL_SERVER=$build/bench/null_server
}

# source_dir BUILD_DIR: the tree a configured build directory was made from.
source_dir() {
    sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$1/CMakeCache.txt" 2>/dev/null
}

# tree_label BUILD_DIR: the commit the build's tree is at, with "+changes"
# when the tree has uncommitted changes.
tree_label() {
    local src rev
    src=$(source_dir "$1")
    rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "?")
    git -C "$src" diff --quiet HEAD -- 2>/dev/null || rev="$rev+changes"
    echo "$rev"
}

# BENCH_PIN=1: the server under test (dagprof, or null_server when it is the
# target) runs on CPU 1 and the load generator on CPU 0 (taskset), so that
# each side's rate is that of one core and not what is left of the cores
# they otherwise share. Sets SERVER_ON and CLIENT_ON (command prefixes).
if [ "${BENCH_PIN:-0}" = 1 ]; then
    command -v taskset >/dev/null || { echo "BENCH_PIN=1 needs taskset (util-linux)" >&2; exit 1; }
    [ "$(nproc)" -ge 2 ] || { echo "BENCH_PIN=1 needs two CPUs" >&2; exit 1; }
    SERVER_ON=(taskset -c 1)
    CLIENT_ON=(taskset -c 0)
else
    SERVER_ON=()
    CLIENT_ON=()
fi

# quiet_listeners DAGPROF: the flags that turn off the receivers and
# endpoints a build has beside the gRPC one (OTLP/HTTP, health), so that
# benchmark runs never compete for their default ports; none for older
# builds without them.
quiet_listeners() {
    local help
    help=$("$1" --help 2>&1 || true)
    QUIET_LISTENERS=()
    case "$help" in *--http-listen*) QUIET_LISTENERS+=(--http-listen "") ;; esac
    case "$help" in *--health-listen*) QUIET_LISTENERS+=(--health-listen "") ;; esac
    case "$help" in *--telemetry-listen*) QUIET_LISTENERS+=(--telemetry-listen "") ;; esac
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME ERRFILE OUTFILE CMD...: run CMD in the background and wait (up
# to 30 s) for "listening on" on its stderr; sets LAST_PID.
start() {
    local name=$1 err=$2 out=$3
    shift 3
    "$@" >"$out" 2>"$err" &
    LAST_PID=$!
    BENCH_PIDS+=("$LAST_PID")
    for _ in $(seq 1 300); do
        grep -q "listening on" "$err" && return 0
        kill -0 "$LAST_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "$BENCH_NAME: $name did not start:" >&2
    cat "$err" >&2
    exit 1
}

forget_pid() { # forget_pid PID: no longer killed at exit (it has been waited for)
    local p kept=()
    for p in "${BENCH_PIDS[@]}"; do
        [ "$p" = "$1" ] || kept+=("$p")
    done
    BENCH_PIDS=("${kept[@]}")
}

# stop PID: SIGTERM and wait; a non-zero exit status fails the script.
stop() {
    kill -TERM "$1"
    local rc=0
    wait "$1" || rc=$?
    forget_pid "$1"
    [ "$rc" -eq 0 ] || die "process $1 exited with status $rc"
}

# stop_counting_cpu PID: like stop, and sets STOP_CPU to the CPU seconds the
# process used until it exited (read while it shuts down).
stop_counting_cpu() {
    kill -TERM "$1"
    STOP_CPU=0
    while [ -r "/proc/$1/stat" ]; do
        STOP_CPU=$(cpu_s "$1" 2>/dev/null || echo "$STOP_CPU")
        grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null && break
        sleep 0.05
    done
    local rc=0
    wait "$1" || rc=$?
    forget_pid "$1"
    [ "$rc" -eq 0 ] || die "process $1 exited with status $rc"
}

field() { # field KEY LINE: the value of KEY=... in a key=value line
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

vm() { # vm PID FIELD -> kB (VmRSS, VmHWM, ...)
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

cpu_s() { # cpu_s PID: user + system CPU seconds so far
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

now() { date +%s.%N; }

# sum_span_count FILE: "spans runs late_runs" of dagprof's JSON reports.
sum_span_count() {
    python3 -c '
import json, sys
total = runs = late = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        r = json.loads(line)
        total += r["span_count"]; runs += 1; late += bool(r.get("late"))
print(total, runs, late)' "$1"
}

# dagprof_at_rate DAGPROF RATE DURATION LOADGEN_ARGS...: dagprof without an
# upstream (--format json to /dev/null, --idle-timeout 200ms), loadgen at RATE
# requests/s for DURATION s; sets RATE_LINE to loadgen's line.
# DAGPROF_WORKERS: dagprof's --workers (default 0: one per core).
dagprof_at_rate() {
    local dagprof=$1 rate=$2 duration=$3 port pid
    shift 3
    port=$(free_port)
    quiet_listeners "$dagprof"
    start dagprof "$WORK/rate.err" /dev/null ${SERVER_ON[@]+"${SERVER_ON[@]}"} "$dagprof" \
        --listen "127.0.0.1:$port" --format json --idle-timeout 200ms \
        --workers "${DAGPROF_WORKERS:-0}" ${QUIET_LISTENERS[@]+"${QUIET_LISTENERS[@]}"}
    pid=$LAST_PID
    RATE_LINE=$(${CLIENT_ON[@]+"${CLIENT_ON[@]}"} "$LOADGEN" --target "127.0.0.1:$port" --duration "$duration" --rate "$rate" "$@" \
        2>/dev/null || true)
    stop "$pid"
}

# direct_to_sink SINK LOADGEN_ARGS...: loadgen straight to null_server --SINK
# (decode or count); sets DIRECT_LINE (loadgen's line) and SINK_LINE
# (null_server's).
direct_to_sink() {
    local sink=$1 port pid
    shift
    port=$(free_port)
    start null_server "$WORK/direct.err" "$WORK/direct.out" ${SERVER_ON[@]+"${SERVER_ON[@]}"} \
        "$NULL_SERVER" --listen "127.0.0.1:$port" "--$sink"
    pid=$LAST_PID
    DIRECT_LINE=$(${CLIENT_ON[@]+"${CLIENT_ON[@]}"} "$LOADGEN" --target "127.0.0.1:$port" "$@" || true)
    stop "$pid"
    SINK_LINE=$(cat "$WORK/direct.out")
}

# through_upstream DAGPROF SINK [DAGPROF_ARGS...] -- LOADGEN_ARGS...: loadgen
# -> dagprof --upstream -> null_server --SINK, then dagprof's SIGTERM
# shutdown (it drains its queue first). Prints loadgen's line, null_server's
# line and dagprof's export and totals log lines; sets THROUGH_KV to one
# key=value line: acked refused delivered load_s drain_s ack_spans_per_s
# e2e_spans_per_s (delivered / (load + drain time)) hwm_kib, cpu_loadgen_us
# cpu_dagprof_us cpu_sink_us (CPU per delivered span) and lost (acknowledged
# but not delivered). DAGPROF_WORKERS: dagprof's --workers.
through_upstream() {
    local dagprof=$1 sink=$2 up_port port d n t0 t_load t1 hwm d_cpu n_cpu l_cpu line
    shift 2
    local dargs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        dargs+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    up_port=$(free_port)
    start null_server "$WORK/up.err" "$WORK/up.out" ${CLIENT_ON[@]+"${CLIENT_ON[@]}"} \
        "$NULL_SERVER" --listen "127.0.0.1:$up_port" "--$sink"
    n=$LAST_PID
    port=$(free_port)
    quiet_listeners "$dagprof"
    start dagprof "$WORK/through.err" /dev/null ${SERVER_ON[@]+"${SERVER_ON[@]}"} "$dagprof" \
        --listen "127.0.0.1:$port" --upstream "http://127.0.0.1:$up_port" --idle-timeout 200ms \
        --workers "${DAGPROF_WORKERS:-0}" --set upstream.shutdown_timeout=60s \
        ${QUIET_LISTENERS[@]+"${QUIET_LISTENERS[@]}"} ${dargs[@]+"${dargs[@]}"}
    d=$LAST_PID
    t0=$(now)
    line=$( { TIMEFORMAT="%U %S"; time ${CLIENT_ON[@]+"${CLIENT_ON[@]}"} "$LOADGEN" --target "127.0.0.1:$port" "$@" || true; } \
        2>"$WORK/loadgen.time")
    t_load=$(now)
    hwm=$(vm "$d" VmHWM)
    stop_counting_cpu "$d"
    t1=$(now)
    d_cpu=$STOP_CPU
    n_cpu=$(cpu_s "$n")
    l_cpu=$(tail -n 1 "$WORK/loadgen.time" | awk '{ print $1 + $2 }')
    stop "$n"
    echo "loadgen: $line"
    echo "null_server: $(cat "$WORK/up.out")"
    grep -E "\[export\]|totals" "$WORK/through.err" | sed 's/^/dagprof: /' || true
    THROUGH_KV=$(python3 - "$line" "$(cat "$WORK/up.out")" "$t0" "$t_load" "$t1" "$hwm" \
        "$l_cpu" "$d_cpu" "$n_cpu" <<'PY'
import sys
kv = lambda s: dict(p.split("=", 1) for p in s.split() if "=" in p)
lg, sink = kv(sys.argv[1]), kv(sys.argv[2])
t0, tl, t1 = map(float, sys.argv[3:6])
hwm = int(sys.argv[6])
l_cpu, d_cpu, n_cpu = map(float, sys.argv[7:10])
acked, delivered = int(lg.get("spans_ok", 0)), int(sink.get("spans", 0))
us = lambda c: c / delivered * 1e6 if delivered else float("nan")
print("acked=%d refused=%s delivered=%d load_s=%.2f drain_s=%.2f ack_spans_per_s=%.0f"
      " e2e_spans_per_s=%.0f hwm_kib=%d cpu_loadgen_us=%.2f cpu_dagprof_us=%.2f cpu_sink_us=%.2f"
      " lost=%d" % (acked, lg.get("status_14", "0"), delivered, tl - t0, t1 - tl,
                    acked / (tl - t0), delivered / (t1 - t0), hwm, us(l_cpu), us(d_cpu),
                    us(n_cpu), acked - delivered))
PY
)
}
