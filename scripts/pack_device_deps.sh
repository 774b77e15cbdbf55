#!/usr/bin/env bash
# Packs the build dependencies that the lent GPU machine lacks (Eigen3 headers,
# Google Benchmark, GoogleTest: Debian's copies on THIS machine) into .devdeps/
# at the repo root, laid out as an install prefix that scripts/gpu_check.sh hands
# to CMake (CMAKE_PREFIX_PATH):
#   .devdeps/include/{eigen3/Eigen, benchmark, gtest}
#   .devdeps/lib/{libbenchmark.so.*, libbenchmark_main.a, libgtest.a, libgtest_main.a}
#   .devdeps/lib/cmake/{benchmark, GTest}/     .devdeps/share/eigen3/cmake/
# Debian's benchmark and GTest configs sit in lib/<multiarch>/cmake and walk four
# levels up to their prefix; here they sit one level higher, so each copy walks
# three and names lib/ instead of lib/<multiarch>/. Their "/usr move" guards,
# which compare against Debian's absolute paths, are dropped. Eigen's config is
# already relative to share/eigen3/cmake and is copied as is. Eigen's
# unsupported/ modules are left out (the project includes none of them).
# libbenchmark is shared only (Debian ships no static one): both its file and
# its soname are plain copies (no links), found at run time through the build
# tree's RPATH and the LD_LIBRARY_PATH that gpu_check.sh sets.
#
# Usage: scripts/pack_device_deps.sh     (no arguments; rewrites .devdeps/ from scratch)
# Ends by configuring a tiny CMake project that can see only .devdeps and checks
# that all three packages resolve inside it; prints the total size.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.devdeps"

die() { echo "pack_device_deps: $*" >&2; exit 1; }

for pkg in libeigen3-dev libbenchmark-dev libbenchmark1debian libgtest-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || die "Debian package $pkg is not installed here"
done

# the one file of PKG whose path ends in /NAME (dies unless exactly one)
pkg_file() {
  local hits
  hits="$(dpkg -L "$1" | grep -E "/$2\$" || true)"
  [[ -n "$hits" && "$(wc -l <<<"$hits")" == 1 ]] || die "expected one $2 in $1, found: ${hits:-none}"
  echo "$hits"
}

eigen_cmake="$(dirname "$(pkg_file libeigen3-dev Eigen3Config.cmake)")"
eigen_include="$(dirname "$(dirname "$(pkg_file libeigen3-dev Eigen/Core)")")"
bench_cmake="$(dirname "$(pkg_file libbenchmark-dev benchmarkConfig.cmake)")"
bench_include="$(dirname "$(dirname "$(pkg_file libbenchmark-dev benchmark/benchmark.h)")")"
bench_so="$(pkg_file libbenchmark1debian 'libbenchmark\.so\.[0-9.]+')"
bench_main="$(pkg_file libbenchmark-dev libbenchmark_main.a)"
gtest_cmake="$(dirname "$(pkg_file libgtest-dev GTestConfig.cmake)")"
gtest_include="$(dirname "$(dirname "$(pkg_file libgtest-dev gtest/gtest.h)")")"
gtest_a="$(pkg_file libgtest-dev libgtest.a)"
gtest_main_a="$(pkg_file libgtest-dev libgtest_main.a)"
bench_soname="$(objdump -p "$bench_so" | awk '$1 == "SONAME" { print $2 }')"
[[ -n "$bench_soname" ]] || die "no SONAME in $bench_so"

rm -rf "$dest"
mkdir -p "$dest/include/eigen3" "$dest/lib/cmake/benchmark" "$dest/lib/cmake/GTest" \
  "$dest/share/eigen3/cmake"

# ---- Eigen3: headers minus unsupported/, config as is ----------------------
cp -r "$eigen_include/Eigen" "$eigen_include/signature_of_eigen3_matrix_library" "$dest/include/eigen3/"
cp "$eigen_cmake"/Eigen3Config.cmake "$eigen_cmake"/Eigen3ConfigVersion.cmake \
  "$eigen_cmake"/Eigen3Targets.cmake "$eigen_cmake"/UseEigen3.cmake "$dest/share/eigen3/cmake/"

# ---- Google Benchmark and GoogleTest: headers, libraries, configs -----------
cp -r "$bench_include/benchmark" "$gtest_include/gtest" "$dest/include/"
cp -L "$bench_so" "$dest/lib/"
cp -L "$bench_so" "$dest/lib/$bench_soname"
cp "$bench_main" "$gtest_a" "$gtest_main_a" "$dest/lib/"
cp "$bench_cmake"/benchmarkConfig.cmake "$bench_cmake"/benchmarkConfigVersion.cmake \
  "$bench_cmake"/benchmarkTargets.cmake "$bench_cmake"/benchmarkTargets-*.cmake "$dest/lib/cmake/benchmark/"
cp "$gtest_cmake"/GTestConfig.cmake "$gtest_cmake"/GTestConfigVersion.cmake \
  "$gtest_cmake"/GTestTargets.cmake "$gtest_cmake"/GTestTargets-*.cmake "$dest/lib/cmake/GTest/"

# Rewrites one config directory copied from lib/<multiarch>/cmake/NAME to lib/cmake/NAME.
relocate_config() {
  local dir="$1" multiarch_lib="$2" f n
  for f in "$dir"/*.cmake; do
    sed -i '/^# Use original install prefix/,/^unset(_realCurr)$/d' "$f"
    sed -i "s|\${_IMPORT_PREFIX}/${multiarch_lib}/|\${_IMPORT_PREFIX}/lib/|g" "$f"
    sed -i 's|"${CMAKE_CURRENT_LIST_DIR}/../../../../"|"${CMAKE_CURRENT_LIST_DIR}/../../../"|' "$f"
  done
  for f in "$dir"/*Targets.cmake; do
    n="$(grep -c '^get_filename_component(_IMPORT_PREFIX "${_IMPORT_PREFIX}" PATH)$' "$f" || true)"
    [[ "$n" == 4 ]] || die "$f walks $n levels up to its prefix, expected 4 (Debian's layout changed?)"
    awk '!done && $0 == "get_filename_component(_IMPORT_PREFIX \"${_IMPORT_PREFIX}\" PATH)" { done = 1; next } { print }' \
      "$f" >"$f.new"
    mv "$f.new" "$f"
  done
}
multiarch_lib="${bench_cmake#/usr/}"            # lib/x86_64-linux-gnu/cmake/benchmark
multiarch_lib="${multiarch_lib%/cmake/benchmark}" # lib/x86_64-linux-gnu
relocate_config "$dest/lib/cmake/benchmark" "$multiarch_lib"
relocate_config "$dest/lib/cmake/GTest" "$multiarch_lib"

leftover="$(grep -rlE '/usr/|x86_64-linux-gnu' "$dest/lib/cmake" "$dest/share/eigen3/cmake" || true)"
[[ -z "$leftover" ]] || die "absolute or multiarch paths left in: $leftover"

# ---- Check: a project that sees only .devdeps finds all three inside it ------
check="$(mktemp -d)"
trap 'rm -rf "$check"' EXIT
cat >"$check/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(devdeps_check LANGUAGES CXX)
# Packages from CMAKE_PREFIX_PATH alone: no system prefixes, none derived from PATH.
set(CMAKE_FIND_USE_CMAKE_SYSTEM_PATH OFF)
set(CMAKE_FIND_USE_SYSTEM_ENVIRONMENT_PATH OFF)
set(CMAKE_FIND_USE_PACKAGE_REGISTRY OFF)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(benchmark REQUIRED CONFIG)
find_package(GTest REQUIRED CONFIG)
foreach(t Eigen3::Eigen benchmark::benchmark GTest::gtest GTest::gtest_main)
  get_target_property(inc ${t} INTERFACE_INCLUDE_DIRECTORIES)
  get_target_property(type ${t} TYPE)
  set(loc "")
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    get_target_property(loc ${t} LOCATION)
  endif()
  foreach(p ${inc} ${loc})
    if(p AND NOT p MATCHES "-NOTFOUND$")
      string(FIND "${p}" "${DEVDEPS}/" at)
      if(NOT at EQUAL 0 OR NOT EXISTS "${p}")
        message(FATAL_ERROR "${t}: ${p} is not an existing path inside ${DEVDEPS}")
      endif()
      message(STATUS "${t}: ${p}")
    endif()
  endforeach()
endforeach()
EOF
cmake -S "$check" -B "$check/build" -DDEVDEPS="$dest" -DCMAKE_PREFIX_PATH="$dest" >"$check/log" 2>&1 ||
  { cat "$check/log" >&2; die "check project failed"; }
grep -E '^-- (Eigen3|benchmark|GTest)::' "$check/log"

echo "pack_device_deps: $(du -sh "$dest" | cut -f1) in $dest ($(find "$dest" -type f | wc -l) files)"
