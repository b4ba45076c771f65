#!/usr/bin/env bash
# Installs what the tests need, checks the source format, builds dagprof
# twice (optimised, and with AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs the whole suite
# (unit tests, fuzz corpus replays, end-to-end tests with real OTLP clients)
# against each build.
#   scripts/test.sh            both builds
#   scripts/test.sh --fast     the optimised build only
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --test

jobs=$(nproc 2>/dev/null || echo 2)

run_suite() {
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    ctest --test-dir "$dir" --output-on-failure -j"$jobs"
}

echo "== source format (clang-format, .clang-format at the root) =="
# shellcheck disable=SC2046
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
echo "format ok"

echo "== build and test: RelWithDebInfo =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${1:-}" != "--fast" ]; then
    echo "== build and test: AddressSanitizer + UndefinedBehaviorSanitizer =="
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DDAGPROF_SANITIZE=ON -DDAGPROF_BUILD_BENCH=OFF
fi
