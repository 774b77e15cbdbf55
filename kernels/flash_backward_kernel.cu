// flash_backward: the causal softmax backward, FlashAttention-2's split of the work
// without atomics. With s = 1 / sqrt(dk), P_ij = exp(s q_i.k_j - L_i) (j <= i),
// D_i = dy_i . y_i and dS_ij = s P_ij (dy_i.v_j - D_i):
//   dv_j = sum_i P_ij dy_i,  dk_j = sum_i dS_ij q_i,  dq_i = sum_j dS_ij k_j.
//   flash_backward_delta_kernel: D, one warp per token. Grid ceil(BH T / 4), block 128.
//   flash_backward_dkdv_kernel: one 32-key tile per block, dk and dv accumulated in
//     registers (thread owns elements tid + 128 i of the 32 x d tile) over the query
//     tiles at or after it; each query tile's P and dS recomputed from L, D in shared.
//   flash_backward_dq_kernel: one 32-query tile per block, dq in registers, over the
//     key tiles up to the diagonal, recomputing the same P and dS.
//   Launch (both tile kernels): grid (ceil(T / 32), BH), block 128 (dq: the longest
//   query tiles first); dynamic shared memory: Q, K (32 x (dk | 1)), V, dY (32 x (dv | 1))
//   fp32 tiles (odd row strides: the score loops read K, V rows across lanes without
//   bank conflicts), P and dS (32 x 33), L and D (32): 75 KB at dk = dv = 128.
//   Reads q, k (BH, T, dk), v, y, dy (BH, T, dv), lse (BH, T); writes delta (BH, T),
//   dq, dk (BH, T, dk), dv (BH, T, dv).
#include <cmath>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "flash_backward_kernel.cuh"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kTile = 32;
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kLdp = kTile + 1;                                  // row stride of P, dS
constexpr int kAccPerThread = kTile * kFlashBackwardMaxD / kThreads;  // 32

struct Layout {
  int ldk, ldv;                          // padded row strides
  int q, k, v, dy, p, ds, l, d, total;   // float offsets of the shared regions
};

__host__ __device__ inline Layout layout_for(int dk, int dv) {
  Layout s;
  s.ldk = dk | 1;  // odd: the score loops read K, V rows across lanes without bank conflicts
  s.ldv = dv | 1;
  s.q = 0;
  s.k = s.q + kTile * s.ldk;
  s.v = s.k + kTile * s.ldk;
  s.dy = s.v + kTile * s.ldv;
  s.p = s.dy + kTile * s.ldv;
  s.ds = s.p + kTile * kLdp;
  s.l = s.ds + kTile * kLdp;
  s.d = s.l + kTile;
  s.total = s.d + kTile;
  return s;
}

// Rows [row0, row0 + 32) of src (T_len, d) into dst (32, ld); zeros past the end.
__device__ void load_rows(const float* src, int64_t row0, int64_t T_len, int d, int ld, float* dst) {
  for (int idx = threadIdx.x; idx < kTile * d; idx += kThreads) {
    const int r = idx / d, c = idx % d;
    dst[r * ld + c] = row0 + r < T_len ? src[(row0 + r) * d + c] : 0.f;
  }
}

// L and D of rows [i0, i0 + 32) (0 past the end).
__device__ void load_row_stats(const FlashBackwardLaunch& a, int64_t bh, int64_t i0, float* sL, float* sD) {
  for (int r = threadIdx.x; r < kTile; r += kThreads) {
    const bool in = i0 + r < a.T_len;
    sL[r] = in ? a.lse[bh * a.T_len + i0 + r] : 0.f;
    sD[r] = in ? a.delta[bh * a.T_len + i0 + r] : 0.f;
  }
}

// P (32 x 32) and dS = s P (dy v^T - D) of query tile i0 against key tile j0, from
// the loaded Q, K, V, dY tiles and L, D; 0 where the key is after the query or
// either is past the sequence.
__device__ void probabilities_and_ds(float* sh, const Layout& s, const FlashBackwardLaunch& a, int64_t i0, int64_t j0,
                                     float scale) {
  for (int idx = threadIdx.x; idx < kTile * kTile; idx += kThreads) {
    const int r = idx / kTile, c = idx % kTile;
    const int64_t i = i0 + r, j = j0 + c;
    float p = 0.f, ds = 0.f;
    if (i < a.T_len && j <= i) {
      const float* q = sh + s.q + r * s.ldk;
      const float* k = sh + s.k + c * s.ldk;
      float score = 0.f;
      for (int x = 0; x < a.dk; ++x) score += q[x] * k[x];
      p = expf(score * scale - sh[s.l + r]);
      const float* dy = sh + s.dy + r * s.ldv;
      const float* v = sh + s.v + c * s.ldv;
      float dp = 0.f;
      for (int x = 0; x < a.dv; ++x) dp += dy[x] * v[x];
      ds = scale * p * (dp - sh[s.d + r]);
    }
    sh[s.p + r * kLdp + c] = p;
    sh[s.ds + r * kLdp + c] = ds;
  }
}

// This thread's elements (o, x) = divmod(tid + 128 e, d) of a 32 x d product tile:
// acc[e] += sum over s < 32 of A(o, s) B(s, x), A(o, s) = a[o * a_o + s * a_s], B(s, x) = b[s * ldb + x].
__device__ void accumulate_product(float (&acc)[kAccPerThread], int d, const float* a, int a_o, int a_s,
                                   const float* b, int ldb) {
#pragma unroll
  for (int e = 0; e < kAccPerThread; ++e) {
    const int idx = threadIdx.x + kThreads * e;
    if (idx >= kTile * d) continue;
    const int o = idx / d, x = idx % d;
    float sum = 0.f;
    for (int k = 0; k < kTile; ++k) sum += a[o * a_o + k * a_s] * b[k * ldb + x];
    acc[e] += sum;
  }
}

// Rows [row0, row0 + 32) of out (T_len, d) from acc, rows past the end left alone.
__device__ void store_tile(const float (&acc)[kAccPerThread], int d, int64_t row0, int64_t T_len, float* out) {
#pragma unroll
  for (int e = 0; e < kAccPerThread; ++e) {
    const int idx = threadIdx.x + kThreads * e;
    if (idx < kTile * d && row0 + idx / d < T_len) out[row0 * d + idx] = acc[e];
  }
}

__global__ void __launch_bounds__(kThreads) flash_backward_delta_kernel(FlashBackwardLaunch a) {
  const int64_t token = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (token >= a.BH * a.T_len) return;
  float part = 0.f;
  for (int c = lane; c < a.dv; c += 32) part += a.dy[token * a.dv + c] * a.y[token * a.dv + c];
  const float total = warp_sum(part);
  if (lane == 0) a.delta[token] = total;
}

__global__ void __launch_bounds__(kThreads) flash_backward_dkdv_kernel(FlashBackwardLaunch a) {
  const int64_t bh = blockIdx.y, j0 = int64_t(blockIdx.x) * kTile;
  const Layout s = layout_for(a.dk, a.dv);
  extern __shared__ float sh[];
  const float scale = rsqrtf(float(a.dk));
  const int64_t head = bh * a.T_len;
  load_rows(a.k + head * a.dk, j0, a.T_len, a.dk, s.ldk, sh + s.k);
  load_rows(a.v + head * a.dv, j0, a.T_len, a.dv, s.ldv, sh + s.v);
  float dk_acc[kAccPerThread], dv_acc[kAccPerThread];
#pragma unroll
  for (int e = 0; e < kAccPerThread; ++e) dk_acc[e] = dv_acc[e] = 0.f;
  for (int64_t i0 = j0; i0 < a.T_len; i0 += kTile) {
    __syncthreads();  // the previous query tile's Q, dY, P, dS are no longer read
    load_rows(a.q + head * a.dk, i0, a.T_len, a.dk, s.ldk, sh + s.q);
    load_rows(a.dy + head * a.dv, i0, a.T_len, a.dv, s.ldv, sh + s.dy);
    load_row_stats(a, bh, i0, sh + s.l, sh + s.d);
    __syncthreads();
    probabilities_and_ds(sh, s, a, i0, j0, scale);
    __syncthreads();
    accumulate_product(dk_acc, a.dk, sh + s.ds, 1, kLdp, sh + s.q, s.ldk);   // dk_j[c] += sum_r dS[r][c] q[r]
    accumulate_product(dv_acc, a.dv, sh + s.p, 1, kLdp, sh + s.dy, s.ldv);   // dv_j[c] += sum_r P[r][c] dy[r]
  }
  store_tile(dk_acc, a.dk, j0, a.T_len, a.dk_out + head * a.dk);
  store_tile(dv_acc, a.dv, j0, a.T_len, a.dv_out + head * a.dv);
}

__global__ void __launch_bounds__(kThreads) flash_backward_dq_kernel(FlashBackwardLaunch a) {
  const int64_t bh = blockIdx.y, i0 = int64_t(gridDim.x - 1 - blockIdx.x) * kTile;  // the longest first
  const Layout s = layout_for(a.dk, a.dv);
  extern __shared__ float sh[];
  const float scale = rsqrtf(float(a.dk));
  const int64_t head = bh * a.T_len;
  load_rows(a.q + head * a.dk, i0, a.T_len, a.dk, s.ldk, sh + s.q);
  load_rows(a.dy + head * a.dv, i0, a.T_len, a.dv, s.ldv, sh + s.dy);
  load_row_stats(a, bh, i0, sh + s.l, sh + s.d);
  float dq_acc[kAccPerThread];
#pragma unroll
  for (int e = 0; e < kAccPerThread; ++e) dq_acc[e] = 0.f;
  for (int64_t j0 = 0; j0 <= i0; j0 += kTile) {
    __syncthreads();  // the previous key tile's K, V, P, dS are no longer read
    load_rows(a.k + head * a.dk, j0, a.T_len, a.dk, s.ldk, sh + s.k);
    load_rows(a.v + head * a.dv, j0, a.T_len, a.dv, s.ldv, sh + s.v);
    __syncthreads();
    probabilities_and_ds(sh, s, a, i0, j0, scale);
    __syncthreads();
    accumulate_product(dq_acc, a.dk, sh + s.ds, kLdp, 1, sh + s.k, s.ldk);  // dq_i[r] += sum_c dS[r][c] k[c]
  }
  store_tile(dq_acc, a.dk, i0, a.T_len, a.dq + head * a.dk);
}

}  // namespace

void launch_flash_backward(const FlashBackwardLaunch& a, cudaStream_t stream) {
  if (a.dk < 1 || a.dv < 1 || a.dk > kFlashBackwardMaxD || a.dv > kFlashBackwardMaxD)
    throw std::invalid_argument("flash backward kernels: 1 <= dk, dv <= " + std::to_string(kFlashBackwardMaxD) +
                                " (dk = " + std::to_string(a.dk) + ", dv = " + std::to_string(a.dv) + ")");
  if (a.BH > 65535) throw std::invalid_argument("flash backward kernels: B * H above 65535");
  if (a.BH == 0 || a.T_len == 0) return;
  NvtxRange range("flash_backward");
  const std::size_t shared = sizeof(float) * std::size_t(layout_for(a.dk, a.dv).total);
  // Tiles over 48 KiB need the opt-in, a property of the current device: set each launch.
  for (const void* kernel : {reinterpret_cast<const void*>(flash_backward_dkdv_kernel),
                             reinterpret_cast<const void*>(flash_backward_dq_kernel)})
    DFW_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)));
  const int64_t tokens = a.BH * a.T_len;
  flash_backward_delta_kernel<<<unsigned((tokens + kWarps - 1) / kWarps), kThreads, 0, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
  const dim3 grid(unsigned((a.T_len + kTile - 1) / kTile), unsigned(a.BH));
  flash_backward_dkdv_kernel<<<grid, kThreads, shared, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
  flash_backward_dq_kernel<<<grid, kThreads, shared, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
}

}  // namespace dfw
