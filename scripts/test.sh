#!/usr/bin/env bash
# The test command: install what is missing (scripts/setup.sh; as root, else it
# prints the command to run and this stops), configure (CUDA forms built when nvcc
# is found), build, and run every test with ctest. GPU tests skip with a message
# where no device is present.
#   scripts/test.sh [BUILD_DIR]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${1:-build}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
echo "test: building in $build ($jobs jobs)"
cmake --build "$build" -j "$jobs"
cd "$build"
# ctest-junit.xml: every test's outcome and output (scripts/ctest_audit.py reads the skips)
ctest --output-on-failure -j "$jobs" --output-junit ctest-junit.xml
