// Lanes: 16 floats as one GCC/Clang vector, and the few fixed-shape kernels the
// chunked and the blocked softmax CPU forms are built from. Rows of a matrix are
// arrays of Lanes (the width padded to a multiple of 16 with zeros), 64-byte aligned.
//
// The vector type is generic (GCC's vector extension): on AVX-512 one Lanes is
// one register; on AVX2 or NEON the compiler splits it into 2 or 4. Kernels that
// keep an array of vectors in registers (lanes_gemm's tile, the chunk diagonal's
// running rows) hold it as RegLanes, one target register each (below). The
// ISA-dependent choices are that width and the register tile of lanes_gemm
// (kGemmRows), made at compile time from the target's vector registers.
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace dfw {

constexpr int64_t kLanes = 16;
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));

// Lanes needed for n floats.
constexpr int64_t lane_count(int64_t n) { return (n + kLanes - 1) / kLanes; }

// x in every lane (one broadcast; `Lanes{} + x` would add 0 first, as -0 + 0 != -0).
inline Lanes splat(float x) { return Lanes{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

// One vector register of floats: a whole Lanes on AVX-512, half of one elsewhere.
// GCC 12 keeps an array of vectors wider than the target's registers in memory
// and moves each element through general registers: on a Zen 3 EPYC (AVX2) the
// chunked form's Lanes accumulators ran it at 1/6 of its speed.
#if defined(__AVX512F__)
constexpr int kRegFloats = 16;
#else
constexpr int kRegFloats = 8;
#endif
using RegLanes = float __attribute__((vector_size(kRegFloats * sizeof(float))));
constexpr int kRegsPerLanes = kLanes / kRegFloats;

// Keeps v in a vector register (an empty asm the compiler cannot see through) where
// one holds a RegLanes: with AVX or wider. A build without AVX (the sanitizer builds,
// -march=native off) has no such register and leaves v to the compiler.
inline void pin_in_register(RegLanes& v) {
#if defined(__AVX__)
  asm("" : "+v"(v));
#else
  (void)v;
#endif
}

inline RegLanes reg_splat(float x) {
#if defined(__AVX512F__)
  return splat(x);
#else
  return RegLanes{x, x, x, x, x, x, x, x};
#endif
}

// The registers of a run of Lanes (64-byte aligned rows, so each part is aligned).
inline const RegLanes* regs(const Lanes* p) { return reinterpret_cast<const RegLanes*>(p); }
inline RegLanes* regs(Lanes* p) { return reinterpret_cast<RegLanes*>(p); }

// dst's first `width` floats = scale * src[0, width), src at any alignment: whole
// Lanes by unaligned vector loads (a memcpy into a vector, which the compiler makes
// one load; a vector type with its alignment lowered is still 64-byte aligned to
// UBSan), the rest one float at a time. The floats of the last Lanes past `width`
// are left as they are.
inline void load_row(const float* src, int64_t width, Lanes* dst, float scale = 1.f) {
  int64_t l = 0;
  for (; (l + 1) * kLanes <= width; ++l) {
    Lanes x;
    __builtin_memcpy(&x, src + l * kLanes, sizeof x);
    dst[l] = scale * x;
  }
  for (int64_t i = l * kLanes; i < width; ++i) reinterpret_cast<float*>(dst)[i] = scale * src[i];
}

// The register of floats at p, at any alignment (as load_row).
inline RegLanes load_reg(const float* p) {
  RegLanes x;
  __builtin_memcpy(&x, p, sizeof x);
  return x;
}

// 1 / x per lane, within 3 ulp: the hardware estimate and one Newton step
// (r' = r (2 - x r) squares the estimate's relative error: 2^-14 -> 2^-28 with
// AVX-512's rcp14, 2^-12 -> 2^-24 with AVX's rcp; over x in 1e-30..1e30 the worst
// case measured 1.5 and 2.6 ulp) where the target has one, else a division. A
// vector division costs about ten times as much (vdivps on 16 lanes of a Xeon: one
// per 16 cycles).
inline RegLanes reg_reciprocal(RegLanes x) {
#if defined(__AVX512F__)
  const RegLanes r = __builtin_bit_cast(RegLanes, _mm512_maskz_rcp14_ps(0xFFFF, __builtin_bit_cast(__m512, x)));
  return r * (2.f - x * r);
#elif defined(__AVX__)
  const RegLanes r = __builtin_bit_cast(RegLanes, _mm256_rcp_ps(__builtin_bit_cast(__m256, x)));
  return r * (2.f - x * r);
#else
  return 1.f / x;
#endif
}

// Sum of the 16 lanes, as a tree of halvings.
inline float lane_sum(Lanes v) {
  using Half = float __attribute__((vector_size(8 * sizeof(float))));
  using Quarter = float __attribute__((vector_size(4 * sizeof(float))));
  const Half h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Quarter q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  return (q[0] + q[2]) + (q[1] + q[3]);
}

// Sum of one register's lanes.
inline float reg_sum(RegLanes v) {
#if defined(__AVX512F__)
  return lane_sum(v);
#else
  using Quarter = float __attribute__((vector_size(4 * sizeof(float))));
  const Quarter q = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
  return (q[0] + q[2]) + (q[1] + q[3]);
#endif
}

// Largest of the 16 lanes, as a tree of halvings.
inline float lane_max(Lanes v) {
  using Half = float __attribute__((vector_size(8 * sizeof(float))));
  using Quarter = float __attribute__((vector_size(4 * sizeof(float))));
  const Half a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const Half b = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Half h = a > b ? a : b;
  const Quarter c = __builtin_shufflevector(h, h, 0, 1, 2, 3), d = __builtin_shufflevector(h, h, 4, 5, 6, 7);
  const Quarter q = c > d ? c : d;
  return std::max(std::max(q[0], q[2]), std::max(q[1], q[3]));
}

// Largest of one register's lanes.
inline float reg_max(RegLanes v) {
#if defined(__AVX512F__)
  return lane_max(v);
#else
  using Quarter = float __attribute__((vector_size(4 * sizeof(float))));
  const Quarter c = __builtin_shufflevector(v, v, 0, 1, 2, 3), d = __builtin_shufflevector(v, v, 4, 5, 6, 7);
  const Quarter q = c > d ? c : d;
  return std::max(std::max(q[0], q[2]), std::max(q[1], q[3]));
#endif
}

// out[j][i] = in[i][j] for a 16 x 16 block of floats: 16 rows of one Lanes each,
// row i at in + i * in_stride, row j of the result at out + j * out_stride. Four
// 8 x 8 transposes by shuffles (unpack, pair, half swap), as AVX2 does them.
inline void transpose_16x16(const Lanes* in, int64_t in_stride, Lanes* out, int64_t out_stride) {
  using F8 = float __attribute__((vector_size(8 * sizeof(float))));
  for (int rb = 0; rb < 2; ++rb)
    for (int cb = 0; cb < 2; ++cb) {
      F8 r[8], t[8], u[8];
      for (int i = 0; i < 8; ++i) r[i] = reinterpret_cast<const F8*>(in + (rb * 8 + i) * in_stride)[cb];
      for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
      }
      for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; ++h) {
          u[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
          u[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
      // u[0..3]: columns (0|4), (1|5), (2|6), (3|7) of rows 0-3; u[4..7] the same of rows 4-7
      for (int j = 0; j < 4; ++j) {
        reinterpret_cast<F8*>(out + (cb * 8 + j) * out_stride)[rb] =
            __builtin_shufflevector(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        reinterpret_cast<F8*>(out + (cb * 8 + j + 4) * out_stride)[rb] =
            __builtin_shufflevector(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
      }
    }
}

// The register tile of lanes_gemm, kGemmRows x kGemmCols Lanes of accumulators:
// 8 x 2 (16 registers) where the target has 32 vector registers of 16 floats
// (AVX-512); 4 x 1 elsewhere (AVX2 splits each Lanes in two: 8 of its 16
// registers hold accumulators, the rest the B row and the broadcast).
#if defined(__AVX512F__)
constexpr int kGemmRows = 8;
constexpr int kGemmCols = 2;
#else
constexpr int kGemmRows = 4;
constexpr int kGemmCols = 1;
#endif

// The identity at either end of a product: accumulate into c, write acc as is.
struct KeepLanes {
  RegLanes operator()(int64_t, int64_t, int, RegLanes x) const { return x; }
};

// One register tile: c[i][j] = out(i, j, in(i, j, c[i][j]) + sum_k a[i * ai + k * ak] * b[k * bs + j])
// for i < NI rows and j < NJ Lanes; a is read as scalars (any strides), b and c
// as Lanes. `in` and `out` see the tile's own (i, j) offsets plus (i0, j0) and
// take one register of the Lanes at a time: (row, Lanes column, register h of
// the column, value) -> value, h < kRegsPerLanes (no Lanes temporaries).
template <int NI, int NJ, class In, class Out>
inline void lanes_gemm_tile(const float* a, int64_t ai, int64_t ak, const Lanes* b, int64_t bs, int64_t kdim,
                            Lanes* c, int64_t cs, int64_t i0, int64_t j0, const In& in, const Out& out) {
  constexpr int NR = NJ * kRegsPerLanes;  // registers per tile row
  RegLanes acc[NI][NR];
  for (int i = 0; i < NI; ++i)
    for (int j = 0; j < NJ; ++j)
      for (int h = 0; h < kRegsPerLanes; ++h)
        acc[i][j * kRegsPerLanes + h] = in(i0 + i, j0 + j, h, regs(c + i * cs + j)[h]);
  const float* arow[NI];
  for (int i = 0; i < NI; ++i) arow[i] = a + i * ai;
  for (int64_t k = 0; k < kdim; ++k) {
    RegLanes bk[NR];
    for (int r = 0; r < NR; ++r) {
      bk[r] = regs(b + k * bs)[r];
      // In a register: GCC otherwise folds the load into every row's FMA, NI loads
      // of one value where one does (on AVX2 that made the loads, not the FMAs, the limit).
      pin_in_register(bk[r]);
    }
    for (int i = 0; i < NI; ++i) {
      const RegLanes x = reg_splat(arow[i][k * ak]);
      for (int r = 0; r < NR; ++r) acc[i][r] += x * bk[r];
    }
  }
  for (int i = 0; i < NI; ++i)
    for (int j = 0; j < NJ; ++j)
      for (int h = 0; h < kRegsPerLanes; ++h)
        regs(c + i * cs + j)[h] = out(i0 + i, j0 + j, h, acc[i][j * kRegsPerLanes + h]);
}

// C (rows x cols Lanes, row stride cs) = out(in(C) + A B), elementwise per register:
// A is (rows x kdim), element (i, k) at a[i * ai + k * ak]; B is (kdim x cols
// Lanes), row stride bs. rows must be a multiple of kGemmRows (pad A with zero
// rows). in / out take (row, Lanes column, register, value) and return a value; their
// column is j0 + the column inside C, so a caller working on a panel of a wider
// matrix can pass the panel's offset.
template <class In = KeepLanes, class Out = KeepLanes>
inline void lanes_gemm(const float* a, int64_t ai, int64_t ak, const Lanes* b, int64_t bs, int64_t kdim, Lanes* c,
                       int64_t cs, int64_t rows, int64_t cols, int64_t j0 = 0, const In& in = {}, const Out& out = {}) {
  for (int64_t i = 0; i < rows; i += kGemmRows) {
    int64_t j = 0;
    for (; j + kGemmCols <= cols; j += kGemmCols)
      lanes_gemm_tile<kGemmRows, kGemmCols>(a + i * ai, ai, ak, b + j, bs, kdim, c + i * cs + j, cs, i, j0 + j, in,
                                            out);
    for (; j < cols; ++j)
      lanes_gemm_tile<kGemmRows, 1>(a + i * ai, ai, ak, b + j, bs, kdim, c + i * cs + j, cs, i, j0 + j, in, out);
  }
}

}  // namespace dfw
