// flash_prefill_kernel: exact causal softmax attention for whole sequences.
//   Computes y_i = sum_{j<=i} softmax_j(q_i.k_j / sqrt(dk)) v_j for a tile of 64 queries.
//   Algorithm: loop over 64-key tiles up to the diagonal; S = Q K^T, per query row an
//   online softmax (softmax_math.hpp: running max and sum, O rescaled when the max
//   grows), P = exp(S - max) rounded to the input type, O += P V; finally y = O / sum.
//   No T x T matrix exists anywhere. Both products on tensor cores for fp16 / bf16:
//   mma.sync m16n8k16 on ldmatrix fragments (mma_f16.cuh).
//   Launch: grid (ceil(T / 64), B*H), block 128 (4 warps, a warp owns 16 query rows);
//   dynamic shared memory: Q, K, V tiles (64 x dk_pad, 64 x dk_pad, 64 x dv_pad) and P
//   (64 x 64) in the tile type, S (64 x max(64, dv_pad)) and O (64 x dv_pad) in fp32,
//   row states; dk_pad, dv_pad = dk, dv rounded up to 16 (zero padding).
//   Reads q, k (BH, T, dk), v (BH, T, dv); writes y (BH, T, dv) and, when asked, the
//   log-sum-exp max + log(sum) of each row (BH, T) that the backward recomputes P from.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "flash_prefill_kernel.cuh"
#include "half_convert.hpp"
#include "mma_f16.cuh"
#include "softmax_math.hpp"
#include "tile_elem.cuh"

namespace dfw {
namespace {

constexpr int kTile = 64;
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kRowsPerWarp = kTile / kWarps;  // 16

struct Layout {
  int dkp, dvp, lds;  // padded widths; row stride of S
  // byte offsets of the shared regions
  std::size_t q, k, v, p, s, o, stats, total;
};

template <class E>
__host__ __device__ Layout layout_for(int dk, int dv) {
  Layout l;
  l.dkp = (dk + 15) / 16 * 16;
  l.dvp = (dv + 15) / 16 * 16;
  l.lds = l.dvp > kTile ? l.dvp : kTile;
  l.q = 0;
  l.k = l.q + sizeof(E) * kTile * l.dkp;
  l.v = l.k + sizeof(E) * kTile * l.dkp;
  l.p = l.v + sizeof(E) * kTile * l.dvp;
  l.s = (l.p + sizeof(E) * kTile * kTile + 31) / 32 * 32;  // 32-byte aligned fp32 tiles
  l.o = l.s + sizeof(float) * kTile * l.lds;
  l.stats = l.o + sizeof(float) * kTile * l.dvp;
  l.total = l.stats + sizeof(float) * 3 * kTile;  // max, sum, rescale factor per row
  return l;
}

// S rows [16 w, 16 w + 16) x 64 keys = Q K^T for this warp (fp32 into sS).
template <class E>
__device__ void warp_scores(const E* sQ, const E* sK, float* sS, const Layout& l, int warp, int lane) {
  if constexpr (std::is_same<E, float>::value) {
    for (int idx = lane; idx < kRowsPerWarp * kTile; idx += 32) {
      const int r = warp * kRowsPerWarp + idx / kTile, c = idx % kTile;
      float acc = 0.f;
      for (int x = 0; x < l.dkp; ++x) acc += sQ[r * l.dkp + x] * sK[c * l.dkp + x];
      sS[r * l.lds + c] = acc;
    }
  } else {
    for (int n = 0; n < kTile / 16; ++n) {
      float acc[2][4] = {};  // keys 16 n .. 16 n + 7, 16 n + 8 .. 16 n + 15
      for (int kk = 0; kk < l.dkp; kk += 16) {
        uint32_t a[4], b[4];
        load_a_16x16(a, sQ + warp * kRowsPerWarp * l.dkp + kk, l.dkp, lane);
        load_b_16x16_cols(b, sK + n * 16 * l.dkp + kk, l.dkp, lane);  // K^T: K rows as columns
        mma_m16n8k16<E>(acc[0], a, b[0], b[1], acc[0]);
        mma_m16n8k16<E>(acc[1], a, b[2], b[3], acc[1]);
      }
      store_acc_16x16(sS + warp * kRowsPerWarp * l.lds + n * 16, l.lds, acc, lane);
    }
  }
}

// sS rows of this warp (16 x dv_pad) = P V (fp32).
template <class E>
__device__ void warp_pv(const E* sP, const E* sV, float* sS, const Layout& l, int warp, int lane) {
  if constexpr (std::is_same<E, float>::value) {
    for (int idx = lane; idx < kRowsPerWarp * l.dvp; idx += 32) {
      const int r = warp * kRowsPerWarp + idx / l.dvp, c = idx % l.dvp;
      float acc = 0.f;
      for (int j = 0; j < kTile; ++j) acc += sP[r * kTile + j] * sV[j * l.dvp + c];
      sS[r * l.lds + c] = acc;
    }
  } else {
    for (int n = 0; n < l.dvp / 16; ++n) {
      float acc[2][4] = {};  // value columns 16 n .. 16 n + 7, 16 n + 8 .. 16 n + 15
      for (int kk = 0; kk < kTile; kk += 16) {
        uint32_t a[4], b[4];
        load_a_16x16(a, sP + warp * kRowsPerWarp * kTile + kk, kTile, lane);
        load_b_16x16_rows(b, sV + kk * l.dvp + n * 16, l.dvp, lane);
        mma_m16n8k16<E>(acc[0], a, b[0], b[1], acc[0]);
        mma_m16n8k16<E>(acc[1], a, b[2], b[3], acc[1]);
      }
      store_acc_16x16(sS + warp * kRowsPerWarp * l.lds + n * 16, l.lds, acc, lane);
    }
  }
}

// Rows [row0, row0 + 64) of src (T_len, d) into a (64, d_pad) tile, zeros past the ends.
template <class T, class E>
__device__ void load_tile(const T* src, int64_t row0, int64_t T_len, int d, int d_pad, E* dst) {
  for (int idx = threadIdx.x; idx < kTile * d_pad; idx += kThreads) {
    const int r = idx / d_pad, c = idx % d_pad;
    const float x = (row0 + r < T_len && c < d) ? to_float(src[(row0 + r) * d + c]) : 0.f;
    dst[idx] = tile_from_float<E>(x);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) flash_prefill_kernel(FlashPrefillLaunch<T> a) {
  using E = typename TileElem<T>::type;
  const int64_t bh = blockIdx.y, i0 = int64_t(blockIdx.x) * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const Layout l = layout_for<E>(a.dk, a.dv);
  extern __shared__ __align__(128) unsigned char shared[];
  E* sQ = reinterpret_cast<E*>(shared + l.q);  // (64, dkp)
  E* sK = reinterpret_cast<E*>(shared + l.k);  // (64, dkp)
  E* sV = reinterpret_cast<E*>(shared + l.v);  // (64, dvp)
  E* sP = reinterpret_cast<E*>(shared + l.p);  // (64, 64)
  float* sS = reinterpret_cast<float*>(shared + l.s);  // (64, lds) scores, then P V
  float* sO = reinterpret_cast<float*>(shared + l.o);  // (64, dvp) output accumulator
  float* sMax = reinterpret_cast<float*>(shared + l.stats);  // (64)
  float* sSum = sMax + kTile;                                 // (64)
  float* sFactor = sSum + kTile;                              // (64)

  const T* q = a.q + bh * a.T_len * a.dk;
  const T* k = a.k + bh * a.T_len * a.dk;
  const T* v = a.v + bh * a.T_len * a.dv;
  load_tile(q, i0, a.T_len, a.dk, l.dkp, sQ);
  for (int idx = threadIdx.x; idx < kTile * l.dvp; idx += kThreads) sO[idx] = 0.f;
  for (int r = threadIdx.x; r < kTile; r += kThreads) {
    sMax[r] = -INFINITY;
    sSum[r] = 0.f;
  }
  const float scale = rsqrtf(float(a.dk));
  const int64_t last_key = min(a.T_len, i0 + kTile);  // keys past the tile's last query are masked
  for (int64_t j0 = 0; j0 < last_key; j0 += kTile) {
    __syncthreads();  // the previous tile's K, V are no longer read
    load_tile(k, j0, a.T_len, a.dk, l.dkp, sK);
    load_tile(v, j0, a.T_len, a.dv, l.dvp, sV);
    __syncthreads();
    warp_scores(sQ, sK, sS, l, warp, lane);
    __syncwarp();
    // Online softmax: two lanes per row, 32 keys each.
    {
      const int r = warp * kRowsPerWarp + lane / 2, half = lane % 2;
      const int64_t i = i0 + r;
      float* srow = sS + r * l.lds;
      float tile_max = -INFINITY;
      for (int c = half * 32; c < half * 32 + 32; ++c) {
        const int64_t j = j0 + c;
        const float s = (j <= i && j < a.T_len) ? srow[c] * scale : -INFINITY;
        srow[c] = s;
        tile_max = fmaxf(tile_max, s);
      }
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      OnlineSoftmax st{sMax[r], sSum[r]};
      const float factor = online_softmax_rescale(st, tile_max);
      float sum = 0.f;
      for (int c = half * 32; c < half * 32 + 32; ++c) {
        const float p = st.max == -INFINITY ? 0.f : online_softmax_weight(st, srow[c]);
        const E pe = tile_from_float<E>(p);
        sP[r * kTile + c] = pe;
        sum += tile_to_float(pe);  // the weights P V uses, so numerator and sum agree
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      __syncwarp();
      if (half == 0) {
        sMax[r] = st.max;
        sSum[r] = st.sum + sum;
        sFactor[r] = factor;
      }
    }
    __syncwarp();
    warp_pv(sP, sV, sS, l, warp, lane);
    __syncwarp();
    for (int idx = lane; idx < kRowsPerWarp * l.dvp; idx += 32) {
      const int r = warp * kRowsPerWarp + idx / l.dvp, c = idx % l.dvp;
      sO[r * l.dvp + c] = sO[r * l.dvp + c] * sFactor[r] + sS[r * l.lds + c];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < kTile * a.dv; idx += kThreads) {
    const int r = idx / a.dv, c = idx % a.dv;
    if (i0 + r < a.T_len) a.y[(bh * a.T_len + i0 + r) * a.dv + c] = from_float<T>(sO[r * l.dvp + c] / sSum[r]);
  }
  if (a.lse)
    for (int r = threadIdx.x; r < kTile; r += kThreads)
      if (i0 + r < a.T_len) a.lse[bh * a.T_len + i0 + r] = sMax[r] + logf(sSum[r]);
}

}  // namespace

template <class T>
void launch_flash_prefill(const FlashPrefillLaunch<T>& a, cudaStream_t stream) {
  if (a.dk > kFlashPrefillMaxD || a.dv > kFlashPrefillMaxD)
    throw std::invalid_argument("flash prefill kernel: dk, dv <= " + std::to_string(kFlashPrefillMaxD) +
                                " (dk = " + std::to_string(a.dk) + ", dv = " + std::to_string(a.dv) + ")");
  if (a.BH > 65535) throw std::invalid_argument("flash prefill kernel: B * H above 65535");
  if (a.BH == 0 || a.T_len == 0) return;
  NvtxRange range("flash_prefill_kernel");
  using E = typename TileElem<T>::type;
  // Once per type, on the first launch (a warm-up run): allow the largest tiles (over 48 KiB).
  static const bool configured = [] {
    DFW_CUDA_CHECK(cudaFuncSetAttribute(flash_prefill_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        int(layout_for<E>(kFlashPrefillMaxD, kFlashPrefillMaxD).total)));
    return true;
  }();
  (void)configured;
  const Layout l = layout_for<E>(a.dk, a.dv);
  const dim3 grid(unsigned((a.T_len + kTile - 1) / kTile), unsigned(a.BH));
  flash_prefill_kernel<T><<<grid, kThreads, l.total, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
}

template void launch_flash_prefill<float>(const FlashPrefillLaunch<float>&, cudaStream_t);
template void launch_flash_prefill<Fp16>(const FlashPrefillLaunch<Fp16>&, cudaStream_t);
template void launch_flash_prefill<Bf16>(const FlashPrefillLaunch<Bf16>&, cudaStream_t);

}  // namespace dfw
