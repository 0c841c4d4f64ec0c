#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds the normal and the
# sanitizer (ASan + UBSan) configurations and runs CTest on both.
#
# Environment: ADVGNN_TEST_JOBS (parallel tests, default 2).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${ADVGNN_TEST_JOBS:-2}
cd "$repo"

bash scripts/setup.sh "$repo/build"
if [[ -f scripts/python-env.sh ]]; then
  bash scripts/python-env.sh
fi
bash scripts/browser-env.sh

echo "== tests: release build"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DADVGNN_WERROR=ON -DADVGNN_SANITIZE=ON \
  -DADVGNN_BUILD_BENCH=OFF
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions="$repo/tests/lsan.supp" \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE no_sanitizer

if [[ -f scripts/fuzz.sh ]]; then
  echo "== short fuzzing runs"
  bash scripts/fuzz.sh
fi
