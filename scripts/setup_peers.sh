#!/usr/bin/env bash
# Installs the optional PyTorch peers' dependencies (scripts/peers.py) into .venv-peers/,
# a virtual environment of Debian's python3: torch and numpy. Nothing else in dfwbench
# needs them: the main job and the tests run without.
#   bash scripts/setup_peers.sh
# PyTorch's CPU-only wheels (download.pytorch.org/whl/cpu, ~200 MB) when that index is
# reachable, else PyPI's default build (CUDA-enabled, about 3 GB with its NVIDIA
# libraries; it runs on the CPU as well). Re-running it keeps what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-peers
if [ ! -x "$venv/bin/python" ]; then
  echo "setup_peers: creating $venv"
  /usr/bin/python3 -m venv "$venv"
fi
if "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  echo "setup_peers: $("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)') already in $venv"
  exit 0
fi
cpu_index=https://download.pytorch.org/whl/cpu
if "$venv/bin/python" - "$cpu_index" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=10)
PY
then
  echo "setup_peers: installing torch from $cpu_index"
  "$venv/bin/pip" install --index-url "$cpu_index" torch
else
  echo "setup_peers: $cpu_index unreachable; installing torch from PyPI (its CUDA build, ~3 GB)"
  "$venv/bin/pip" install torch
fi
"$venv/bin/pip" install numpy
"$venv/bin/python" -c 'import torch; print("setup_peers: torch", torch.__version__, "ready in .venv-peers")'
