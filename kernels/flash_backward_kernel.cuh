// Launch of the flash-style causal softmax backward (form "blocked", fp32): given the
// forward's y and log-sum-exp L (flash_prefill_kernel.cuh, lse) and dy, the gradients
// of L = sum(y * dy) with respect to q, k and v, in 32 x 32 tiles, no T x T matrix.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dfw {

struct FlashBackwardLaunch {
  int64_t BH = 0, T_len = 0;
  int dk = 0, dv = 0;
  const float *q = nullptr, *k = nullptr;  // (BH, T, dk)
  const float* v = nullptr;                // (BH, T, dv)
  const float* y = nullptr;                // (BH, T, dv) the forward output
  const float* lse = nullptr;              // (BH, T) the forward's log-sum-exp per row
  const float* dy = nullptr;               // (BH, T, dv)
  float* delta = nullptr;                  // (BH, T) workspace: D_t = dy_t . y_t
  float *dq = nullptr, *dk_out = nullptr;  // (BH, T, dk)
  float* dv_out = nullptr;                 // (BH, T, dv)
};

// Largest dk and dv the kernels' register accumulators and shared tiles take.
constexpr int kFlashBackwardMaxD = 128;

// Three kernels on the stream: D, then dk and dv by key tile, then dq by query tile.
// Throws std::invalid_argument for sizes the kernels do not take.
void launch_flash_backward(const FlashBackwardLaunch& a, cudaStream_t stream);

}  // namespace dfw
