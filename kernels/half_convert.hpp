// fp16 / bf16 storage types and their conversions to and from float, usable by
// plain g++ (software, round to nearest even) and by device code (intrinsics).
// Kernels template on the storage type T in {float, Fp16, Bf16}; arithmetic is
// always float.
#pragma once

#include <cstdint>
#include <cstring>

#include "dfw_hd.hpp"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace dfw {

struct Fp16 {
  uint16_t bits;
};
struct Bf16 {
  uint16_t bits;
};

DFW_HD uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

DFW_HD float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

// IEEE binary16, round to nearest even; overflow to inf, NaN stays NaN.
DFW_HD uint16_t float_to_half_bits(float f) {
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (ax < 0x38800000u) {                                  // below 2^-14: subnormal half
    // |f| * 2^24 is exact in float (< 1024); rounding it to an integer (ties to
    // even) gives the subnormal mantissa; 1024 is the smallest normal, as wanted.
    const float scaled = bits_float(ax) * 16777216.0f;
    float whole = float(uint32_t(scaled));
    const float frac = scaled - whole;
    if (frac > 0.5f || (frac == 0.5f && (uint32_t(whole) & 1u))) whole += 1.0f;
    return uint16_t(sign | uint32_t(whole));
  }
  uint32_t h = (((ax >> 23) - 112u) << 10) | ((ax & 0x7fffffu) >> 13);
  const uint32_t rest = ax & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right
  return uint16_t(sign | h);
}

DFW_HD float half_bits_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (e == 0) {
    const float mag = float(mant) * (1.0f / 16777216.0f);  // mant * 2^-24, exact
    return bits_float(sign | float_bits(mag));
  }
  if (e == 31) return bits_float(sign | 0x7f800000u | (mant << 13));
  return bits_float(sign | ((e + 112u) << 23) | (mant << 13));
}

// bfloat16: the top 16 bits of a float, round to nearest even; NaN stays NaN.
DFW_HD uint16_t float_to_bf16_bits(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

DFW_HD float bf16_bits_to_float(uint16_t b) { return bits_float(uint32_t(b) << 16); }

// The storage bits of a float and back: the intrinsics in device code, the
// software conversions above on the host.
#if defined(__CUDA_ARCH__)
DFW_HD uint16_t half_bits_of(float x) { return __half_as_ushort(__float2half_rn(x)); }
DFW_HD float half_value_of(uint16_t h) { return __half2float(__ushort_as_half(h)); }
DFW_HD uint16_t bf16_bits_of(float x) { return __bfloat16_as_ushort(__float2bfloat16_rn(x)); }
#else
DFW_HD uint16_t half_bits_of(float x) { return float_to_half_bits(x); }
DFW_HD float half_value_of(uint16_t h) { return half_bits_to_float(h); }
DFW_HD uint16_t bf16_bits_of(float x) { return float_to_bf16_bits(x); }
#endif

DFW_HD float to_float(float x) { return x; }
DFW_HD float to_float(Fp16 x) { return half_value_of(x.bits); }
DFW_HD float to_float(Bf16 x) { return bf16_bits_to_float(x.bits); }

template <class T>
DFW_HD T from_float(float x);
template <>
DFW_HD float from_float<float>(float x) {
  return x;
}
template <>
DFW_HD Fp16 from_float<Fp16>(float x) {
  return Fp16{half_bits_of(x)};
}
template <>
DFW_HD Bf16 from_float<Bf16>(float x) {
  return Bf16{bf16_bits_of(x)};
}

// The value x takes after a round trip through storage type T.
template <class T>
DFW_HD float round_to(float x) {
  return to_float(from_float<T>(x));
}

}  // namespace dfw
