// One warp's tensor-core product D = A B + C of shape m16n8k16, fp16 or bf16 operands
// and fp32 accumulators (PTX mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}), with
// its fragments loaded from shared memory by ldmatrix (m8n8.x4, .trans where the tile
// is stored the other way round). wmma's bf16 load_matrix_sync compiles to generic
// loads under nvcc 13.0 where the fp16 one uses LDSM; this path issues LDSM for both.
// Each lane holds the elements the PTX ISA's m16n8k16 tables give it (g = lane / 4,
// t = lane % 4; each 32-bit register packs two elements, the lower index low):
//   A (16 x 16):   a[0] = A[g][2t..], a[1] = A[g + 8][2t..], a[2] = A[g][2t + 8..], a[3] = A[g + 8][2t + 8..]
//   B (16 x 8):    b[0] = B[2t..][g], b[1] = B[2t + 8..][g]
//   C, D (16 x 8): c[0] = C[g][2t], c[1] = C[g][2t + 1], c[2] = C[g + 8][2t], c[3] = C[g + 8][2t + 1]
// The loaders take a 16 x 16 tile (16 rows of 16 elements, rows `ld` elements apart, each
// row 16-byte aligned) stored either way round and give A's fragment or the B fragments
// of its two 8-column halves; TileSpace::any reads a tile that may be in global memory
// element by element into the same registers. On the emulated device (kernels/emu, no
// nvcc) ldmatrix and mma.sync are warp collectives with the same lane layout
// (emu::ldmatrix_x4, emu::mma_m16n8k16).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace dfw {

// ldmatrix.m8n8.x4: lanes 8i .. 8i + 7 give the 8 row addresses of matrix i; r[i] is this
// lane's pair of matrix i (Trans: of its transpose).
template <bool Trans>
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row) {
#if defined(__CUDACC__)
  const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
  if constexpr (Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
#else
  ::emu::ldmatrix_x4(r, row, Trans);
#endif
}

// Where a tile may live. ldmatrix reads shared memory only; a tile that may be in global
// memory (the chunked prefill's spill instantiation) is read element by element, each
// lane fetching the elements ldmatrix would give it, into the same registers.
enum class TileSpace { shared, any };

__device__ __forceinline__ uint32_t pack_pair(__half lo, __half hi) {
  return uint32_t(__half_as_ushort(lo)) | uint32_t(__half_as_ushort(hi)) << 16;
}
__device__ __forceinline__ uint32_t pack_pair(__nv_bfloat16 lo, __nv_bfloat16 hi) {
  return uint32_t(__bfloat16_as_ushort(lo)) | uint32_t(__bfloat16_as_ushort(hi)) << 16;
}

// ldmatrix.x4 (Trans: .trans) where lane l's row address is row_of(l), or its
// element-by-element equivalent: r[i] = the pair (g, 2t..2t+1) of matrix i, rows
// row_of(8i ..), or of its transpose.
template <bool Trans, TileSpace kSpace, class E, class RowOf>
__device__ __forceinline__ void load_x4(uint32_t (&r)[4], RowOf row_of, int lane) {
  if constexpr (kSpace == TileSpace::shared) {
    ldmatrix_x4<Trans>(r, row_of(lane));
  } else {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if constexpr (Trans) {
        r[i] = pack_pair(row_of(8 * i + 2 * t)[g], row_of(8 * i + 2 * t + 1)[g]);
      } else {
        const E* row = row_of(8 * i + g);
        r[i] = pack_pair(row[2 * t], row[2 * t + 1]);
      }
    }
  }
}

// Row addresses of a 16 x 16 tile for x4 loads: matrices (rows 0-7, cols 0-7), (8-15, 0-7),
// (0-7, 8-15), (8-15, 8-15) in that order, or with the two off-diagonal ones swapped.
template <class E>
struct TileRows {
  const E* tile;
  int ld;
  __device__ __forceinline__ const E* operator()(int l) const { return tile + (l & 15) * ld + 8 * (l >> 4); }
};
template <class E>
struct TileRowsSwapped {
  const E* tile;
  int ld;
  __device__ __forceinline__ const E* operator()(int l) const {
    return tile + ((l & 7) + 8 * (l >> 4)) * ld + 8 * ((l >> 3) & 1);
  }
};

// A's fragment of the row-major 16 x 16 tile A[i][k] = tile[i * ld + k].
template <TileSpace kSpace = TileSpace::shared, class E>
__device__ __forceinline__ void load_a_16x16(uint32_t (&a)[4], const E* tile, int ld, int lane) {
  load_x4<false, kSpace, E>(a, TileRows<E>{tile, ld}, lane);
}

// A's fragment of A[i][k] = tile[k * ld + i] (the tile's rows are A's columns, as V's
// rows are in V^T K).
template <TileSpace kSpace = TileSpace::shared, class E>
__device__ __forceinline__ void load_a_16x16_cols(uint32_t (&a)[4], const E* tile, int ld, int lane) {
  load_x4<true, kSpace, E>(a, TileRowsSwapped<E>{tile, ld}, lane);
}

// The B fragments of B[k][n] = tile[n * ld + k] (the tile's rows are B's columns, as K's
// rows are in Q K^T): b[0..1] for columns 0-7, b[2..3] for columns 8-15.
template <TileSpace kSpace = TileSpace::shared, class E>
__device__ __forceinline__ void load_b_16x16_cols(uint32_t (&b)[4], const E* tile, int ld, int lane) {
  load_x4<false, kSpace, E>(b, TileRowsSwapped<E>{tile, ld}, lane);
}

// The B fragments of B[k][n] = tile[k * ld + n] (row-major, as V's rows are in P V).
template <TileSpace kSpace = TileSpace::shared, class E>
__device__ __forceinline__ void load_b_16x16_rows(uint32_t (&b)[4], const E* tile, int ld, int lane) {
  load_x4<true, kSpace, E>(b, TileRows<E>{tile, ld}, lane);
}

// The (row, column) of accumulator element e of half h (8-column n8 tile) in the 16 x 16
// product: the C / D layout of every m16n8 shape, m16n8k8 tf32 (mma_tf32.cuh) included.
__device__ __forceinline__ int acc_row_16x16(int e, int lane) { return (lane >> 2) + 8 * (e >> 1); }
__device__ __forceinline__ int acc_col_16x16(int h, int e, int lane) { return 8 * h + 2 * (lane & 3) + (e & 1); }

// d = a b + c over the warp (every lane calls it, converged); b: one 8-column half.
template <class E>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                                             const float (&c)[4]) {
  static_assert(std::is_same<E, __half>::value || std::is_same<E, __nv_bfloat16>::value, "fp16 or bf16 operands");
#if defined(__CUDACC__)
  if constexpr (std::is_same<E, __half>::value)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%10, %11, %12, %13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%10, %11, %12, %13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#else
  ::emu::mma_m16n8k16<E>(d, a, b0, b1, c);
#endif
}

// acc[h] (the two 8-column halves of a 16 x 16 fp32 product) into rows of `ld` floats.
__device__ __forceinline__ void store_acc_16x16(float* tile, int ld, const float (&acc)[2][4], int lane) {
  for (int h = 0; h < 2; ++h)
    for (int e = 0; e < 4; ++e) tile[acc_row_16x16(e, lane) * ld + acc_col_16x16(h, e, lane)] = acc[h][e];
}

}  // namespace dfw
