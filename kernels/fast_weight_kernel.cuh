// Launch of the fused fast-weight kernel (add, gated, delta, decay; any feature
// map; optional z-normalisation): tokens [t0, t0 + count) of every (b, h) from
// an initial state, writing y for those tokens and the state after the last.
// The recurrent form launches it once over the whole sequence; the decode form
// once per generated token (count = 1) on the carried state.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "feature_math.hpp"
#include "rule_math.hpp"

namespace dfw {

template <class T>
struct FastWeightLaunch {
  RuleKind rule = RuleKind::add;
  FeatureKind phi = FeatureKind::identity;
  bool sum_normalise = false;  // phi(q), phi(k) divided by their sums (delta, non-identity map)
  bool normalise = false;      // y = S phi(q) / (z . phi(q) + norm_eps); z is state row dv
  float norm_eps = 1e-6f;      // kNormEps
  int64_t BH = 0, H = 1;
  int64_t T_in = 0;            // tokens per head in q, k, v and the gates
  int64_t t0 = 0, count = 0;   // tokens run by this launch
  int dk = 0, dv = 0, m = 0;
  int rows = 0;                // state rows: dv, or dv + 1 when normalised
  const T *q = nullptr, *k = nullptr;    // (BH, T_in, dk)
  const T* v = nullptr;                  // (BH, T_in, dv)
  const float* gate = nullptr;           // (BH, T_in)       gated
  const float* beta = nullptr;           // (BH, T_in)       delta
  const float* gate_v = nullptr;         // (BH, T_in, dv)   decay
  const float* gate_k = nullptr;         // (BH, T_in, m)    decay
  const float *w = nullptr, *b = nullptr, *omega = nullptr;  // (H, m, dk), (H, m), (H, m, dk)
  const float* s_in = nullptr;  // (BH, s_in_rows, m) initial state; nullptr: zero
  int s_in_rows = 0;            // rows of s_in per head; rows at or past it start at 0
  float* s_out = nullptr;       // (BH, rows, m) state after the last token; may be s_in
                                // unless normalised (z is read by every row block)
  T* y = nullptr;               // (BH, y_tokens, dv)
  int64_t y_tokens = 0;         // tokens per head in y
  int64_t y_first = 0;          // token t0 + i writes y row y_first + i
};

// Largest feature width the kernel holds in registers (32 lanes x 16 columns).
constexpr int kFastWeightMaxM = 512;

// Throws std::invalid_argument for sizes the kernel does not take, std::runtime_error
// on a CUDA error.
template <class T>
void launch_fast_weight(const FastWeightLaunch<T>& a, cudaStream_t stream);

}  // namespace dfw
