#!/usr/bin/env bash
# The test command: configure (CUDA forms built when nvcc is found), build, and run
# every test with ctest. GPU tests skip with a message where no device is present.
#   scripts/test.sh [BUILD_DIR]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
echo "test: building in $build ($jobs jobs)"
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure -j "$jobs"
