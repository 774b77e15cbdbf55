// softmax_decode_kernel: one query per (b, h) against a KV cache of n = t + 1 rows.
//   kv_append_kernel: copies k_t, v_t into cache row t. Grid B*H, block 128.
//   flash_decode_split_kernel: split s of the keys; each warp takes tiles of 32 keys
//     (lane = key: score q.k / sqrt(dk)), folds them into its online softmax (max, sum,
//     acc over dv, lanes over columns), the block merges its 4 warps and writes the
//     partial record [max, sum, acc(dv)]. Grid B*H*splits, block 128, shared dk + 4 (dv + 2).
//   flash_decode_combine_kernel: y = sum_s acc_s e^(max_s - M) / sum_s sum_s e^(max_s - M).
//     Grid B*H, block 128 (threads over dv).
//   Reads q (BH, T, dk), k/v caches (BH, T, dk/dv); writes partials (BH, splits, dv + 2),
//   y (BH, y_tokens, dv).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "half_convert.hpp"
#include "softmax_decode_kernel.cuh"
#include "softmax_math.hpp"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;

template <class T>
__global__ void kv_append_kernel(SoftmaxDecodeLaunch<T> a) {
  const int64_t row = blockIdx.x * a.T_cap + a.t;
  for (int c = threadIdx.x; c < a.dk; c += blockDim.x) a.k_cache[row * a.dk + c] = a.k[row * a.dk + c];
  for (int c = threadIdx.x; c < a.dv; c += blockDim.x) a.v_cache[row * a.dv + c] = a.v[row * a.dv + c];
}

template <class T, int NV>
__global__ void __launch_bounds__(kThreads) flash_decode_split_kernel(SoftmaxDecodeLaunch<T> a, int splits,
                                                                     int split_len) {
  const int64_t bh = blockIdx.x / splits;
  const int split = int(blockIdx.x % splits);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int dk = a.dk, dv = a.dv;
  const int64_t n = a.t + 1;
  const int64_t begin = int64_t(split) * split_len;
  const int64_t end = begin + split_len < n ? begin + split_len : n;

  extern __shared__ float shared[];
  float* sq = shared;                        // (dk) query / sqrt(dk)
  float* swarp = sq + dk;                    // (kWarps, dv + 2) warp partials
  const float scale = rsqrtf(float(dk));
  for (int c = threadIdx.x; c < dk; c += kThreads) sq[c] = to_float(a.q[(bh * a.T_cap + a.t) * dk + c]) * scale;
  __syncthreads();

  const T* K = a.k_cache + bh * a.T_cap * dk;
  const T* V = a.v_cache + bh * a.T_cap * dv;
  OnlineSoftmax st;
  float acc[NV];
#pragma unroll
  for (int i = 0; i < NV; ++i) acc[i] = 0.f;
  for (int64_t j0 = begin + warp * 32; j0 < end; j0 += kWarps * 32) {
    const int64_t j = j0 + lane;
    float score = -INFINITY;
    if (j < end) {
      score = 0.f;
      for (int c = 0; c < dk; ++c) score += sq[c] * to_float(K[j * dk + c]);
    }
    const float factor = online_softmax_rescale(st, warp_max(score));
    const float p = j < end ? online_softmax_weight(st, score) : 0.f;
    st.sum += warp_sum(p);
#pragma unroll
    for (int i = 0; i < NV; ++i) acc[i] *= factor;
    const int keys = end - j0 < 32 ? int(end - j0) : 32;
    for (int jj = 0; jj < keys; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
      for (int i = 0; i < NV; ++i) {
        const int c = lane + 32 * i;
        if (c < dv) acc[i] += pj * to_float(V[(j0 + jj) * dv + c]);
      }
    }
  }
  float* mine = swarp + warp * partial_stride(dv);
  if (lane == 0) {
    mine[0] = st.max;
    mine[1] = st.sum;
  }
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int c = lane + 32 * i;
    if (c < dv) mine[2 + c] = acc[i];
  }
  __syncthreads();
  float* out = a.partials + (bh * kSoftmaxDecodeMaxSplits + split) * partial_stride(dv);
  for (int c = threadIdx.x; c < dv + 1; c += kThreads) {  // c == dv writes max and sum
    OnlineSoftmax total{swarp[0], swarp[1]};
    float value = c < dv ? swarp[2 + c] : 0.f;
    for (int w = 1; w < kWarps; ++w) {
      const float* pw = swarp + w * partial_stride(dv);
      const MergeFactors f = online_softmax_merge(total, OnlineSoftmax{pw[0], pw[1]});
      if (c < dv) value = value * f.a + pw[2 + c] * f.b;
    }
    if (c < dv) {
      out[2 + c] = value;
    } else {
      out[0] = total.max;
      out[1] = total.sum;
    }
  }
}

template <class T>
__global__ void flash_decode_combine_kernel(SoftmaxDecodeLaunch<T> a, int splits) {
  const int64_t bh = blockIdx.x;
  const float* partials = a.partials + bh * kSoftmaxDecodeMaxSplits * partial_stride(a.dv);
  for (int c = threadIdx.x; c < a.dv; c += blockDim.x)
    a.y[(bh * a.y_tokens + a.y_row) * a.dv + c] = from_float<T>(combine_partials(partials, splits, a.dv, c));
}

}  // namespace

template <class T>
void launch_kv_append(const SoftmaxDecodeLaunch<T>& a, cudaStream_t stream) {
  if (a.BH == 0) return;
  NvtxRange range("kv_append_kernel");
  kv_append_kernel<T><<<unsigned(a.BH), kThreads, 0, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_softmax_decode(const SoftmaxDecodeLaunch<T>& a, cudaStream_t stream) {
  if (a.dv > kSoftmaxDecodeMaxDv)
    throw std::invalid_argument("softmax decode kernel: dv = " + std::to_string(a.dv) + " above " +
                                std::to_string(kSoftmaxDecodeMaxDv));
  if (a.BH * kSoftmaxDecodeMaxSplits > int64_t(INT32_MAX))
    throw std::invalid_argument("softmax decode kernel: B * H too large for the grid");
  if (a.BH == 0) return;
  NvtxRange range("flash_decode");
  const int64_t n = a.t + 1;
  // Splits of at least 128 keys (one tile per warp), at most kSoftmaxDecodeMaxSplits.
  const int64_t splits = std::min<int64_t>(kSoftmaxDecodeMaxSplits, (n + 127) / 128);
  const int64_t split_len = (n + splits - 1) / splits;
  if (split_len > int64_t(INT32_MAX)) throw std::invalid_argument("softmax decode kernel: cache too long");
  const std::size_t shared = sizeof(float) * (a.dk + kWarps * (a.dv + 2));
  if (shared > 48 * 1024) throw std::invalid_argument("softmax decode kernel: dk + 4 dv too large for shared memory");
  const dim3 grid(unsigned(a.BH * splits));
  if (a.dv <= 128)
    flash_decode_split_kernel<T, 4><<<grid, kThreads, shared, stream>>>(a, int(splits), int(split_len));
  else
    flash_decode_split_kernel<T, 8><<<grid, kThreads, shared, stream>>>(a, int(splits), int(split_len));
  DFW_CUDA_CHECK_LAUNCH();
  flash_decode_combine_kernel<T><<<unsigned(a.BH), kThreads, 0, stream>>>(a, int(splits));
  DFW_CUDA_CHECK_LAUNCH();
}

template void launch_kv_append<float>(const SoftmaxDecodeLaunch<float>&, cudaStream_t);
template void launch_kv_append<Fp16>(const SoftmaxDecodeLaunch<Fp16>&, cudaStream_t);
template void launch_kv_append<Bf16>(const SoftmaxDecodeLaunch<Bf16>&, cudaStream_t);
template void launch_softmax_decode<float>(const SoftmaxDecodeLaunch<float>&, cudaStream_t);
template void launch_softmax_decode<Fp16>(const SoftmaxDecodeLaunch<Fp16>&, cudaStream_t);
template void launch_softmax_decode<Bf16>(const SoftmaxDecodeLaunch<Bf16>&, cudaStream_t);

}  // namespace dfw
