#!/usr/bin/env bash
# Installs the Debian packages dfwbench needs (idempotent: installs only what is
# missing). The CUDA toolkit is optional and not installed here: without nvcc the
# CPU build is complete and the CUDA forms are simply absent.
set -euo pipefail

packages=(cmake ninja-build g++ libeigen3-dev libbenchmark-dev libgtest-dev
          python3-matplotlib python3-numpy clang)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present (${packages[*]})"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
