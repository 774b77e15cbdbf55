#!/usr/bin/env bash
# Builds the libFuzzer target over dfw::parse_npy with clang-14
# (-fsanitize=fuzzer,address,undefined; build dir build-fuzz) and runs it for
# SECONDS on a scratch copy of the committed corpus tests/data/npy_corpus.
# Prints the executions and the duration; exits non-zero on any finding (the
# crashing input is left in build-fuzz/artifacts/).
# Usage: scripts/fuzz.sh [SECONDS=60] [extra libFuzzer flags]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${DFW_FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${1:-60}"
shift || true

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER=clang++-14 \
  -DDFWBENCH_FUZZ=ON -DDFWBENCH_CUDA=OFF -DDFWBENCH_NATIVE=OFF >/dev/null
ninja -C "$build" -j 2 npy_fuzz

corpus="$build/corpus"
mkdir -p "$corpus" "$build/artifacts"
cp "$root"/tests/data/npy_corpus/*.npy "$corpus"/

log="$build/fuzz.log"
# -malloc_limit_mb: any single allocation over 64 MiB is a finding (inputs are
# at most 4 KiB, so the reader must never need more).
status=0
"$build/tests/fuzz/npy_fuzz" "$corpus" \
  -max_total_time="$seconds" -max_len=4096 -malloc_limit_mb=64 -rss_limit_mb=2048 \
  -dict="$root/tests/fuzz/npy.dict" -artifact_prefix="$build/artifacts/" \
  -print_final_stats=1 "$@" 2>"$log" || status=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
echo "fuzz: ${runs:-?} executions in ${secs:-?} s, corpus $(ls "$corpus" | wc -l) files (log: $log)"
if [ "$status" -ne 0 ]; then
  echo "fuzz: FINDING (exit $status); see $log and $build/artifacts/" >&2
  tail -40 "$log" >&2
  exit "$status"
fi
