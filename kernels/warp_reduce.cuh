// Butterfly reductions over the 32 lanes of a warp (every lane gets the result):
// warp_sum, warp_max, and WarpSum, warp_sum as the functor the shared tile math
// (rule_math.hpp, chunk_math.hpp) takes for its lane sums.
#pragma once

namespace dfw {

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, off));
  return x;
}

struct WarpSum {
  __device__ float operator()(float x) const { return warp_sum(x); }
};

}  // namespace dfw
