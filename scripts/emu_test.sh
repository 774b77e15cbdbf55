#!/usr/bin/env bash
# The CUDA forms on the emulated device (kernels/emu, no GPU, no nvcc): builds
# with -DDFWBENCH_CUDA_EMU=ON and runs the GPU suites (CudaSuite, CudaChunked,
# ChunkedContinuation) and the emulator's own tests (EmuDevice), in one of two
# modes (the ASan + UBSan run of the same suites is scripts/sanitize.sh's):
#   plain  three schedules (greedy, reverse, random:SEED), then `dfwbench check
#          --backend cuda` (every CUDA form, dtype and gate set; rows labelled
#          cuda-emu)                                  (build dir build-emu)
#   tsan   once under ThreadSanitizer (each GPU thread a TSan fiber; barriers and
#          collectives order memory among their participants only)  (build-emu-tsan)
# Under TSan every memory access and fiber switch is instrumented: the whole GPU suite
# took over 25 minutes here (CudaSuite.EveryPresetOnOddShapes alone 301 s, against 4 s
# plain and 36 s under ASan), past CI's budget. tsan runs the emulator's tests and the
# GPU tests of TSAN_TESTS below (every kernel family and form at small shapes,
# multi-chunk, wide heads spilling to the workspace, from an initial state);
# DFW_EMU_SAN_FILTER='*' runs every GPU test.
# Any failure, skip of a GPU test, or sanitizer report fails the script.
# Usage: scripts/emu_test.sh [plain|tsan]     env: DFW_JOBS (default 2)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-plain}"
jobs="${DFW_JOBS:-2}"
start=$(date +%s)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

case "$mode" in
  plain) build="$root/build-emu"; flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  tsan) build="$root/build-emu-tsan"
        flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDFWBENCH_TSAN=ON -DDFWBENCH_NATIVE=OFF)
        # libgomp is not instrumented: one OpenMP thread keeps the CPU reference out of TSan's view.
        export OMP_NUM_THREADS=1
        export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1" ;;
  *) echo "usage: scripts/emu_test.sh [plain|tsan]" >&2; exit 2 ;;
esac

cmake -S "$root" -B "$build" -G Ninja -DDFWBENCH_CUDA_EMU=ON "${flags[@]}" >/dev/null
targets=(dfw_cuda_tests emu_tests)
[[ $mode == plain ]] && targets+=(dfwbench)
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

TSAN_TESTS='CudaSuite.InitialStateAndDecodeStep:CudaSuite.EveryFeatureMapAndTheWideRegisterPath:CudaChunked.LongChunksAndWideHeadsSpillToTheWorkspace:CudaChunked.PrefillThenDecodeStepContinues:CudaSuite.DeviceBuffersAreCountedAndOomIsReported'
gpu_filter='*'
[[ $mode == tsan ]] && gpu_filter="${DFW_EMU_SAN_FILTER:-$TSAN_TESTS}"

# run_suites SCHEDULE: the GPU suites and the emulator's tests; a skipped test is a failure.
run_suites() {
  local log="$build/emu-$mode-${1//:/-}.log"
  echo "== emu $mode, schedule $1"
  for exe in "$build/tests/dfw_cuda_tests" "$build/tests/emu_tests"; do
    local filter='*'
    [[ $(basename "$exe") == dfw_cuda_tests ]] && filter="$gpu_filter"
    # A fault unwinds the faulting fiber with a C++ exception, which ThreadSanitizer's
    # fiber support does not follow (it aborts): the fault-reporting tests run in the
    # plain mode and in scripts/sanitize.sh, the rest of the emulator's tests here too.
    [[ $mode == tsan && $(basename "$exe") == emu_tests ]] &&
      filter='-EmuDevice.*IsAFault:EmuDevice.WmmaChecksAlignmentAndStride'
    DFWBENCH_EMU_SCHEDULE="$1" "$exe" --gtest_brief=1 --gtest_filter="$filter" >"$log" 2>&1 || { cat "$log"; exit 1; }
    grep -E '^\[  (PASSED|SKIPPED) ' "$log" | sed "s|^|  $(basename "$exe"): |"
    if grep -q '^\[  SKIPPED \]' "$log" && [[ $(basename "$exe") == dfw_cuda_tests ]]; then
      echo "emu_test: a GPU test skipped on the emulated device" >&2; cat "$log"; exit 1
    fi
  done
}

case "$mode" in
  plain)
    for s in greedy reverse random:12345; do run_suites "$s"; done
    # The presets take every CUDA form, dtype, rule and feature map through every shape and
    # gate edge set; `--variants all` (every rule x map combination) takes ~15 CPU minutes here.
    echo "== emu plain: dfwbench check --backend cuda --variants PRESETS (every form, dtype, gate set vs float64)"
    DFWBENCH_EMU_SCHEDULE=random:99 "$build/dfwbench" check --backend cuda --no-distance \
      --variants "softmax;linear;performer;t2r;gated;delta;fwp;dfw" \
      --out "$build/check-cuda-emu.csv" >"$build/check-cuda-emu.txt" 2>&1 || { tail -40 "$build/check-cuda-emu.txt"; exit 1; }
    tail -1 "$build/check-cuda-emu.txt"
    if grep -q ',cuda,' "$build/check-cuda-emu.csv"; then echo "emu_test: a row is not labelled cuda-emu" >&2; exit 1; fi ;;
  tsan) run_suites random:3 ;;
esac
echo "emu_test $mode: passed in $(( $(date +%s) - start )) s"
