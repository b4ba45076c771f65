#!/usr/bin/env bash
# Installs everything dagprof needs to build, test and benchmark on Debian 12.
# Idempotent: packages already present are left as they are.
#   scripts/install-deps.sh          build and run dependencies
#   scripts/install-deps.sh --test   also the end-to-end test peers (Python, Node)
#   scripts/install-deps.sh --fuzz   also clang with libFuzzer (scripts/fuzz.sh)
# --test and --fuzz may be given together.
set -euo pipefail

with_test=0
with_fuzz=0
for arg in "$@"; do
    case "$arg" in
    --test) with_test=1 ;;
    --fuzz) with_fuzz=1 ;;
    *)
        echo "usage: $0 [--test] [--fuzz]" >&2
        exit 2
        ;;
    esac
done

packages=(
    build-essential cmake pkg-config
    libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
    libssl-dev libcmocka-dev libyaml-dev libjansson-dev zlib1g-dev libmicrohttpd-dev libgnutls28-dev
    libcurl4-openssl-dev libpcre2-dev libsqlite3-dev
)
if [ "$with_test" = 1 ]; then
    # sqlite3: the independent reader of the run history in its tests
    packages+=(sqlite3)
    packages+=(python3 python3-grpcio python3-protobuf protobuf-compiler openssl clang-format curl)
    # the independent parser of the /metrics text (tests/e2e/test_telemetry.py)
    packages+=(python3-prometheus-client)
    # grpc_tools.protoc: the gRPC health stubs of the Watch test
    packages+=(python3-grpc-tools)
    # a hand-driven HTTP/2 client for the receiver's fault tests (tests/e2e/test_receiver_faults.py):
    # pre-compressed messages, trickled bytes, half-sent messages, a window that never opens
    packages+=(python3-h2)
    # the HTML report tests load pages in headless Chromium (tests/e2e/test_html_report.py)
    packages+=(chromium)
    # the other HTTP libraries of the OTLP/HTTP library comparison (bench/http_null_server.c)
    packages+=(libevent-dev libh2o-evloop-dev)
    # LMDB, the alternative of the persistent queue's storage comparison (bench/wal_bench.c)
    packages+=(liblmdb-dev)
    # Node.js may come from elsewhere than Debian (with npm bundled); only
    # install Debian's when there is none.
    command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

if [ "$with_fuzz" = 1 ]; then
    # libFuzzer's runtime is only a recommendation of Debian 12's clang-14,
    # which --no-install-recommends leaves out
    packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
