// flash_prefill_kernel: exact causal softmax attention for whole sequences, built as
// FlashAttention-2's forward: y_i = sum_{j<=i} softmax_j(q_i.k_j / sqrt(dk)) v_j.
//   A block takes 64 queries of one (b, h); each of its 4 warps owns 16 query rows and
//   keeps everything of them in registers, in the m16n8 accumulator layout of
//   mma_f16.cuh (lane = 4 g + t holds rows g and g + 8). Per 64-key tile up to the
//   diagonal:
//     S = Q K^T (fp32 accumulators), masked on the diagonal tile (keys past the query
//     or past T: -inf);
//     each row's running max and sum in base 2 (scores times log2(e) / sqrt(dk), one
//     ex2.approx per element, no branch) by shuffles within the quad of lanes that share
//     the row; O and the sums rescaled when the max grows;
//     P = 2^(S' - max) in fp32 into the sums; P stays in registers: the accumulators of
//     two 8-key blocks are, rounded to the input type and repacked, the A fragment of
//     one 16-key block;
//     O += P V.
//   K and V tiles are double-buffered: tile j + 1 is copied by cp.async (cp_async.cuh)
//   while tile j is computed, one barrier per tile. Tile rows are D + 16 bytes apart, so
//   ldmatrix's 8 row addresses fall in 8 different bank groups.
//   fp16 / bf16: mma.sync m16n8k16 on ldmatrix fragments, Q's fragments loaded once.
//   fp32: the same register layout computed on CUDA cores in fp32, P's rows passed
//   within the quad by shuffles for P V.
//   Rows whose byte length is not a multiple of 16 (or unaligned arrays) load element
//   by element instead of by cp.async, and y is then stored element by element instead
//   of in pairs.
//   Launch: grid (B*H, ceil(T / 64)), the longest query tiles first (blockIdx.y reversed);
//   block 128; template D in {32, 64, 128}: dk, dv <= D, zero-padded to D; dynamic shared
//   memory 5 tiles (Q, 2 K, 2 V) of 64 rows x (D + 16 bytes), Layout<E, D>::total.
//   Reads q, k (BH, T, dk), v (BH, T, dv); writes y (BH, T, dv) and, when asked, each
//   row's log-sum-exp max + log(sum) of its scaled scores (BH, T, natural log), from
//   which the backward recomputes P.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>
#include <type_traits>

#include "cp_async.cuh"
#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "flash_prefill_kernel.cuh"
#include "half_convert.hpp"
#include "mma_f16.cuh"
#include "tile_elem.cuh"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kTile = 64;  // queries per block, keys per tile
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kKeyBlocks = kTile / 8;  // 8-key accumulator blocks of a score tile
constexpr unsigned kFull = 0xffffffffu;

// Shared memory: Q, K[2], V[2], each (64, ld) elements of E.
template <class E, int D>
struct Layout {
  static constexpr int ld = D + 16 / int(sizeof(E));  // row stride in elements: 16 bytes of padding
  static constexpr std::size_t tile = sizeof(E) * kTile * ld;
  static constexpr std::size_t q = 0, k = tile, v = 3 * tile, total = 5 * tile;
};

// Rows [row0, row0 + 64) of src (T_len, d) into a (64, ld) tile, zeros in columns d..D
// and in rows past T_len. vector: 16-byte cp.async chunks (d * sizeof(E) a multiple of
// 16, src 16-byte aligned), complete after the caller's wait; else element stores.
template <int D, class T, class E>
__device__ void load_tile(E* dst, const T* src, int64_t row0, int64_t T_len, int d, bool vector) {
  constexpr int ld = Layout<E, D>::ld;
  if (vector) {
    constexpr int per_chunk = 16 / int(sizeof(E)), chunks = D / per_chunk;
    for (int idx = threadIdx.x; idx < kTile * chunks; idx += kThreads) {
      const int r = idx / chunks, c = idx % chunks * per_chunk;
      const bool inside = row0 + r < T_len && c < d;
      cp_async_16(dst + r * ld + c, inside ? src + (row0 + r) * d + c : src, inside ? 16 : 0);
    }
  } else {
    for (int idx = threadIdx.x; idx < kTile * D; idx += kThreads) {
      const int r = idx / D, c = idx % D;
      const float x = (row0 + r < T_len && c < d) ? to_float(src[(row0 + r) * d + c]) : 0.f;
      dst[r * ld + c] = tile_from_float<E>(x);
    }
  }
}

// s = this warp's 16 query rows x 64 keys of Q K^T on tensor cores; qf: Q's A fragments.
template <int D, class E>
__device__ void scores_mma(float (&s)[kKeyBlocks][4], const uint32_t (&qf)[D / 16][4], const E* kt, int lane) {
  constexpr int ld = Layout<E, D>::ld;
#pragma unroll
  for (int n = 0; n < kKeyBlocks; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
#pragma unroll
  for (int n = 0; n < kTile / 16; ++n)
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t b[4];
      load_b_16x16_cols(b, kt + 16 * n * ld + 16 * kk, ld, lane);  // K^T: K rows as columns
      mma_m16n8k16<E>(s[2 * n], qf[kk], b[0], b[1], s[2 * n]);
      mma_m16n8k16<E>(s[2 * n + 1], qf[kk], b[2], b[3], s[2 * n + 1]);
    }
}

// The same scores in fp32 on CUDA cores; qrows: this warp's 16 rows of the Q tile.
template <int D>
__device__ void scores_fp32(float (&s)[kKeyBlocks][4], const float* qrows, const float* kt, int lane) {
  constexpr int ld = Layout<float, D>::ld;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int n = 0; n < kKeyBlocks; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
  for (int x = 0; x < D; ++x) {
    const float q_lo = qrows[g * ld + x], q_hi = qrows[(g + 8) * ld + x];
#pragma unroll
    for (int n = 0; n < kKeyBlocks; ++n) {
      const float k0 = kt[(8 * n + 2 * t) * ld + x], k1 = kt[(8 * n + 2 * t + 1) * ld + x];
      s[n][0] += q_lo * k0;
      s[n][1] += q_lo * k1;
      s[n][2] += q_hi * k0;
      s[n][3] += q_hi * k1;
    }
  }
}

// A query row's running softmax state, in base 2: max2 = the largest scaled score seen
// times log2(e), sum = this lane's part of sum 2^(score * log2(e) - max2).
struct RowState {
  float max2 = -INFINITY;
  float sum = 0.f;
};

// 2^x (ex2.approx.ftz on the device: 2 ulp, results below 2^-126 flushed to zero; 2^-inf = 0).
__device__ __forceinline__ float exp2_approx(float x) {
#if defined(__CUDACC__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#else
  return exp2f(x);
#endif
}

// Folds a score tile into the running states of this lane's rows (st[0]: row g, st[1]:
// row g + 8) as FlashAttention-2 does, without a branch per element: masks keys past the
// query or past T where `masked` (-inf), raises the maxima (quad shuffles), rescales O
// and the sums by 2^(old max - new max), and turns s into P = 2^(s scale log2(e) - max2)
// in fp32; the sums add P in fp32, the P V product takes it rounded to E.
template <int D>
__device__ void softmax_tile(float (&s)[kKeyBlocks][4], float (&o)[D / 8][4], RowState (&st)[2], float scale_log2,
                             bool masked, int64_t i_lo, int64_t j0, int64_t T_len, int lane) {
  if (masked) {
    const int t = lane & 3;
#pragma unroll
    for (int n = 0; n < kKeyBlocks; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t i = i_lo + 8 * (e >> 1), j = j0 + 8 * n + 2 * t + (e & 1);
        if (j > i || j >= T_len) s[n][e] = -INFINITY;
      }
  }
  float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int n = 0; n < kKeyBlocks; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[n][e]);
  float offset[2];  // what P's exponent subtracts: the new max2, 0 while a row has seen only -inf
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const float new_max2 = fmaxf(st[h].max2, group_max(tile_max[h], 4) * scale_log2);
    offset[h] = new_max2 == -INFINITY ? 0.f : new_max2;
    const float factor = exp2_approx(st[h].max2 - offset[h]);  // 0 for the first finite max
    st[h].max2 = new_max2;
    st[h].sum *= factor;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][2 * h] *= factor;
      o[n][2 * h + 1] *= factor;
    }
  }
#pragma unroll
  for (int n = 0; n < kKeyBlocks; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int h = e >> 1;
      s[n][e] = exp2_approx(fmaf(s[n][e], scale_log2, -offset[h]));
      st[h].sum += s[n][e];
    }
}

// Two floats rounded to E, packed as an mma operand register (lower index low).
template <class E>
__device__ __forceinline__ uint32_t pack_floats(float lo, float hi) {
  return pack_pair(tile_from_float<E>(lo), tile_from_float<E>(hi));
}

// o += P V on tensor cores: P's A fragment for keys 16 kk .. 16 kk + 15 is the
// accumulators of 8-key blocks 2 kk and 2 kk + 1 rounded to E and repacked (a[0], a[1]:
// rows g, g + 8 of the first, a[2], a[3]: of the second).
template <int D, class E>
__device__ void pv_mma(float (&o)[D / 8][4], const float (&p)[kKeyBlocks][4], const E* vt, int lane) {
  constexpr int ld = Layout<E, D>::ld;
#pragma unroll
  for (int kk = 0; kk < kTile / 16; ++kk) {
    const uint32_t a[4] = {pack_floats<E>(p[2 * kk][0], p[2 * kk][1]), pack_floats<E>(p[2 * kk][2], p[2 * kk][3]),
                           pack_floats<E>(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                           pack_floats<E>(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      uint32_t b[4];
      load_b_16x16_rows(b, vt + 16 * kk * ld + 16 * n, ld, lane);
      mma_m16n8k16<E>(o[2 * n], a, b[0], b[1], o[2 * n]);
      mma_m16n8k16<E>(o[2 * n + 1], a, b[2], b[3], o[2 * n + 1]);
    }
  }
}

// o += P V in fp32: key 8 n + 2 u + c of rows g, g + 8 is p[n][c], p[n][2 + c] of lane
// 4 g + u, fetched by shuffles within the quad.
template <int D>
__device__ void pv_fp32(float (&o)[D / 8][4], const float (&p)[kKeyBlocks][4], const float* vt, int lane) {
  constexpr int ld = Layout<float, D>::ld;
  const int t = lane & 3, quad = lane & ~3;
#pragma unroll
  for (int n = 0; n < kKeyBlocks; ++n)
#pragma unroll
    for (int c = 0; c < 2; ++c)
      for (int u = 0; u < 4; ++u) {
        const float p_lo = __shfl_sync(kFull, p[n][c], quad + u), p_hi = __shfl_sync(kFull, p[n][2 + c], quad + u);
        const float* vrow = vt + (8 * n + 2 * u + c) * ld;
#pragma unroll
        for (int m = 0; m < D / 8; ++m) {
          const float v0 = vrow[8 * m + 2 * t], v1 = vrow[8 * m + 2 * t + 1];
          o[m][0] += p_lo * v0;
          o[m][1] += p_lo * v1;
          o[m][2] += p_hi * v0;
          o[m][3] += p_hi * v1;
        }
      }
}

// y[0], y[1] = a, b in one 4-byte (16-bit T) or 8-byte (fp32) store; y aligned to it.
__device__ __forceinline__ void store_pair(float* y, float a, float b) { *reinterpret_cast<float2*>(y) = {a, b}; }
template <class T>
__device__ __forceinline__ void store_pair(T* y, float a, float b) {
  using E = typename TileElem<T>::type;
  *reinterpret_cast<uint32_t*>(y) = pack_floats<E>(a, b);
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads) flash_prefill_kernel(FlashPrefillLaunch<T> a, bool vector_rows) {
  using E = typename TileElem<T>::type;
  using L = Layout<E, D>;
  constexpr bool kTensorCores = !std::is_same<E, float>::value;
  const int64_t bh = blockIdx.x, i0 = int64_t(gridDim.y - 1 - blockIdx.y) * kTile;  // longest tiles first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  extern __shared__ __align__(128) unsigned char shared[];
  E* sQ = reinterpret_cast<E*>(shared + L::q);  // (64, ld)
  E* sK = reinterpret_cast<E*>(shared + L::k);  // 2 x (64, ld): double buffer
  E* sV = reinterpret_cast<E*>(shared + L::v);  // 2 x (64, ld)
  constexpr int kTileElems = kTile * L::ld;

  const T* q = a.q + bh * a.T_len * a.dk;
  const T* k = a.k + bh * a.T_len * a.dk;
  const T* v = a.v + bh * a.T_len * a.dv;
  const int n_tiles = int((min(a.T_len, i0 + kTile) + kTile - 1) / kTile);  // key tiles up to the diagonal
  load_tile<D>(sQ, q, i0, a.T_len, a.dk, vector_rows);
  load_tile<D>(sK, k, 0, a.T_len, a.dk, vector_rows);
  load_tile<D>(sV, v, 0, a.T_len, a.dv, vector_rows);
  cp_async_commit();

  const int64_t i_lo = i0 + 16 * warp + (lane >> 2);  // this lane's rows: i_lo, i_lo + 8
  const float scale_log2 = rsqrtf(float(a.dk)) * 1.4426950408889634f;  // 1 / sqrt(dk) * log2(e)
  float o[D / 8][4] = {};  // (16 rows, D) of this warp, accumulator layout
  RowState st[2];
  uint32_t qf[D / 16][4];  // Q's A fragments (tensor-core path)
  for (int tile = 0; tile < n_tiles; ++tile) {
    const int buf = tile & 1;
    cp_async_wait_group<0>();
    __syncthreads();  // tile `tile` is in buffer buf for all; no warp still reads buffer buf ^ 1
    if (tile + 1 < n_tiles) {
      load_tile<D>(sK + (buf ^ 1) * kTileElems, k, int64_t(tile + 1) * kTile, a.T_len, a.dk, vector_rows);
      load_tile<D>(sV + (buf ^ 1) * kTileElems, v, int64_t(tile + 1) * kTile, a.T_len, a.dv, vector_rows);
    }
    cp_async_commit();
    const E* kt = sK + buf * kTileElems;
    const E* vt = sV + buf * kTileElems;
    float s[kKeyBlocks][4];
    if constexpr (kTensorCores) {
      if (tile == 0)
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) load_a_16x16(qf[kk], sQ + 16 * warp * L::ld + 16 * kk, L::ld, lane);
      scores_mma<D>(s, qf, kt, lane);
    } else {
      scores_fp32<D>(s, sQ + 16 * warp * L::ld, kt, lane);
    }
    softmax_tile<D>(s, o, st, scale_log2, tile == n_tiles - 1, i_lo, int64_t(tile) * kTile, a.T_len, lane);
    if constexpr (kTensorCores)
      pv_mma<D>(o, s, vt, lane);
    else
      pv_fp32<D>(o, s, vt, lane);
  }
  cp_async_wait_group<0>();  // the last (empty) group

  const int t = lane & 3;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t i = i_lo + 8 * h;
    const float sum = group_sum(st[h].sum, 4), inv = 1.f / sum;
    if (i >= a.T_len) continue;
    T* yrow = a.y + (bh * a.T_len + i) * a.dv;
#pragma unroll
    for (int m = 0; m < D / 8; ++m) {
      const int col = 8 * m + 2 * t;
      if (vector_rows && col < a.dv)  // dv even, y aligned: one store per pair
        store_pair(yrow + col, o[m][2 * h] * inv, o[m][2 * h + 1] * inv);
      else
        for (int c = 0; c < 2; ++c)
          if (col + c < a.dv) yrow[col + c] = from_float<T>(o[m][2 * h + c] * inv);
    }
    if (a.lse && t == 0) a.lse[bh * a.T_len + i] = st[h].max2 * 0.6931471805599453f + logf(sum);  // natural log
  }
}

template <class T, int D>
void launch_for_width(const FlashPrefillLaunch<T>& a, bool vector_rows, cudaStream_t stream) {
  using L = Layout<typename TileElem<T>::type, D>;
  // Once per instantiation, on its first launch (a warm-up run): tiles over 48 KiB.
  static const bool configured = [] {
    DFW_CUDA_CHECK(
        cudaFuncSetAttribute(flash_prefill_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(L::total)));
    return true;
  }();
  (void)configured;
  const dim3 grid(unsigned(a.BH), unsigned((a.T_len + kTile - 1) / kTile));
  flash_prefill_kernel<T, D><<<grid, kThreads, L::total, stream>>>(a, vector_rows);
  DFW_CUDA_CHECK_LAUNCH();
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

template <class T>
void launch_flash_prefill(const FlashPrefillLaunch<T>& a, cudaStream_t stream) {
  if (a.dk > kFlashPrefillMaxD || a.dv > kFlashPrefillMaxD)
    throw std::invalid_argument("flash prefill kernel: dk, dv <= " + std::to_string(kFlashPrefillMaxD) +
                                " (dk = " + std::to_string(a.dk) + ", dv = " + std::to_string(a.dv) + ")");
  if ((a.T_len + kTile - 1) / kTile > 65535)
    throw std::invalid_argument("flash prefill kernel: T above " + std::to_string(65535 * kTile) +
                                " (T = " + std::to_string(a.T_len) + ")");
  if (a.BH == 0 || a.T_len == 0) return;
  NvtxRange range("flash_prefill_kernel");
  const bool vector_rows = (a.dk * sizeof(T)) % 16 == 0 && (a.dv * sizeof(T)) % 16 == 0 && aligned16(a.q) &&
                           aligned16(a.k) && aligned16(a.v) && aligned16(a.y);
  const int d = a.dk > a.dv ? a.dk : a.dv;
  if (d <= 32)
    launch_for_width<T, 32>(a, vector_rows, stream);
  else if (d <= 64)
    launch_for_width<T, 64>(a, vector_rows, stream);
  else
    launch_for_width<T, 128>(a, vector_rows, stream);
}

template void launch_flash_prefill<float>(const FlashPrefillLaunch<float>&, cudaStream_t);
template void launch_flash_prefill<Fp16>(const FlashPrefillLaunch<Fp16>&, cudaStream_t);
template void launch_flash_prefill<Bf16>(const FlashPrefillLaunch<Bf16>&, cudaStream_t);

}  // namespace dfw
