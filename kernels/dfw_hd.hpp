// DFW_HD marks arithmetic shared by the CUDA kernels and the CPU tile tests:
// __host__ __device__ under nvcc, nothing under a plain C++ compiler.
#pragma once

#include <math.h>

// DFW_UNROLL asks nvcc to unroll the next loop (register arrays stay registers).
#ifdef __CUDACC__
#define DFW_HD __host__ __device__ __forceinline__
#else
#define DFW_HD inline
#endif
#ifdef __CUDA_ARCH__
#define DFW_UNROLL _Pragma("unroll")
#else
#define DFW_UNROLL
#endif

// a / b without IEEE division's slow-path subroutine on the device: an IEEE quotient
// compiles to a CALL whose calling convention makes ptxas spill registers that live
// across it (the fast-weight kernel's register-held state rows). __fdividef is
// within 2 ulp for 2^-126 <= |b| <= 2^126, so a divisor outside [2^-100, 2^100] is
// first scaled into it by a power of two, with a (exact unless the quotient itself
// overflows or underflows). The host divides the same scaled operands.
DFW_HD float divide_normal(float a, float b) {
  const float mag = fabsf(b);
  if (mag < 0x1p-100f) a *= 0x1p64f, b *= 0x1p64f;
  else if (mag > 0x1p100f) a *= 0x1p-64f, b *= 0x1p-64f;
#ifdef __CUDA_ARCH__
  return __fdividef(a, b);
#else
  return a / b;
#endif
}
