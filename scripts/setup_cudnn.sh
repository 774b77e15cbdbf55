#!/usr/bin/env bash
# Installs the optional cuDNN baseline's build dependencies into .venv-cudnn/, a virtual
# environment of Debian's python3: cuDNN 9 for CUDA 13 (nvidia-cudnn-cu13: headers and
# libcudnn, ~1 GB) and its C++ frontend (nvidia-cudnn-frontend: the header-only graph API
# the `cudnn` form builds its fused attention with). CMake finds them there on its next
# configure (cmake/FindCudnnFrontend.cmake); without them the `cudnn` form is UNSUPPORTED
# with that reason. Nothing else in dfwbench needs them.
#   bash scripts/setup_cudnn.sh
# Re-running it keeps what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-cudnn
if [ ! -x "$venv/bin/python" ]; then
  echo "setup_cudnn: creating $venv"
  /usr/bin/python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet nvidia-cudnn-cu13 nvidia-cudnn-frontend
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for f in "$site/nvidia/cudnn/include/cudnn.h" "$site/include/cudnn_frontend.h"; do
  [ -f "$f" ] || { echo "setup_cudnn: $f is missing after the install" >&2; exit 1; }
done
echo "setup_cudnn: cuDNN $(grep -m1 -oP 'CUDNN_MAJOR \K[0-9]+' "$site/nvidia/cudnn/include/cudnn_version.h").x and its frontend ready in $venv; re-run cmake"
