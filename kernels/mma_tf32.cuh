// One warp's tensor-core product D = A B + C of shape m16n8k8, tf32 operands and fp32
// accumulators (PTX mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32), and the loads
// of its fragments from plain row-major arrays. Each lane holds the elements the PTX
// ISA's m16n8k8 tables give it (g = lane / 4, t = lane % 4):
//   A (16 x 8):    a[0] = A[g][t], a[1] = A[g + 8][t], a[2] = A[g][t + 4], a[3] = A[g + 8][t + 4]
//   B (8 x 8):     b[0] = B[t][g], b[1] = B[t + 4][g]
//   C, D (16 x 8): c[0] = C[g][2t], c[1] = C[g][2t + 1], c[2] = C[g + 8][2t], c[3] = C[g + 8][2t + 1]
//                  (every m16n8 product's layout: mma_f16.cuh's acc_row_16x16 / acc_col_16x16)
// The loads are ordinary element loads through the caller's pointer, so a shared-memory
// tile is read with LDS and a global one with LDG (wmma's tf32 loads and stores keep
// generic addresses under nvcc 13.0). Operands are rounded to tf32 (nearest, ties away)
// as they are loaded. On the emulated device (kernels/emu, no nvcc) the product is a
// warp collective that multiplies in fp32 with each operand's low 13 bits dropped.
#pragma once

#include <cstdint>

namespace dfw {

// x rounded to tf32 (10 mantissa bits; cvt.rna), as the 32-bit pattern mma.sync takes.
__device__ __forceinline__ uint32_t tf32_bits(float x) {
#if defined(__CUDACC__)
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  return ::emu::tf32_bits_rna(x);
#endif
}

// d = a b + c over the warp (every lane calls it, converged).
__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                                                 const float (&c)[4]) {
#if defined(__CUDACC__)
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#else
  ::emu::mma_m16n8k8_tf32(d, a, b, c);
#endif
}

// This lane's A fragment of the 16 x 8 tile at `tile` (row-major, rows `ld` floats apart).
__device__ __forceinline__ void load_a_tf32(uint32_t (&a)[4], const float* tile, int ld, int lane) {
  const int g = lane >> 2, t = lane & 3;
  a[0] = tf32_bits(tile[g * ld + t]);
  a[1] = tf32_bits(tile[(g + 8) * ld + t]);
  a[2] = tf32_bits(tile[g * ld + t + 4]);
  a[3] = tf32_bits(tile[(g + 8) * ld + t + 4]);
}

// This lane's B fragment of the 8 x 8 tile B[k][n] = tile[n * ld + k] (column-major: each
// of the 8 columns is a row of `tile`, `ld` floats apart).
__device__ __forceinline__ void load_b_tf32_col(uint32_t (&b)[2], const float* tile, int ld, int lane) {
  const int g = lane >> 2, t = lane & 3;
  b[0] = tf32_bits(tile[g * ld + t]);
  b[1] = tf32_bits(tile[g * ld + t + 4]);
}

}  // namespace dfw
