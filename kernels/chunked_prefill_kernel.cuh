// Launch of the chunked prefill of the gated-linear family on tensor cores (form
// "chunked"): add, gated, decay, S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T,
// y_t = S_t phi(q_t) [/ (z_t . phi(q_t) + eps)], for whole sequences from s0.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "feature_math.hpp"
#include "rule_math.hpp"

namespace dfw {

template <class T>
struct ChunkedPrefillLaunch {
  RuleKind rule = RuleKind::add;          // add, gated or decay
  FeatureKind phi = FeatureKind::identity;
  bool normalise = false;                 // z is state row dv; y divided by z . phi(q) + norm_eps
  float norm_eps = 1e-6f;                 // kNormEps
  int64_t BH = 0, H = 1, T_len = 0;
  int chunk = 64;                         // tokens per chunk (any >= 1; T need not be a multiple)
  int dk = 0, dv = 0, m = 0;
  int rows = 0;                           // state rows: dv, or dv + 1 when normalised
  const T *q = nullptr, *k = nullptr;     // (BH, T, dk)
  const T* v = nullptr;                   // (BH, T, dv)
  const float* gate = nullptr;            // (BH, T)       gated
  const float* gate_v = nullptr;          // (BH, T, dv)   decay
  const float* gate_k = nullptr;          // (BH, T, m)    decay
  const float *w = nullptr, *b = nullptr, *omega = nullptr;  // (H, m, dk), (H, m), (H, m, dk)
  const float* s0 = nullptr;              // (BH, dv, m) initial state; nullptr: zero (z starts at 0)
  float* s_out = nullptr;                 // (BH, rows, m) state after the last token
  T* y = nullptr;                         // (BH, T, dv)
  unsigned char* workspace = nullptr;     // chunked_prefill_workspace_bytes()
};

// Largest m and dv (a lane of the diagonal-score warp holds m / 32 columns).
constexpr int kChunkedPrefillMaxWidth = 256;

// Bytes of global workspace a launch needs (0 when B * H or T is 0): every chunk's
// state (B*H, chunks, rows, m, padded to 16) and decay totals in fp32, and the
// per-block slices of the arrays that do not fit in shared memory on the current device.
template <class T>
std::size_t chunked_prefill_workspace_bytes(const ChunkedPrefillLaunch<T>& a);

// Only fp16 and bf16 (tensor-core tiles). Throws std::invalid_argument for sizes
// the kernel does not take or a missing workspace, std::runtime_error on a CUDA error.
template <class T>
void launch_chunked_prefill(const ChunkedPrefillLaunch<T>& a, cudaStream_t stream);

}  // namespace dfw
