#!/usr/bin/env bash
# The one command that reproduces the paper's speed benchmark with dfwbench:
# install what is missing (scripts/setup.sh: as root; otherwise it prints the
# command to run and this stops), build (if needed), accuracy check, the `paper`
# and `paper-prefill` presets, then this machine's plots and REPORT.md's tables.
# Runs on CUDA when the binary has CUDA forms and a device works, else on the CPU
# (a few minutes on 2 cores).
#   scripts/reproduce.sh [--backend cpu|cuda] [--build-dir DIR] [--resume]
#     --backend    force a backend instead of detecting one
#     --build-dir  CMake build directory (default: build)
#     --resume     keep bench cases already in this machine's set; run only the missing ones
# Results go to results/<machine-id>/ and plots to plots/<machine-id>/, where
# machine-id is `dfwbench machine-id --backend B` (cpu-<CPU model>-<N>c or
# gpu-<GPU name>). Other machines' sets and plots are left as they are; REPORT.md
# shows every set in results/, each machine under its own heading.
# Exit status: 0 when everything ran and every accuracy case passed; 1 otherwise,
# with the failing step named.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
backend=""
resume=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=${2:?--backend needs cpu or cuda}; shift 2 ;;
    --build-dir) build=${2:?--build-dir needs a directory}; shift 2 ;;
    --resume) resume=(--resume); shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "reproduce: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
case "$backend" in ""|cpu|cuda) ;; *) echo "reproduce: --backend must be cpu or cuda, got '$backend'" >&2; exit 1 ;; esac

python=/usr/bin/python3  # Debian's python3 has matplotlib and numpy; the one on PATH may not
step=""
trap 'status=$?; if [ $status -ne 0 ]; then echo "reproduce: FAILED during: $step (exit $status)" >&2; fi' EXIT
say() { step=$1; echo "reproduce: [$(date +%H:%M:%S)] $1"; }

say "installing what is missing (scripts/setup.sh)"
bash scripts/setup.sh

if [ ! -f "$build/CMakeCache.txt" ]; then
  say "configuring $build (Release)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
say "building dfwbench in $build"
cmake --build "$build" --target dfwbench -j "$(nproc 2>/dev/null || echo 2)"
dfwbench=$build/dfwbench

if [ -z "$backend" ]; then
  say "choosing a backend"
  backend=cpu
  if "$dfwbench" list | grep -q '/cuda/'; then
    # --backend cuda refuses at once, with the driver's reason, when no device is usable;
    # --list only prints the cases.
    if reason=$("$dfwbench" bench --backend cuda --preset paper --list 2>&1 >/dev/null); then
      backend=cuda
    else
      echo "reproduce: CUDA forms are built but cannot run here ($(echo "$reason" | tail -n 1)); using the CPU"
    fi
  fi
fi
step="machine id (dfwbench machine-id --backend $backend)"
machine=$("$dfwbench" machine-id --backend "$backend")
results=results/$machine
echo "reproduce: backend $backend, machine $machine: results in $results/, plots in plots/$machine/"
mkdir -p "$results" "plots/$machine"
cpus=$(nproc 2>/dev/null || echo 1)
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$load" -v c="$cpus" 'BEGIN { exit !(l > c / 2) }'; then
  echo "reproduce: warning: load average $load on $cpus CPUs: other work shares this machine and will" \
       "disturb the timings (REPORT.md shows the load each bench started with)" >&2
fi

say "accuracy check (dfwbench check --backend $backend)"
check_log=$build/check-$backend.log  # the full table; the CSV holds the same rows
check_status=0
rm -f "$results/check-$backend.csv"  # so a stale file cannot stand in for this run's
"$dfwbench" check --backend "$backend" --out "$results/check-$backend.csv" >"$check_log" || check_status=$?
[ -s "$results/check-$backend.csv" ] || { echo "reproduce: check wrote no results (see $check_log)" >&2; exit 1; }
grep '^check:' "$check_log" | sed 's/^/reproduce: /'

for preset in paper paper-prefill; do
  say "benchmark preset $preset on $backend ($results/$preset-$backend.csv)"
  "$dfwbench" bench --preset "$preset" --backend "$backend" --results-dir "$results" "${resume[@]}"
done

say "plots (scripts/plot.py -> plots/$machine/)"
"$python" scripts/plot.py --results results --out plots --machine "$machine"
say "report tables (scripts/report.py -> REPORT.md, every machine in results/)"
"$python" scripts/report.py --results results --report REPORT.md

step="accuracy check result"
if [ "$check_status" -ne 0 ]; then
  echo "reproduce: dfwbench check reported failures (exit $check_status): see $check_log" >&2
  exit 1
fi
step="done"
echo "reproduce: done. Results in $results/, plots in plots/$machine/, tables in REPORT.md"
