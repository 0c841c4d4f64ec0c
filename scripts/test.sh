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

# A failing stage does not stop the later ones, so one run shows every
# failure; the script still exits non-zero if any stage failed.
failed=()

echo "== tests: release build"
ctest --test-dir build --output-on-failure -j "$jobs" || failed+=("release tests")

echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DADVGNN_WERROR=ON -DADVGNN_SANITIZE=ON \
  -DADVGNN_BUILD_BENCH=OFF
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions="$repo/tests/lsan.supp" \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE no_sanitizer || failed+=("sanitizer tests")

if [[ -f scripts/fuzz.sh ]]; then
  echo "== short fuzzing runs"
  bash scripts/fuzz.sh || failed+=("fuzzing")
fi

if ((${#failed[@]})); then
  echo "test.sh: failed: ${failed[*]} (see the output above)" >&2
  exit 1
fi
echo "test.sh: all stages passed"
