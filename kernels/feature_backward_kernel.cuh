// Launches of the feature-map side of the stateful rules' CUDA backward: phi(x) of
// every token row (raw, and the rows the rule uses, sum-normalised where the variant
// says so), and the VJP back through them: dL/d(used) -> dx and, for relu_proj, the
// per-head parameter gradients dw, db (docs/MATH.md "Gradients").
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "feature_math.hpp"

namespace dfw {

struct FeatureRowsLaunch {
  FeatureKind phi = FeatureKind::identity;
  bool sum_normalise = false;
  int64_t rows = 0, T = 1, H = 1;   // rows = B * H * T token rows, head h = (row / T) % H
  int dk = 0, m = 0;
  const float* x = nullptr;         // (rows, dk)
  const float *w = nullptr, *b = nullptr, *omega = nullptr;  // (H, m, dk), (H, m), (H, m, dk)
  float* raw = nullptr;             // (rows, m) phi(x)
  float* used = nullptr;            // (rows, m) raw, or raw / sum(raw) when sum-normalised
  float* d = nullptr;               // (rows, m) dL/d(used); the VJP leaves dL/d(pre-activation)
                                    // there for relu_proj, else dL/d(raw)
  float* dx = nullptr;              // (rows, dk)
  float *dw = nullptr, *db = nullptr;  // (H, m, dk), (H, m): relu_proj, added to (summed over
                                       // every batch element and token), or nullptr
};

// raw and used from x. Grid rows, block 128; shared dk + 1 floats.
void launch_feature_rows(const FeatureRowsLaunch& a, cudaStream_t stream);

// dx (and d rewritten) from d, x, raw and used; then dw, db added to when asked.
void launch_feature_vjp(const FeatureRowsLaunch& a, cudaStream_t stream);

}  // namespace dfw
