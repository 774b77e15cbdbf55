#!/usr/bin/env bash
# One-shot check on a machine with an NVIDIA GPU (written for a lent 16-core H200,
# sm_90), in at most 7 minutes including the build: the GPU GoogleTest suites
# (CudaSuite, CudaChunked, CudaBackward, ChunkedContinuation, tiles), `dfwbench check
# --backend cuda` (forward and backward forms), the GPU targets (`bench --preset
# gpu-targets`: verdicts, README "GPU targets"), the timed sweeps paper (decode),
# paper-prefill, the PyTorch and fla peers beside dfwbench at three lengths of those two
# (scripts/peers.py --backend cuda, where PyTorch sees the GPU), scaling, the large
# decode sweep and training (fwd + bwd, fp32), and
# compute-sanitizer memcheck and racecheck over multi-chunk cases (T = 33, 97, 130:
# several chunks, tiles and key blocks; checkpoint lengths 1 to past T). Each step runs
# under its own timeout inside an overall budget; a failing step is recorded and
# the next one still runs; the exit status is non-zero if any step failed or was
# skipped.
#
# Timing: bench sizes its iterations on the measured (kernel) time, while every
# iteration also pays an L2 flush of twice the L2 (~100 MB on an H200) and a
# synchronisation; --min-time 0.001 keeps that to about a hundred iterations of a
# 5 us kernel per repetition instead of ten thousand.
#
# --emulated: the same steps on the emulated CUDA device (kernels/emu, built with
# -DDFWBENCH_CUDA_EMU=ON, no GPU and no nvcc needed), at tiny shapes, as CI runs
# it: two GPU suites, `check --backend cuda --quick` of dfw and softmax (rows labelled cuda-emu),
# every bench sweep expanded with --list (bench refuses to time an emulator, and
# that refusal is checked, gpu-targets' too), the sanitizer steps' cases under a random schedule,
# and report.py regenerating REPORT.md's tables from the files written.
#
# Usage: scripts/gpu_check.sh [--emulated] [OUT_DIR]  (default: $OUT, else ./gpu-check-out)
#   env: DFW_GPU_BUILD_DIR (default build-gpu, emulated: build-emu-check), DFW_JOBS
#        (default: nproc), DFW_CUDA_ARCH (default 90)
# The lent machine has CUDA, CMake, ninja and gcc but no Eigen3, Google Benchmark
# or GoogleTest, and cannot fetch them. When .devdeps/ exists (packed here by
# scripts/pack_device_deps.sh) CMake finds them there and LD_LIBRARY_PATH gets
# .devdeps/lib (libbenchmark is a shared library). Through the device tool:
#   1. here, once (and again after the Debian packages change):
#        bash scripts/pack_device_deps.sh
#      and, for fla's kernels as peers, bash scripts/pack_peer_deps.sh (.peerdeps/python,
#      put on PYTHONPATH here)
#   2. device run with  carry: [".devdeps", ".peerdeps"]  command: "bash scripts/gpu_check.sh"
#      and timeout_s: 570 (the steps' overall budget is 500 s); the files land in $OUT.
# Writes to OUT_DIR: gpu_check.log (every step's output), summary.txt, gtest_gpu.xml
# and, in the results layout (results/<machine-id>/, the id from `dfwbench machine-id
# --backend cuda`), results/<machine-id>/check-cuda.csv and the sweeps'
# {gpu-targets,paper,paper-prefill,scaling,decode-large,training}-cuda.{json,csv}, the
# peers' {paper,paper-prefill}-peers-cuda and peers-{paper,paper-prefill}-peers-cuda: copy OUT_DIR/results/*
# into results/ beside the other machines' sets (emulated: check-cuda-emu.csv, no sweeps).
set -euo pipefail

emulated=0
if [[ "${1:-}" == "--emulated" ]]; then
  emulated=1
  shift
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${OUT:-$root/gpu-check-out}}"
if (( emulated )); then build="${DFW_GPU_BUILD_DIR:-$root/build-emu-check}"; else build="${DFW_GPU_BUILD_DIR:-$root/build-gpu}"; fi
jobs="${DFW_JOBS:-$(nproc)}"
arch="${DFW_CUDA_ARCH:-90}"
budget=500
(( emulated )) && budget=1500  # two shared CI cores, the emulator, and a build of its own
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

note "gpu_check$( (( emulated )) && echo ' --emulated'): $(date -u +%FT%TZ) commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if (( emulated )); then
  tools=(cmake ninja)
  config=(-DDFWBENCH_CUDA_EMU=ON)
else
  tools=(cmake ninja nvcc nvidia-smi)
  config=(-DDFWBENCH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch")
fi
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { note "FAIL     prerequisites: $tool not on PATH"; exit 1; }
done
if (( ! emulated )); then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv \
    >>"$summary" 2>&1 || note "nvidia-smi failed (exit $?)"
fi

# Dependencies packed by scripts/pack_device_deps.sh, where the machine has none of its own.
deps="$root/.devdeps"
deps_args=()
if [[ -d "$deps" ]]; then
  deps_args=(-DCMAKE_PREFIX_PATH="$deps")
  export LD_LIBRARY_PATH="$deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "dependencies: packed copies in $deps ($(du -sh "$deps" | cut -f1))"
fi

step configure 60 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${config[@]}" \
  ${deps_args[@]+"${deps_args[@]}"}
if (( emulated )); then
  step build 900 ninja -C "$build" -j "$jobs" dfwbench dfw_cuda_tests
  tests="$build/tests/dfw_cuda_tests"
else
  step build 180 ninja -C "$build" -j "$jobs"
  tests="$build/tests/dfw_tests"
fi
bin="$build/dfwbench"
if [[ ! -x "$bin" || ! -x "$tests" ]]; then
  note "FAIL     nothing to run: the build did not produce dfwbench and the GPU tests"
  exit 1
fi

machine="$("$bin" machine-id --backend cuda 2>>"$log" || echo gpu-unknown)"
res="$out/results/$machine"
mkdir -p "$res"
note "machine id: $machine (results in $res)"

gpu_filter='CudaSuite.*:CudaChunked.*:CudaBackward.*:ChunkedContinuation.*:NoDevice.*:Tile*.*:*KernelSequence*:*EveryMap*'
# Emulated: the step's plumbing on two suites; scripts/emu_test.sh runs them all in CI.
(( emulated )) && gpu_filter='CudaSuite.EveryPresetOnOddShapes:CudaChunked.PrefillThenDecodeStepContinues'
step gpu-tests $(( emulated ? 600 : 90 )) "$tests" --gtest_filter="$gpu_filter" --gtest_output="xml:$out/gtest_gpu.xml"
multi_chunk='CudaSuite.GateEdgeSets:CudaSuite.InitialStateAndDecodeStep:CudaChunked.PrefillThenDecodeStepContinues:CudaBackward.EveryCheckpointAndChunkLengthGivesTheSameGradients'
timing=(--backend cuda --ceilings measure --min-time 0.001 --repetitions 5 --results-dir "$res")
if (( emulated )); then
  # One variant: the step's plumbing (rows labelled cuda-emu); emu_test.sh plain checks every preset.
  step check-cuda 240 "$bin" check --backend cuda --quick --no-distance --variants "dfw;softmax" \
    --out "$res/check-cuda-emu.csv"
  # Each timed sweep expanded (flags and shapes checked), and the refusal to time an emulator.
  for preset in paper paper-prefill scaling decode-large training; do
    step "bench-$preset (--list)" 60 "$bin" bench --preset "$preset" --backend cpu --list
  done
  step bench-refuses-the-emulator 30 bash -c \
    'msg=$("$0" bench --preset paper --backend cuda --results-dir "$1" 2>&1); rc=$?; echo "$msg"
     [[ $rc != 0 && $msg == *"the CUDA device is emulated"* ]]' "$bin" "$res"
  step gpu-targets-refuse-the-emulator 30 bash -c \
    'msg=$("$0" bench --preset gpu-targets --results-dir "$1" 2>&1); rc=$?; echo "$msg"
     [[ $rc == 1 && $msg == *"gpu-targets needs a CUDA device"*"emulated"* ]]' "$bin" "$res"
  # The peers step's plumbing: without a GPU, peers.py --backend cuda refuses with exit 3.
  step peers-refuse-without-a-gpu 60 bash -c \
    'python3 "$0/scripts/peers.py" --backend cuda --dfwbench "$1" --results "$2" --preset paper; [[ $? == 3 ]]' \
    "$root" "$bin" "$out/results"
  step memcheck-cases 300 env DFWBENCH_EMU_SCHEDULE=random:5 "$tests" --gtest_filter="$multi_chunk"
  step racecheck-cases 300 env DFWBENCH_EMU_SCHEDULE=reverse "$tests" --gtest_filter="$multi_chunk"
  cp "$root/REPORT.md" "$out/REPORT.md"
  step report-tables 60 /usr/bin/python3 "$root/scripts/report.py" --results "$out/results" --report "$out/REPORT.md"
else
  step check-cuda 90 "$bin" check --backend cuda --no-distance --out "$res/check-cuda.csv"
  # The GPU issue's targets first (README "GPU targets"): their verdicts are the point of a loan.
  step bench-gpu-targets 75 "$bin" bench --preset gpu-targets "${timing[@]}" --out gpu-targets-cuda
  step bench-paper 40 "$bin" bench --preset paper --dtype fp16 "${timing[@]}" --out paper-cuda
  step bench-paper-prefill 40 "$bin" bench --preset paper-prefill --dtype fp16 "${timing[@]}" --out paper-prefill-cuda
  # PyTorch's SDPA and GPT-2's eager softmax, the decode step, and fla's kernels (scripts/peer_fla.py,
  # from .peerdeps/python where packed) beside dfwbench at three lengths, each peers.py run timing its
  # own dfwbench sweep first (one run: README "PyTorch peers").
  if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >>"$log" 2>&1; then
    [[ -d $root/.peerdeps/python ]] && export PYTHONPATH="$root/.peerdeps/python${PYTHONPATH:+:$PYTHONPATH}"
    for preset in paper-prefill paper; do
      step "peers-$preset" 45 python3 "$root/scripts/peers.py" --backend cuda --dfwbench "$bin" \
        --results "$out/results" --repetitions 5 --min-time 0.001 --name "$preset-peers" -- --preset "$preset" \
        --dtype fp16 --filter 'T=(512|1024|1920) ' --ceilings skip --min-time 0.001 --repetitions 5
    done
  else
    note "not run: peers (python3 has no PyTorch that sees a CUDA device here)"
  fi
  step bench-scaling 40 "$bin" bench --preset scaling --dtype fp16 "${timing[@]}" --out scaling-cuda
  step bench-decode-large 30 "$bin" bench --preset decode-large --dtype fp16 "${timing[@]}" --out decode-large-cuda
  # The CUDA backward forms are fp32 (softmax blocked, the stateful rules recurrent, the
  # gated-linear ones chunked too): the preset's training steps run recurrent on cuda (no fp32
  # chunked forward), its dfw chunked backward row runs, its fp32 chunked forward row says unsupported.
  step bench-training 60 "$bin" bench --preset training "${timing[@]}" --out training-cuda
  sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
  step memcheck 60 "$sanitizer" --tool memcheck --error-exitcode 1 --leak-check full "$tests" --gtest_filter="$multi_chunk"
  step racecheck 60 "$sanitizer" --tool racecheck --error-exitcode 1 "$tests" --gtest_filter="$multi_chunk"
fi

note "gpu_check: $(( $(date +%s) - start )) s in all; $([[ $failed == 0 ]] && echo 'every step passed' || echo 'SOME STEPS FAILED')"
exit "$failed"
