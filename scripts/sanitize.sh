#!/usr/bin/env bash
# Configures, builds with clang and runs every test under AddressSanitizer +
# UndefinedBehaviorSanitizer (build dir build-asan, -march=native off), with the CUDA
# forms on the emulated device (kernels/emu, -DDFWBENCH_CUDA_EMU=ON): the CPU suites
# (less the tests that run no built binary) and the GPU suites (CudaSuite, CudaChunked,
# CudaBackward; less those whose addresses others cover, below) plus the emulator's own
# tests (EmuDevice) run under ASan.
# Any sanitizer report aborts the test that triggered it, so a clean run is a green ctest;
# a GPU test that skips fails the script (the emulated device is always there).
# Usage: scripts/sanitize.sh [ctest args, e.g. -R Npy: only those tests, with the CPU
#        tests' options]                                    env: DFW_JOBS (default 2)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${DFW_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${DFW_JOBS:-2}"
start=$(date +%s)

# clang: its ASan + UBSan build took 40% less time than GCC's here (one heavy file:
# 20 s against 37 s), and its -fsanitize=undefined also checks float-to-integer casts
# that overflow (GCC's leaves float-cast-overflow out); its OpenMP runtime is LLVM's libomp.
# -g1: line tables only, which is all a sanitizer report needs (a third off the build).
cxx=clang++-14
if [[ -f $build/CMakeCache.txt ]] && ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=.*$cxx\$" "$build/CMakeCache.txt"; then
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"  # a build dir configured with another compiler
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DDFWBENCH_SANITIZE=ON -DDFWBENCH_CUDA_EMU=ON -DDFWBENCH_NATIVE=OFF >/dev/null
ninja -C "$build" -j "$jobs"

# halt_on_error / abort: the first report fails the test; max_allocation_size_mb:
# one allocation over 4 GiB is a report (no test needs one; a header or shape that
# asked for one would be a defect). detect_leaks: a leak fails too. libgomp keeps its
# thread pool until exit; LeakSanitizer does not report it, so no suppression file.
asan_common="detect_leaks=1:max_allocation_size_mb=4096:abort_on_error=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Two threads: the machine has two cores, and OpenMP paths are still exercised.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
gpu_suites='^(CudaSuite|CudaChunked|CudaBackward|EmuDevice)\.'
no_binary='plot_report|npy_corpus_current|report_verdicts|ctest_audit|sass_check_units|mutant_snippets|barrier_table_current|ctest_names_readable'
# Timing tests: what they assert is how long or how busy threads are, which a sanitized
# build changes, and they have no memory behaviour of their own (the bench runs they
# start run in the other tests): the hog test, and the OpenMP wait-policy test (27 s
# under ASan, its worker spinning on the second core all along: CI of 4a9404c).
timing='hog_test|ThreadPolicy\.AnIdleWorkerSleepsUnderDfwbenchsPolicyAndSpinsUnderActive'
# The full check tables (every preset and combination of the CPU forms: 65 s and 78 s
# under ASan, most of this stage's CPU tests) run the forms that Forms.* and
# Presets/EveryPreset* run here on every preset; they run in the test command's build.
full_tables='Check\.Full(Forward|Backward)CheckTablePasses'
# GPU tests whose addresses another one covers, left to emu_test.sh plain: the edge gate
# sets at every chunk length repeat EveryChunkLength's launches with other gate values
# (66 s under ASan), as the edge gate sets at one shape repeat EveryPresetOnOddShapes's
# (20 s); the 1025-token sequences (68 s) index as the shorter ones do; blocks
# taking a second chunk (28 s forward; backward likewise) reuse its first one's addresses.
gpu_asan_skip='^(CudaChunked\.EveryChunkLengthWithEdgeGateSets|CudaSuite\.GateEdgeSets|CudaSuite\.LongSequenceAndLongCache|CudaChunked\.BlocksTakeSeveralChunksEach|CudaBackward\.BlocksTakeSeveralChunksEach)$'

# CPU tests but the full check tables and the timing tests, with stack-use-after-return
# detection. The Python tests that run no built binary
# (plots and report, the .npy corpus, the audit, sass_check's units, the mutants' texts,
# ctest's names) have none either.
if [[ $# -gt 0 ]]; then
  ASAN_OPTIONS="$asan_common:detect_stack_use_after_return=1" ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
  exit
fi
ASAN_OPTIONS="$asan_common:detect_stack_use_after_return=1" \
  ctest --test-dir "$build" --output-on-failure -j "$jobs" -E "^($no_binary|$timing|$full_tables)\$|$gpu_suites"

# GPU tests on the emulated device, random thread schedule. Stack-use-after-return is
# off here: ASan gives every fiber (one per GPU thread) its own fake stack, mapped and
# unmapped per thread of every block, which made the suite ~20x slower (a 22 s test took
# 422 s, most of it in mmap); a kernel's frames never outlive the thread that owns them.
log="$build/sanitize-gpu.log"
ASAN_OPTIONS="$asan_common:detect_stack_use_after_return=0" DFWBENCH_EMU_SCHEDULE=random:7 \
  ctest --test-dir "$build" --output-on-failure -j "$jobs" -R "$gpu_suites" -E "$gpu_asan_skip" | tee "$log"
if grep -qE '\*\*\*Skipped|Not Run' "$log"; then
  echo "sanitize: a GPU test skipped or did not run on the emulated device" >&2; exit 1
fi
grep -qE '^100% tests passed' "$log" || { echo "sanitize: no GPU test ran" >&2; exit 1; }
echo "sanitize: clean (ASan + UBSan, CPU and emulated GPU tests) in $(( $(date +%s) - start )) s"
