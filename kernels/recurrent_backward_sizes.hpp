// The shape of the CUDA recurrent backward's walk (recurrent_backward_kernel.cu), host
// and device: 16 state rows per block, 4 per warp; a normalised variant's z row (one
// per head) rides in a fifth slot of warp 0 of the head's first block. Each row keeps
// its checkpoints and one chunk's states in the workspace: the value rows' first, then
// every head's z. The memory plan (harness/memory_plan.cpp) sizes it from here too.
#pragma once

#include <stdint.h>

#include "dfw_hd.hpp"

namespace dfw {

constexpr int kWalkWarps = 4;
constexpr int kWalkRowsPerWarp = 4;
constexpr int kWalkRowsPerBlock = kWalkWarps * kWalkRowsPerWarp;

struct WalkShape {
  int row_blocks;          // blocks per (b, h)
  int64_t checkpoints;     // ceil(T / C)
  int64_t slot_floats;     // per state row: (checkpoints + C + 1) * m
};

DFW_HD WalkShape walk_shape(int64_t T, int dv, int m, int every) {
  WalkShape w;
  w.row_blocks = (dv + kWalkRowsPerBlock - 1) / kWalkRowsPerBlock;
  w.checkpoints = (T + every - 1) / every;
  w.slot_floats = (w.checkpoints + every + 1) * m;
  return w;
}

// Workspace floats before the z rows: every block's 16 value-row slots.
DFW_HD int64_t walk_value_floats(int64_t BH, const WalkShape& w) {
  return BH * w.row_blocks * kWalkRowsPerBlock * w.slot_floats;
}

// Floats of workspace for B * H = BH heads.
inline int64_t recurrent_backward_workspace_floats(int64_t BH, int64_t T, int dv, int m, int every, bool normalise) {
  const WalkShape w = walk_shape(T, dv, m, every);
  return walk_value_floats(BH, w) + (normalise ? BH * w.slot_floats : 0);
}

}  // namespace dfw
