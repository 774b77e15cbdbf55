// Launch of the softmax decode step (flash-decoding): append one token's k, v to
// the KV cache and attend with that token's query over cache rows 0..t.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "softmax_decode_plan.hpp"

namespace dfw {

template <class T>
struct SoftmaxDecodeLaunch {
  int64_t BH = 0;
  int64_t T_cap = 0;  // cache capacity and tokens per head of q, k, v
  int64_t t = 0;      // the new token: its k, v go to cache row t, its query attends rows 0..t
  int dk = 0, dv = 0;
  const T *q = nullptr, *k = nullptr;  // (BH, T_cap, dk)
  const T* v = nullptr;                // (BH, T_cap, dv)
  T *k_cache = nullptr;                // (BH, T_cap, dk)
  T *v_cache = nullptr;                // (BH, T_cap, dv)
  float* partials = nullptr;           // (BH, kSoftmaxDecodeMaxSplits, dv + 2) scratch
  T* y = nullptr;                      // (BH, y_tokens, dv)
  int64_t y_tokens = 0;
  int64_t y_row = 0;                   // the output row of this token
};

// Appends token t's k, v to cache row t and writes the attention of its query over
// cache rows 0..t to y row y_row: the split kernel, then the combine kernel when
// the plan takes more than one split per (b, h). Throws std::invalid_argument past
// the widths or the cache.
template <class T>
void launch_softmax_decode(const SoftmaxDecodeLaunch<T>& a, cudaStream_t stream);

}  // namespace dfw
