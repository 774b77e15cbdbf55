// Butterfly reductions over the lanes of a warp (every lane gets the result):
// group_sum, group_max over each aligned group of `lanes` lanes (a power of two:
// the 4 lanes of an mma row quad, the lane groups of flash-decoding), warp_sum,
// warp_max over all 32, and WarpSum, warp_sum as the functor the shared tile math
// (rule_math.hpp, chunk_math.hpp) takes for its lane sums.
#pragma once

namespace dfw {

__device__ __forceinline__ float group_sum(float x, int lanes) {
  for (int off = lanes / 2; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

__device__ __forceinline__ float group_max(float x, int lanes) {
  for (int off = lanes / 2; off > 0; off >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, off));
  return x;
}

__device__ __forceinline__ float warp_sum(float x) { return group_sum(x, 32); }

__device__ __forceinline__ float warp_max(float x) { return group_max(x, 32); }

struct WarpSum {
  __device__ float operator()(float x) const { return warp_sum(x); }
};

}  // namespace dfw
