#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a short time,
# seeded with real images and small archives made from them.
#
# A crash fails the script; the crashing input is copied into
# tests/fuzz/regressions/<target>/ so that, once committed, the ordinary test
# suite replays it.
#
# Environment: ADVGNN_FUZZ_SECONDS (per target, default 30),
# ADVGNN_SHARED_DATA (sample images, default ../shared/data).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${ADVGNN_FUZZ_SECONDS:-30}
data=${ADVGNN_SHARED_DATA:-"$repo/../shared/data"}
build="$repo/build-fuzz"
work=$(mktemp -d /tmp/advgnn-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DADVGNN_BUILD_FUZZERS=ON -DADVGNN_BUILD_BENCH=OFF -DADVGNN_WERROR=OFF >/dev/null
cmake --build "$build" --target fuzz_image_decode fuzz_archive_index >"$work/build.log" || { tail -n 30 "$work/build.log" >&2; exit 1; }

# Seeds: a few small real files of each format, and archives of them.
mkdir -p "$work/seed-image" "$work/seed-archive/files"
if [[ -d "$data" ]]; then
  find "$data/magnetic_tile" -name '*.jpg' -size -64k 2>/dev/null | head -n 4 | xargs -r cp -t "$work/seed-image" || true
  find "$data/magnetic_tile" -name '*.png' -size -32k 2>/dev/null | head -n 4 | xargs -r cp -t "$work/seed-image" || true
  find "$data/kolektorsdd" -name '*.bmp' 2>/dev/null | head -n 2 | xargs -r cp -t "$work/seed-image" || true
  find "$data/magnetic_tile" -name '*.png' -size -16k 2>/dev/null | head -n 3 | xargs -r cp -t "$work/seed-archive/files" || true
else
  echo "fuzz.sh: $data not found; fuzzing from the saved regression inputs only" >&2
fi
cp "$repo"/tests/fuzz/regressions/image_decode/* "$work/seed-image/" 2>/dev/null || true
if command -v bsdtar >/dev/null && [[ -n $(ls -A "$work/seed-archive/files") ]]; then
  (cd "$work/seed-archive/files" && bsdtar -cf ../seed.tar . && bsdtar -cJf ../seed.tar.xz . &&
   bsdtar --format zip -cf ../seed.zip .)
fi
rm -rf "$work/seed-archive/files"
cp "$repo"/tests/fuzz/regressions/archive_index/* "$work/seed-archive/" 2>/dev/null || true

status=0
for target in image_decode archive_index; do
  seeds="$work/seed-image"
  [[ $target == archive_index ]] && seeds="$work/seed-archive"
  mkdir -p "$work/corpus-$target" "$work/crash-$target"
  echo "== fuzzing $target for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144 \
      -timeout=20 -print_final_stats=1 -artifact_prefix="$work/crash-$target/" \
      "$work/corpus-$target" "$seeds" 2>"$work/$target.log"; then
    tail -n 40 "$work/$target.log" >&2
    mkdir -p "$repo/tests/fuzz/regressions/$target"
    cp "$work/crash-$target"/* "$repo/tests/fuzz/regressions/$target/" 2>/dev/null || true
    echo "fuzz.sh: $target crashed; the input was saved in tests/fuzz/regressions/$target/ (fix the bug and commit it)" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$work/$target.log" | tail -n 2
  fi
done
exit $status
