// softmax_decode_kernel: one query per (b, h) against a KV cache of n = t + 1 rows
// (flash-decoding), in one launch per token when one split per (b, h) fills the device,
// two otherwise.
//   flash_decode_split_kernel: split s of the keys. Lanes in groups of G (plan_decode_splits:
//     the power of two whose 16-byte vectors cover max(dk, dv)) share a key row: each lane
//     loads its vectors of K and V (LDG.128 when dk and dv are whole vectors), the group
//     sums the score by shuffles, and a warp step takes 4 keys per group (4 * 32 / G keys).
//     The warp keeps one online softmax (max, sum) and each lane its part of the value
//     accumulator; at the end the groups' accumulators are summed by shuffles and the block
//     merges its 4 warps. It writes y directly when there is one split, else the partial
//     record [max, sum, acc(dv)]. The split holding row t reads k_t, v_t from the inputs
//     and appends them to the cache (the KV append, fused). Grid B*H*splits, block 128,
//     shared 4 (dv + 2) floats.
//   flash_decode_combine_kernel (splits > 1 only): y = sum_s acc_s e^(max_s - M) /
//     sum_s sum_s e^(max_s - M). Grid B*H, block 128 (threads over dv).
//   Reads q, k, v (BH, T_cap, dk / dv) at token t and the caches (BH, T_cap, dk / dv) rows
//   0..t-1; writes cache row t, partials (BH, max splits, dv + 2), y (BH, y_tokens, dv).
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "device_limits.hpp"
#include "half_convert.hpp"
#include "softmax_decode_kernel.cuh"
#include "softmax_decode_plan.hpp"
#include "softmax_math.hpp"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kThreads = 32 * kDecodeWarps;
constexpr int kKeys = kDecodeKeysPerGroup;

// Elements of T in one 16-byte vector, and the vectors a lane holds of a 256-wide row.
template <class T>
constexpr int kVec = 16 / int(sizeof(T));
template <class T>
constexpr int kVectorsPerLane = kDecodeMaxWidth / (32 * kVec<T>);

// Elements [c, c + kVec) of a row as floats, zeros past n. kWhole: n is a multiple of
// kVec and the row 16-byte aligned, so one 16-byte load reads the vector.
template <class T, bool kWhole>
__device__ __forceinline__ void load_vector(const T* row, int c, int n, float (&out)[kVec<T>]) {
  if constexpr (kWhole) {
    if (c < n) {
      const uint4 raw = *reinterpret_cast<const uint4*>(row + c);
      T parts[kVec<T>];
      memcpy(parts, &raw, sizeof raw);
#pragma unroll
      for (int i = 0; i < kVec<T>; ++i) out[i] = to_float(parts[i]);
    } else {
#pragma unroll
      for (int i = 0; i < kVec<T>; ++i) out[i] = 0.f;
    }
  } else {
#pragma unroll
    for (int i = 0; i < kVec<T>; ++i) out[i] = c + i < n ? to_float(row[c + i]) : 0.f;
  }
}

template <class T, bool kWhole>
__global__ void __launch_bounds__(kThreads) flash_decode_split_kernel(SoftmaxDecodeLaunch<T> a, DecodeSplits s) {
  constexpr int V = kVec<T>, R = kVectorsPerLane<T>;
  const int64_t bh = blockIdx.x / s.splits;
  const int split = int(blockIdx.x % s.splits);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int G = s.group, g = lane % G, grp = lane / G, groups = 32 / G;
  const int dk = a.dk, dv = a.dv;
  const int64_t t = a.t, n = t + 1;
  const int64_t begin = split * s.split_len;
  const int64_t end = begin + s.split_len < n ? begin + s.split_len : n;

  const T* k_new = a.k + (bh * a.T_cap + t) * dk;  // (dk) token t's key and value, from the inputs
  const T* v_new = a.v + (bh * a.T_cap + t) * dv;
  const T* k_rows = a.k_cache + bh * a.T_cap * dk;  // (T_cap, dk)
  const T* v_rows = a.v_cache + bh * a.T_cap * dv;  // (T_cap, dv)
  if (end == n) {  // the KV append: no thread of this launch reads cache row t
    for (int c = threadIdx.x; c < dk; c += kThreads) a.k_cache[(bh * a.T_cap + t) * dk + c] = k_new[c];
    for (int c = threadIdx.x; c < dv; c += kThreads) a.v_cache[(bh * a.T_cap + t) * dv + c] = v_new[c];
  }

  float q[R][V];  // this lane's vectors of q / sqrt(dk): elements (g + r G) V + i
  const float scale = rsqrtf(float(dk));
#pragma unroll
  for (int r = 0; r < R; ++r) {
    load_vector<T, kWhole>(a.q + (bh * a.T_cap + t) * dk, (g + r * G) * V, dk, q[r]);
#pragma unroll
    for (int i = 0; i < V; ++i) q[r][i] *= scale;
  }
  float acc[R][V];  // this lane's part of the value accumulator, same element map over dv
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int i = 0; i < V; ++i) acc[r][i] = 0.f;

  OnlineSoftmax st;  // the warp's, the same in every lane
  const int64_t step = int64_t(kKeys) * groups;
  for (int64_t j0 = begin + warp * step; j0 < end; j0 += kDecodeWarps * step) {
    float score[kKeys];
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      const int64_t j = j0 + u * groups + grp;
      float dot = 0.f;
      if (j < end) {
        const T* row = j == t ? k_new : k_rows + j * dk;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float kv[V];
          load_vector<T, kWhole>(row, (g + r * G) * V, dk, kv);
#pragma unroll
          for (int i = 0; i < V; ++i) dot += q[r][i] * kv[i];
        }
      }
      score[u] = group_sum(dot, G);
      if (j >= end) score[u] = -INFINITY;
    }
    float top = score[0];
#pragma unroll
    for (int u = 1; u < kKeys; ++u) top = fmaxf(top, score[u]);
    const float factor = online_softmax_rescale(st, warp_max(top));  // key j0 is in range
    float p[kKeys], group_p = 0.f;
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      p[u] = score[u] == -INFINITY ? 0.f : online_softmax_weight(st, score[u]);
      group_p += p[u];
    }
    st.sum += warp_sum(g == 0 ? group_p : 0.f);
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int i = 0; i < V; ++i) acc[r][i] *= factor;
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      const int64_t j = j0 + u * groups + grp;
      if (j >= end) continue;
      const T* row = j == t ? v_new : v_rows + j * dv;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float vv[V];
        load_vector<T, kWhole>(row, (g + r * G) * V, dv, vv);
#pragma unroll
        for (int i = 0; i < V; ++i) acc[r][i] += p[u] * vv[i];
      }
    }
  }
  // The groups' accumulators share the warp's max: their sum is the warp's.
  for (int off = G; off < 32; off <<= 1)
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int i = 0; i < V; ++i) acc[r][i] += __shfl_xor_sync(0xffffffffu, acc[r][i], off);

  extern __shared__ float shared[];  // (kDecodeWarps, dv + 2) the warps' [max, sum, acc(dv)]
  float* mine = shared + warp * partial_stride(dv);
  if (lane == 0) {
    mine[0] = st.max;
    mine[1] = st.sum;
  }
  if (grp == 0)
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int i = 0; i < V; ++i) {
        const int c = (g + r * G) * V + i;
        if (c < dv) mine[2 + c] = acc[r][i];
      }
  __syncthreads();
  float* out = a.partials + (bh * kSoftmaxDecodeMaxSplits + split) * partial_stride(dv);
  for (int c = threadIdx.x; c < dv + 1; c += kThreads) {  // c == dv: the record's max and sum
    OnlineSoftmax total{shared[0], shared[1]};
    float value = c < dv ? shared[2 + c] : 0.f;
    for (int w = 1; w < kDecodeWarps; ++w) {
      const float* pw = shared + w * partial_stride(dv);
      const MergeFactors f = online_softmax_merge(total, OnlineSoftmax{pw[0], pw[1]});
      if (c < dv) value = value * f.a + pw[2 + c] * f.b;
    }
    if (s.splits == 1) {
      if (c < dv) a.y[(bh * a.y_tokens + a.y_row) * dv + c] = from_float<T>(value / total.sum);
    } else if (c < dv) {
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

// The split kernel's resident blocks per SM (at the widest dv), queried once per
// instantiation.
template <class T, bool kWhole>
int split_kernel_resident_blocks() {
  static const int blocks = [] {
    int b = 0;
    DFW_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &b, flash_decode_split_kernel<T, kWhole>, kThreads, sizeof(float) * kDecodeWarps * partial_stride(kDecodeMaxWidth)));
    return b;
  }();
  return blocks;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class T, bool kWhole>
void launch_split(const SoftmaxDecodeLaunch<T>& a, cudaStream_t stream) {
  const DecodeSplits s = plan_decode_splits(a.t + 1, a.BH, a.dk, a.dv, kVec<T>, device_limits().sms,
                                            split_kernel_resident_blocks<T, kWhole>(), kSoftmaxDecodeMaxSplits);
  const std::size_t shared = sizeof(float) * kDecodeWarps * partial_stride(a.dv);
  flash_decode_split_kernel<T, kWhole><<<unsigned(a.BH * s.splits), kThreads, shared, stream>>>(a, s);
  DFW_CUDA_CHECK_LAUNCH();
  if (s.splits == 1) return;
  flash_decode_combine_kernel<T><<<unsigned(a.BH), kThreads, 0, stream>>>(a, s.splits);
  DFW_CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T>
void launch_softmax_decode(const SoftmaxDecodeLaunch<T>& a, cudaStream_t stream) {
  if (a.dk > kDecodeMaxWidth || a.dv > kDecodeMaxWidth)
    throw std::invalid_argument("softmax decode kernel: dk = " + std::to_string(a.dk) + ", dv = " +
                                std::to_string(a.dv) + "; each must be at most " + std::to_string(kDecodeMaxWidth));
  if (a.BH * kSoftmaxDecodeMaxSplits > int64_t(INT32_MAX))
    throw std::invalid_argument("softmax decode kernel: B * H too large for the grid");
  if (a.t < 0 || a.t >= a.T_cap) throw std::invalid_argument("softmax decode kernel: token past the cache");
  if (a.BH == 0) return;
  NvtxRange range("flash_decode");
  const bool whole = a.dk % kVec<T> == 0 && a.dv % kVec<T> == 0 && aligned16(a.q) && aligned16(a.k) &&
                     aligned16(a.v) && aligned16(a.k_cache) && aligned16(a.v_cache);
  if (whole)
    launch_split<T, true>(a, stream);
  else
    launch_split<T, false>(a, stream);
}

template void launch_softmax_decode<float>(const SoftmaxDecodeLaunch<float>&, cudaStream_t);
template void launch_softmax_decode<Fp16>(const SoftmaxDecodeLaunch<Fp16>&, cudaStream_t);
template void launch_softmax_decode<Bf16>(const SoftmaxDecodeLaunch<Bf16>&, cudaStream_t);

}  // namespace dfw
