#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and integration) with ctest.
#   ./test.sh            the release build (RelWithDebInfo)
#   ./test.sh --asan     the AddressSanitizer + UndefinedBehaviorSanitizer build
#   ./test.sh --all      both, one after the other (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"

./scripts/install-deps.sh

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
  # ctest prints its own summary ("N% tests passed, M tests failed out of T").
  ctest --test-dir "$dir" --output-on-failure -j2 --timeout 600
}

mode=${1:-}
case "$mode" in
  "")
    run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
  --asan)
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DSTRAIT_SANITIZE=ON
    ;;
  --all)
    run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DSTRAIT_SANITIZE=ON
    ;;
  *)
    echo "usage: ./test.sh [--asan|--all]" >&2
    exit 2
    ;;
esac
