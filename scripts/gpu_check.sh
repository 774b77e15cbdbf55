#!/usr/bin/env bash
# One-shot check on a machine with an NVIDIA GPU (written for a lent H200, sm_90).
# Builds Release for sm_90, then runs, each under its own timeout and all inside an
# overall budget of 470 s: the GPU GoogleTest suites, `dfwbench check --backend
# cuda`, `dfwbench bench --preset paper --backend cuda` (fp16), a large-batch
# decode sweep (dfw, B = 256, H = 16, d = m = 128) and compute-sanitizer memcheck
# and racecheck over small GPU tests. A failing step is recorded and the next
# one still runs; the exit status is non-zero if any step failed or was skipped.
#
# Usage: scripts/gpu_check.sh [OUT_DIR]      (default: $OUT, else ./gpu-check-out)
#   env: DFW_GPU_BUILD_DIR (default build-gpu), DFW_JOBS (default: nproc),
#        DFW_CUDA_ARCH (default 90)
# The lent machine has CUDA, CMake, ninja and gcc but no Eigen3, Google Benchmark
# or GoogleTest, and cannot fetch them. When .devdeps/ exists (packed here by
# scripts/pack_device_deps.sh) CMake finds them there and LD_LIBRARY_PATH gets
# .devdeps/lib (libbenchmark is a shared library). Through the device tool:
#   1. here, once (and again after the Debian packages change):
#        bash scripts/pack_device_deps.sh
#   2. device run with  carry: [".devdeps"]  command: "bash scripts/gpu_check.sh"
#      and timeout_s: 560 (the steps' overall budget is 470 s); the files land in $OUT.
# Writes at most 8 files to OUT_DIR: gpu_check.log (every step's output),
# summary.txt, gtest_gpu.xml and, in the results layout (results/<machine-id>/, the id
# from `dfwbench machine-id --backend cuda`), results/<machine-id>/check-cuda.csv and
# results/<machine-id>/{paper-cuda,decode-large-cuda}.{json,csv}: copy OUT_DIR/results/*
# into results/ beside the other machines' sets.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${OUT:-$root/gpu-check-out}}"
build="${DFW_GPU_BUILD_DIR:-$root/build-gpu}"
jobs="${DFW_JOBS:-$(nproc)}"
arch="${DFW_CUDA_ARCH:-90}"
budget=470
start=$(date +%s)
mkdir -p "$out/results"
log="$out/gpu_check.log"
summary="$out/summary.txt"
: >"$log"
: >"$summary"
failed=0

note() { echo "$*" | tee -a "$summary" "$log"; }

# step NAME TIMEOUT_S CMD...: runs CMD under min(TIMEOUT_S, budget left), output to
# the log; records PASS / FAIL (exit code) / TIMEOUT / SKIPPED in the summary.
step() {
  local name="$1" limit="$2"
  shift 2
  local left=$(( budget - ( $(date +%s) - start ) ))
  if (( left < 20 )); then
    note "SKIPPED  $name (overall budget of ${budget} s spent)"
    failed=1
    return 0
  fi
  if (( limit > left )); then limit=$left; fi
  echo "==== $name (timeout ${limit} s): $*" >>"$log"
  local t0 rc=0
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1 || rc=$?
  local took=$(( $(date +%s) - t0 ))
  if (( rc == 0 )); then
    note "PASS     $name (${took} s)"
  elif (( rc == 124 || rc == 137 )); then
    note "TIMEOUT  $name (${took} s, limit ${limit} s)"
    failed=1
  else
    note "FAIL     $name (exit $rc, ${took} s)"
    failed=1
  fi
}

note "gpu_check: $(date -u +%FT%TZ) commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
for tool in cmake ninja nvcc nvidia-smi; do
  command -v "$tool" >/dev/null || { note "FAIL     prerequisites: $tool not on PATH"; exit 1; }
done
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv \
  >>"$summary" 2>&1 || note "nvidia-smi failed (exit $?)"

# Dependencies packed by scripts/pack_device_deps.sh, where the machine has none of its own.
deps="$root/.devdeps"
deps_args=()
if [[ -d "$deps" ]]; then
  deps_args=(-DCMAKE_PREFIX_PATH="$deps")
  export LD_LIBRARY_PATH="$deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "dependencies: packed copies in $deps ($(du -sh "$deps" | cut -f1))"
fi

step configure 120 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDFWBENCH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" ${deps_args[@]+"${deps_args[@]}"}
step build 240 ninja -C "$build" -j "$jobs"
if [[ ! -x "$build/dfwbench" || ! -x "$build/tests/dfw_tests" ]]; then
  note "FAIL     nothing to run: the build did not produce dfwbench and dfw_tests"
  exit 1
fi
bin="$build/dfwbench"
tests="$build/tests/dfw_tests"
machine="$("$bin" machine-id --backend cuda 2>>"$log" || echo gpu-unknown)"
res="$out/results/$machine"
mkdir -p "$res"
note "machine id: $machine (results in $res)"

step gpu-tests 90 "$tests" --gtest_filter='CudaSuite.*:NoDevice.*:Tile*.*:*KernelSequence*:*EveryMap*' \
  --gtest_output="xml:$out/gtest_gpu.xml"
step check-cuda 150 "$bin" check --backend cuda --no-distance --out "$res/check-cuda.csv"
step bench-paper 120 "$bin" bench --preset paper --backend cuda --dtype fp16 \
  --results-dir "$res" --out paper-cuda --ceilings measure
step bench-decode-large 60 "$bin" bench --variants dfw --mode decode --backend cuda --dtype fp16 \
  --batch 256 --heads 16 --dk 128 --dv 128 --seqlens 128,1024 \
  --results-dir "$res" --out decode-large-cuda --ceilings skip
# Sanitizers at small sizes: decode steps, initial states, every feature map.
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
small='CudaSuite.InitialStateAndDecodeStep:CudaSuite.EveryFeatureMapAndTheWideRegisterPath'
step memcheck 90 "$sanitizer" --tool memcheck --error-exitcode 1 --leak-check full "$tests" --gtest_filter="$small"
step racecheck 90 "$sanitizer" --tool racecheck --error-exitcode 1 "$tests" \
  --gtest_filter='CudaSuite.InitialStateAndDecodeStep'

note "gpu_check: $(( $(date +%s) - start )) s in all; $([[ $failed == 0 ]] && echo 'every step passed' || echo 'SOME STEPS FAILED')"
exit "$failed"
