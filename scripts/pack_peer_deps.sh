#!/usr/bin/env bash
# Packs flash-linear-attention's ops (fla-core, pure Python on Triton) and the pure-Python
# modules it imports that a GPU image with PyTorch may lack (einops, packaging) into
# .peerdeps/python/, unpacked, for a GPU machine without network: scripts/gpu_check.sh
# puts that directory on PYTHONPATH, and peers.py --backend cuda then times fla's
# kernels beside dfwbench's (scripts/peer_fla.py). Versions pinned below: peer_fla.py
# is written against fla-core 0.6.0's API (which needs torch >= 2.7, triton >= 3.3 on
# the GPU machine: where they are older, fla does not import and the peers say so).
#   bash scripts/pack_peer_deps.sh        (then: device run with carry [".devdeps", ".peerdeps"])
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.peerdeps/python
wheels=(fla-core==0.6.0 einops==0.8.2 packaging==26.4)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "${wheels[@]}" ||
  { echo "pack_peer_deps: could not download ${wheels[*]} from PyPI" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
for whl in "$tmp"/*.whl; do
  python3 -m zipfile -e "$whl" "$dest"
done
find "$dest" -name '*.dist-info' -prune -o -name '__pycache__' -prune -o -type f -print | wc -l |
  xargs -I{} echo "pack_peer_deps: ${wheels[*]} unpacked into $dest ({} files, $(du -sh "$dest" | cut -f1))"
