// fast_weight_kernel: the fused recurrent / decode-step kernel of the stateful rules.
//   Computes, for tokens t0..t0+count-1 of each (b, h): phi(q_t), phi(k_t), the rule's
//   update S_t = f(S_{t-1}, v_t, phi(k_t), gates_t) and y_t = S_t phi(q_t) [/ z_t.phi(q_t)+eps].
//   Algorithm: the block keeps its 16 state rows in registers (a warp owns 4 rows, a lane
//   columns lane, lane+32, ...); per chunk of tokens the block stages phi(q), phi(k) in
//   shared memory, then every warp steps its rows token by token (rule_math.hpp). The
//   state is read once and written once per launch; no per-token state is stored.
//   Launch: grid (B*H * ceil(dv/16)), block 128 (4 warps), dynamic shared memory
//   Tc * (2 dk + 2 m + 19) floats for a chunk of Tc <= 32 tokens.
//   Reads q, k (BH, T, dk), v (BH, T, dv), gates, feature parameters, s_in (BH, rows, m);
//   writes y (BH, y_tokens, dv) and s_out (BH, rows, m).
//   Normalised variants: every row block also carries the z row (row dv) to divide its
//   outputs; the last row block writes it.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "fast_weight_kernel.cuh"
#include "half_convert.hpp"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kRowsPerBlock = kWarps * kRowsPerWarp;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxChunk = 32;
constexpr int kSharedBudget = 48 * 1024;

int shared_floats_per_token(int dk, int m) { return 2 * dk + 2 * m + 2 + kRowsPerBlock + 1; }

// The blocks per SM the register budget is sized for: 5 at N = 4, which ptxas meets in
// 88-96 registers with nothing spilled (left to itself it chose 80-96 and spilled
// 4-8 B in six instantiations); 2 at N = 16, whose 80 state registers per thread need
// about 205 (at the 168 that three blocks allow, ptxas spilled 56-92 B in every one).
template <class T, RuleKind kRule, int N>
__global__ void __launch_bounds__(kThreads, N <= 4 ? 5 : 2) fast_weight_kernel(FastWeightLaunch<T> a, int chunk, int row_blocks) {
  const int64_t bh = blockIdx.x / row_blocks;
  const int rb = int(blockIdx.x % row_blocks);
  const int64_t h = bh % a.H;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r0 = rb * kRowsPerBlock;
  const int dk = a.dk, dv = a.dv, m = a.m;

  extern __shared__ float shared[];
  float* sx = shared;                  // (2, chunk, dk)  q rows, then k rows
  float* sf = sx + 2 * chunk * dk;     // (2, chunk, m)   phi(q), then phi(k)
  float* snorm = sf + 2 * chunk * m;   // (2, chunk)      |x|^2 (favor)
  float* sy = snorm + 2 * chunk;       // (chunk, 16)     this block's row outputs
  float* sden = sy + chunk * kRowsPerBlock;  // (chunk)   normaliser z . phi(q) + eps

  const FeatureSpec spec = head_feature_spec(a.phi, dk, m, a.w, a.b, a.omega, h);

  // Register rows: slot i < 4 is row r0 + warp * 4 + i; slot 4 (warp 0 only) is z.
  constexpr int kSlots = kRowsPerWarp + 1;
  float s[kSlots][N];
  int row_of[kSlots];
#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    int row = i < kRowsPerWarp ? r0 + warp * kRowsPerWarp + i : (a.normalise && warp == 0 ? dv : -1);
    if (i < kRowsPerWarp && row >= dv) row = -1;
    row_of[i] = row;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int c = lane + 32 * j;
      s[i][j] = (row >= 0 && c < m && a.s_in && row < a.s_in_rows) ? a.s_in[(bh * a.s_in_rows + row) * m + c] : 0.f;
    }
  }

  for (int64_t c0 = 0; c0 < a.count; c0 += chunk) {
    const int n = a.count - c0 < chunk ? int(a.count - c0) : chunk;
    const int64_t tok0 = bh * a.T_in + a.t0 + c0;  // flat index of the chunk's first token
    // 1. q, k rows of the chunk as float.
    for (int idx = threadIdx.x; idx < 2 * n * dk; idx += kThreads) {
      const int which = idx / (n * dk), rest = idx % (n * dk), tt = rest / dk, c = rest % dk;
      const T* src = which == 0 ? a.q : a.k;
      sx[(which * chunk + tt) * dk + c] = to_float(src[(tok0 + tt) * dk + c]);
    }
    __syncthreads();
    if (a.phi == FeatureKind::favor) {
      for (int r = threadIdx.x; r < 2 * n; r += kThreads) {
        const int which = r / n, tt = r % n;
        const float* x = sx + (which * chunk + tt) * dk;
        float sq = 0.f;
        for (int c = 0; c < dk; ++c) sq += x[c] * x[c];
        snorm[which * chunk + tt] = sq;
      }
      __syncthreads();
    }
    // 2. phi(q), phi(k).
    for (int idx = threadIdx.x; idx < 2 * n * m; idx += kThreads) {
      const int which = idx / (n * m), rest = idx % (n * m), tt = rest / m, j = rest % m;
      const int r = which * chunk + tt;
      sf[r * m + j] = feature_at(spec, sx + r * dk, a.phi == FeatureKind::favor ? snorm[r] : 0.f, j);
    }
    __syncthreads();
    if (a.sum_normalise) {
      for (int r = warp; r < 2 * n; r += kWarps) {
        const int row = (r / n) * chunk + r % n;
        float part = 0.f;
        for (int j = lane; j < m; j += 32) part += sf[row * m + j];
        const float total = WarpSum()(part);
        for (int j = lane; j < m; j += 32) sf[row * m + j] = sum_normalised(sf[row * m + j], total);
      }
      __syncthreads();
    }
    // 3. Token by token: every warp steps its rows.
    for (int tt = 0; tt < n; ++tt) {
      const int64_t tok = tok0 + tt;
      const float* fq = sf + tt * m;
      const float* fk = sf + (chunk + tt) * m;
      const float g = kRule == RuleKind::gated ? a.gate[tok] : 1.f;
      const float beta = kRule == RuleKind::delta ? a.beta[tok] : 1.f;
      const float* col_decay = kRule == RuleKind::decay ? a.gate_k + tok * m : nullptr;
#pragma unroll
      for (int i = 0; i < kSlots; ++i) {
        const int row = row_of[i];
        if (row < 0) continue;
        const bool z_row = row == dv;
        const float v_r = z_row ? 1.f : to_float(a.v[tok * dv + row]);
        const float a_r = kRule == RuleKind::decay && !z_row ? a.gate_v[tok * dv + row] : 1.f;
        const float out = fast_weight_row_step(kRule, s[i], fk, fq, col_decay, v_r, g, beta, a_r, lane, 32, m,
                                               WarpSum());
        if (lane == 0) {
          if (z_row) sden[tt] = out + a.norm_eps;
          else sy[tt * kRowsPerBlock + (row - r0)] = out;
        }
      }
    }
    __syncthreads();
    // 4. y of the chunk's tokens for this block's rows.
    for (int idx = threadIdx.x; idx < n * kRowsPerBlock; idx += kThreads) {
      const int tt = idx / kRowsPerBlock, lr = idx % kRowsPerBlock, row = r0 + lr;
      if (row >= dv) continue;
      float out = sy[tt * kRowsPerBlock + lr];
      if (a.normalise) out = divide_normal(out, sden[tt]);
      a.y[(bh * a.y_tokens + a.y_first + c0 + tt) * dv + row] = from_float<T>(out);
    }
    __syncthreads();  // the next chunk overwrites the staging buffers
  }

#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    const int row = row_of[i];
    if (row < 0 || (row == dv && rb != row_blocks - 1)) continue;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int c = lane + 32 * j;
      if (c < m) a.s_out[(bh * a.rows + row) * m + c] = s[i][j];
    }
  }
}

template <class T, RuleKind kRule>
void launch_rule(const FastWeightLaunch<T>& a, cudaStream_t stream) {
  const int per_token = shared_floats_per_token(a.dk, a.m);
  const int chunk = int(std::min<int64_t>({int64_t(kMaxChunk), a.count,
                                           int64_t(kSharedBudget / (int(sizeof(float)) * per_token))}));
  if (chunk < 1)
    throw std::invalid_argument("fast-weight kernel: dk + m too large for shared memory (dk = " +
                                std::to_string(a.dk) + ", m = " + std::to_string(a.m) + ")");
  const int row_blocks = (a.dv + kRowsPerBlock - 1) / kRowsPerBlock;
  const dim3 grid(unsigned(a.BH * row_blocks));
  const std::size_t shared = std::size_t(chunk) * per_token * sizeof(float);
  if (a.m <= 128) fast_weight_kernel<T, kRule, 4><<<grid, kThreads, shared, stream>>>(a, chunk, row_blocks);
  else fast_weight_kernel<T, kRule, 16><<<grid, kThreads, shared, stream>>>(a, chunk, row_blocks);
  DFW_CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T>
void launch_fast_weight(const FastWeightLaunch<T>& a, cudaStream_t stream) {
  if (a.m < 1 || a.m > kFastWeightMaxM)
    throw std::invalid_argument("fast-weight kernel: feature width m = " + std::to_string(a.m) +
                                " outside [1, " + std::to_string(kFastWeightMaxM) + "]");
  if (a.BH * ((a.dv + kRowsPerBlock - 1) / kRowsPerBlock) > int64_t(INT32_MAX))
    throw std::invalid_argument("fast-weight kernel: B * H * ceil(dv / 16) exceeds the grid limit");
  if (a.count == 0 || a.BH == 0) return;
  NvtxRange range("fast_weight_kernel");
  switch (a.rule) {
    case RuleKind::add: launch_rule<T, RuleKind::add>(a, stream); break;
    case RuleKind::gated: launch_rule<T, RuleKind::gated>(a, stream); break;
    case RuleKind::delta: launch_rule<T, RuleKind::delta>(a, stream); break;
    case RuleKind::decay: launch_rule<T, RuleKind::decay>(a, stream); break;
  }
}

template void launch_fast_weight<float>(const FastWeightLaunch<float>&, cudaStream_t);
template void launch_fast_weight<Fp16>(const FastWeightLaunch<Fp16>&, cudaStream_t);
template void launch_fast_weight<Bf16>(const FastWeightLaunch<Bf16>&, cudaStream_t);

}  // namespace dfw
