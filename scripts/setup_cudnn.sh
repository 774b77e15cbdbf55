#!/usr/bin/env bash
# Installs the optional cuDNN baseline's build dependencies (the `cudnn` form,
# kernels/softmax_cudnn_form.cpp) into .venv-cudnn/, a virtual environment of Debian's
# python3: cuDNN's C++ frontend (nvidia-cudnn-frontend, the header-only graph API the form
# builds its fused attention with) and, unless the CUDA toolkit already ships cuDNN 9
# (cudnn.h and libcudnn.so.9 under /usr/local/cuda, as CUDA 13's does here), cuDNN itself
# (nvidia-cudnn-cu13: headers and libcudnn, ~1 GB). CMake finds them on its next
# configure (cmake/FindCudnnFrontend.cmake); without them the `cudnn` form is UNSUPPORTED
# with that reason. Nothing else in dfwbench needs them.
#   bash scripts/setup_cudnn.sh          env: CUDA_HOME (default /usr/local/cuda)
# Re-running it keeps what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-cudnn
cuda="${CUDA_HOME:-/usr/local/cuda}"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup_cudnn: creating $venv"
  /usr/bin/python3 -m venv "$venv"
fi
packages=(nvidia-cudnn-frontend)
if [ -f "$cuda/include/cudnn.h" ] && ls "$cuda"/lib*/libcudnn.so.9 >/dev/null 2>&1; then
  echo "setup_cudnn: cuDNN from the CUDA toolkit ($cuda); installing its frontend"
else
  echo "setup_cudnn: no cuDNN 9 in $cuda; installing cuDNN (nvidia-cudnn-cu13) and its frontend"
  packages+=(nvidia-cudnn-cu13)
fi
"$venv/bin/pip" install --quiet "${packages[@]}"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ -f "$site/include/cudnn_frontend.h" ] || { echo "setup_cudnn: $site/include/cudnn_frontend.h is missing after the install" >&2; exit 1; }
echo "setup_cudnn: cuDNN's frontend ready in $venv; re-run cmake"
