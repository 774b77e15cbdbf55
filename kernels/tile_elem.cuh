// TileElem<T>: a storage type's CUDA twin (float -> float, Fp16 -> __half,
// Bf16 -> __nv_bfloat16), the element type of the kernels' shared-memory tiles
// and WMMA fragments, with its device conversions to and from float (round to
// nearest even).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "half_convert.hpp"

namespace dfw {

template <class T>
struct TileElem;
template <>
struct TileElem<float> {
  using type = float;
};
template <>
struct TileElem<Fp16> {
  using type = __half;
};
template <>
struct TileElem<Bf16> {
  using type = __nv_bfloat16;
};

__device__ __forceinline__ float tile_to_float(float x) { return x; }
__device__ __forceinline__ float tile_to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float tile_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class E>
__device__ E tile_from_float(float x);
template <>
__device__ __forceinline__ float tile_from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __half tile_from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 tile_from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

}  // namespace dfw
