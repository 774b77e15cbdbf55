// Launch of the FlashAttention-2 style causal softmax prefill (form "blocked"):
// y = softmax(q k^T / sqrt(dk), causal) v for every token, in 64 x 64 tiles.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dfw {

template <class T>
struct FlashPrefillLaunch {
  int64_t BH = 0, T_len = 0;
  int dk = 0, dv = 0;
  const T *q = nullptr, *k = nullptr;  // (BH, T, dk)
  const T* v = nullptr;                // (BH, T, dv)
  T* y = nullptr;                      // (BH, T, dv)
  float* lse = nullptr;                // (BH, T) each row's log-sum-exp of its scaled scores, or nullptr
};

// Largest dk and dv the kernel takes (instantiated for head dims 32, 64 and 128).
constexpr int kFlashPrefillMaxD = 128;

// fp16 / bf16 run the tile products on tensor cores (mma.sync m16n8k16, fp32
// accumulate); fp32 runs them on CUDA cores in fp32.
template <class T>
void launch_flash_prefill(const FlashPrefillLaunch<T>& a, cudaStream_t stream);

}  // namespace dfw
