#!/usr/bin/env bash
# Installs the Debian packages dfwbench needs, only those missing; reproduce.sh and
# test.sh call it first, so a fresh machine needs no other step. As root it runs
# apt-get itself (never sudo); as another user with packages missing it installs
# nothing, prints the one command to run, and exits 1. The CUDA toolkit is optional
# and not installed here: without nvcc the CPU build is complete and the CUDA forms
# are simply absent.
set -euo pipefail

packages=(cmake ninja-build g++ libeigen3-dev libbenchmark-dev libgtest-dev
          python3-matplotlib python3-numpy clang libclang-rt-14-dev libomp-dev)
if ! command -v dpkg-query >/dev/null; then
  echo "setup: no dpkg-query: not a Debian-like system; install the equivalents of: ${packages[*]}" >&2
  exit 1
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present (${packages[*]})"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}; install them as root with:" >&2
  echo "  sudo bash $(cd "$(dirname "$0")" && pwd)/setup.sh" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
