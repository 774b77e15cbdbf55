#!/usr/bin/env bash
# Configures, builds and runs every CPU test under AddressSanitizer +
# UndefinedBehaviorSanitizer (build dir build-asan, CUDA off, -march=native off).
# Any sanitizer report aborts the test that triggered it, so a clean run is a
# green ctest. Usage: scripts/sanitize.sh [extra ctest args, e.g. -R Npy]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${DFW_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${DFW_JOBS:-2}"
start=$(date +%s)

cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDFWBENCH_SANITIZE=ON -DDFWBENCH_CUDA=OFF -DDFWBENCH_NATIVE=OFF >/dev/null
ninja -C "$build" -j "$jobs"

# halt_on_error / abort: the first report fails the test; max_allocation_size_mb:
# one allocation over 4 GiB is a report (no test needs one; a header or shape that
# asked for one would be a defect). detect_leaks: a leak
# fails too. libgomp keeps its thread pool until exit; that is not reported as a
# leak by LeakSanitizer, so no suppression file is needed.
export ASAN_OPTIONS="detect_leaks=1:max_allocation_size_mb=4096:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Two threads: the machine has two cores, and OpenMP paths are still exercised.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

# hog_test is a timing test (a sanitized build is several times slower and would
# run past its time bound) and has no memory behaviour of its own to check.
ctest --test-dir "$build" --output-on-failure -j "$jobs" -E '^hog_test$' "$@"
echo "sanitize: clean (ASan + UBSan) in $(( $(date +%s) - start )) s"
