// The shape of the CUDA recurrent backward's walk (recurrent_backward_kernel.cu), host
// and device: 16 state rows per block, 4 per warp, plus z in a fifth slot of every
// warp when normalised; each slot keeps its checkpoints and one chunk's states.
// The memory plan (harness/memory_plan.cpp) sizes the workspace from it too.
#pragma once

#include <stdint.h>

#include "dfw_hd.hpp"

namespace dfw {

constexpr int kWalkWarps = 4;
constexpr int kWalkRowsPerWarp = 4;
constexpr int kWalkRowsPerBlock = kWalkWarps * kWalkRowsPerWarp;

struct WalkShape {
  int row_blocks, slots;   // blocks per (b, h); slots per warp: 4, or 5 with z
  int64_t checkpoints;     // ceil(T / C)
  int64_t slot_floats;     // (checkpoints + C + 1) * m
};

DFW_HD WalkShape walk_shape(int64_t T, int dv, int m, int every, bool normalise) {
  WalkShape w;
  w.row_blocks = (dv + kWalkRowsPerBlock - 1) / kWalkRowsPerBlock;
  w.slots = kWalkRowsPerWarp + (normalise ? 1 : 0);
  w.checkpoints = (T + every - 1) / every;
  w.slot_floats = (w.checkpoints + every + 1) * m;
  return w;
}

// Floats of workspace for B * H = BH heads.
inline int64_t recurrent_backward_workspace_floats(int64_t BH, int64_t T, int dv, int m, int every, bool normalise) {
  const WalkShape w = walk_shape(T, dv, m, every, normalise);
  return BH * w.row_blocks * kWalkWarps * w.slots * w.slot_floats;
}

}  // namespace dfw
