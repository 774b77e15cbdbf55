// Launches of the softmax decode step (flash-decoding): append one token's k, v
// to the KV cache, then attend with that token's query over cache rows 0..t.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

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
  float* partials = nullptr;           // (BH, softmax_decode_max_splits(), dv + 2) scratch
  T* y = nullptr;                      // (BH, y_tokens, dv)
  int64_t y_tokens = 0;
  int64_t y_row = 0;                   // the output row of this token
};

// Upper bound on the splits of one query (size of the partials scratch).
constexpr int kSoftmaxDecodeMaxSplits = 64;
// Largest dv the split kernel holds in registers (32 lanes x 8).
constexpr int kSoftmaxDecodeMaxDv = 256;

// Copies k, v of token t into the cache (the KV-cache append).
template <class T>
void launch_kv_append(const SoftmaxDecodeLaunch<T>& a, cudaStream_t stream);
// Attention of token t's query over cache rows 0..t: split kernel + combine kernel.
template <class T>
void launch_softmax_decode(const SoftmaxDecodeLaunch<T>& a, cudaStream_t stream);

}  // namespace dfw
