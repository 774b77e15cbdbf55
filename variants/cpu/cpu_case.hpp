// CpuInputs: a Problem's inputs copied into tracked, 64-byte aligned host buffers
// (HostBuffer), so a form can read whole rows of Lanes in place and
// MemoryTracker::host() sees them. CpuCase: those inputs with output buffers,
// shared by the fp32 CPU forward forms: what a form "owns" while it runs.
#pragma once

#include <cstdint>

#include "../host_buffer.hpp"
#include "../problem.hpp"
#include "../variant.hpp"

namespace dfw {

struct CpuInputs {
  explicit CpuInputs(const Problem& p);

  Shape shape;
  int64_t m;
  HostBuffer<float> q, k, v, gate, beta, gate_v, gate_k, w, b, omega, s0;  // as in Problem

  HeadView head(int64_t bh) const;
};

struct CpuCase : CpuInputs {
  CpuCase(const Variant& variant, const Problem& p);

  int64_t rows;  // state rows: dv, or dv + 1 when the last row is the normaliser z
  bool normalise;
  HostBuffer<float> y;      // (B, H, T, dv)
  HostBuffer<float> state;  // (B, H, rows, m); empty for softmax

  float* y_of(int64_t bh) { return y.data() + bh * shape.T * shape.dv; }
  float* state_of(int64_t bh) { return state.data() + bh * rows * m; }
  // Sets the state of bh to s0 (zero when absent), normaliser row zero.
  void reset_state(int64_t bh);
  Output output() const;
};

}  // namespace dfw
