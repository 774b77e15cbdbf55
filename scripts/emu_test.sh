#!/usr/bin/env bash
# The CUDA forms on the emulated device (kernels/emu, no GPU, no nvcc): builds
# with -DDFWBENCH_CUDA_EMU=ON and runs the GPU suites (CudaSuite, CudaChunked,
# ChunkedContinuation) and the emulator's own tests (EmuDevice), in one of two
# modes (the ASan + UBSan run of the same suites is scripts/sanitize.sh's):
#   plain  the greedy schedule (each thread runs until it waits: the order a missing
#          barrier shows in first), then `dfwbench check
#          --backend cuda`, forward and backward forms (every CUDA form, dtype
#          and gate set; rows labelled cuda-emu)      (build dir build-emu)
#   tsan   once under ThreadSanitizer (each GPU thread a TSan fiber; barriers and
#          __syncwarp order memory among their participants only)  (build-emu-tsan)
# Under TSan every memory access, fiber switch and barrier is instrumented (a barrier is
# a vector-clock release and acquire per thread, each as long as the fibers are many):
# tsan runs the GPU tests as two processes of one emulator thread each (CudaSuite; its
# wide-path test with CudaChunked and the rest), which halves each clock and keeps both
# cores busy. Six tests
# stay with the plain and ASan runs (TSAN_GPU_SKIP): the chunk lengths 1 to 100 with every
# gate set (EveryChunkLength 70 s under TSan, EveryChunkLengthWithEdgeGateSets 174 s;
# the chunked kernels' launches and barriers run under TSan in the slow-gate, spill,
# continuation and memory-plan tests at chunks of 16 to 512), the 1025-token sequences
# (86 s; every kernel and launch path they take runs in the shorter tests), the
# chunked blocks, forward and backward, that take several chunks each (57 s forward; a
# block's next chunk reuses the addresses and barriers of its first; the barriers between
# them fail the plain schedule when removed) and the backward memory plan (21 s: bytes,
# not ordering; its kernels run under TSan in the other CudaBackward tests).
# DFW_EMU_SAN_FILTER narrows it (a gtest filter, e.g. 'CudaSuite.*').
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
        # -g1: line tables only, all a TSan report needs, and a faster build
        flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
               -DDFWBENCH_TSAN=ON -DDFWBENCH_NATIVE=OFF)
        # libgomp is not instrumented: one OpenMP thread keeps the CPU reference out of TSan's view.
        export OMP_NUM_THREADS=1
        export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1" ;;
  *) echo "usage: scripts/emu_test.sh [plain|tsan]" >&2; exit 2 ;;
esac

cmake -S "$root" -B "$build" -G Ninja -DDFWBENCH_CUDA_EMU=ON "${flags[@]}" >/dev/null
targets=(dfw_cuda_tests emu_tests)
[[ $mode == plain ]] && targets+=(dfwbench)
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

# A fault unwinds the faulting fiber with a C++ exception, which ThreadSanitizer's fiber
# support does not follow (it aborts): the emulator's fault-reporting tests run in the
# plain mode and in scripts/sanitize.sh, the rest of its tests under TSan too.
TSAN_EMU_FILTER='-EmuDevice.*IsAFault:EmuDevice.WmmaChecksAlignmentAndStride'
TSAN_GPU_SKIP='CudaChunked.EveryChunkLength:CudaChunked.EveryChunkLengthWithEdgeGateSets:CudaSuite.LongSequenceAndLongCache:CudaChunked.BlocksTakeSeveralChunksEach:CudaBackward.BlocksTakeSeveralChunksEach:CudaBackward.TheMemoryPlanCoversTheDeviceBuffers'

# run_one EXE FILTER SCHEDULE LOG: one test process; a failure, or a skipped GPU test, fails.
run_one() {
  local exe=$1 filter=$2 schedule=$3 log=$4
  DFWBENCH_EMU_SCHEDULE="$schedule" "$exe" --gtest_brief=1 --gtest_filter="$filter" >"$log" 2>&1 || { cat "$log"; return 1; }
  grep -E '^\[  (PASSED|SKIPPED) ' "$log" | sed "s|^|  $(basename "$exe") $filter: |"
  if grep -q '^\[  SKIPPED \]' "$log" && [[ $(basename "$exe") == dfw_cuda_tests ]]; then
    echo "emu_test: a GPU test skipped on the emulated device" >&2; cat "$log"; return 1
  fi
}

# run_suites SCHEDULE: the GPU suites and the emulator's tests, one after the other.
run_suites() {
  echo "== emu $mode, schedule $1"
  run_one "$build/tests/dfw_cuda_tests" '*' "$1" "$build/emu-$mode-${1//:/-}-gpu.log"
  run_one "$build/tests/emu_tests" '*' "$1" "$build/emu-$mode-${1//:/-}-emu.log"
}

# run_tsan_shards SCHEDULE: every GPU test in two processes at once, one emulator thread
# each; then the emulator's tests.
run_tsan_shards() {
  echo "== emu tsan, schedule $1 (two processes, one emulator thread each)"
  if [[ -n ${DFW_EMU_SAN_FILTER:-} ]]; then
    DFWBENCH_EMU_THREADS=1 run_one "$build/tests/dfw_cuda_tests" "$DFW_EMU_SAN_FILTER" "$1" "$build/emu-tsan-gpu.log"
  else
    local pids=() name
    # The suites by name, CudaSuite's wide-path test moved to the second shard: 166 s
    # against 100 s under TSan in the CI run of 46b575a with every CudaSuite test in the first.
    local moved=CudaSuite.EveryFeatureMapAndTheWideRegisterPath suites
    suites=$("$build/tests/dfw_cuda_tests" --gtest_list_tests | grep -E '^[A-Za-z]' | grep -v '^Running' | tr -d '.' |
             sort | tr '\n' ' ')
    if [[ $suites != "ChunkedContinuation CudaBackward CudaChunked CudaSuite " ]]; then
      echo "emu_test: the GPU suites are now: $suites; give each a TSan shard" >&2; exit 1
    fi
    declare -A shards=([suite]="CudaSuite.*-$TSAN_GPU_SKIP:$moved"
                       [rest]="$moved:ChunkedContinuation.*:CudaChunked.*:CudaBackward.*-$TSAN_GPU_SKIP")
    for name in suite rest; do
      DFWBENCH_EMU_THREADS=1 run_one "$build/tests/dfw_cuda_tests" "${shards[$name]}" "$1" "$build/emu-tsan-gpu-$name.log" &
      pids+=($!)
    done
    local failed=0 p
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    (( failed == 0 )) || exit 1
  fi
  run_one "$build/tests/emu_tests" "$TSAN_EMU_FILTER" "$1" "$build/emu-tsan-emu.log"
}

case "$mode" in
  plain)
    # Random orders run under ASan (sanitize.sh, random:7) and TSan (random:3); the
    # barrier proof (barrier_mutation.py) also tries reverse and random:1.
    run_suites greedy
    # The presets take every CUDA form, dtype, rule and feature map through every shape and
    # gate edge set; `--variants all` (every rule x map combination) takes ~15 CPU minutes here.
    # The backward forms at one checkpoint length, 16 (several chunks from T = 17 on; the
    # GPU suite CudaBackward runs lengths 1 to past T): ~15 s, against ~50 s for all three.
    presets="softmax;linear;performer;t2r;gated;delta;fwp;dfw"
    for pass in fwd bwd; do
      echo "== emu plain: dfwbench check --backend cuda --pass $pass --variants PRESETS (every form, dtype, gate set vs float64)"
      chunks=(); [[ $pass == bwd ]] && chunks=(--chunks 16)
      DFWBENCH_EMU_SCHEDULE=random:99 "$build/dfwbench" check --backend cuda --pass "$pass" "${chunks[@]}" --no-distance \
        --variants "$presets" --out "$build/check-cuda-emu-$pass.csv" >"$build/check-cuda-emu-$pass.txt" 2>&1 ||
        { tail -40 "$build/check-cuda-emu-$pass.txt"; exit 1; }
      tail -1 "$build/check-cuda-emu-$pass.txt"
      if grep -q ',cuda,' "$build/check-cuda-emu-$pass.csv"; then echo "emu_test: a row is not labelled cuda-emu" >&2; exit 1; fi
    done ;;
  tsan) run_tsan_shards random:3 ;;
esac
echo "emu_test $mode: passed in $(( $(date +%s) - start )) s"
