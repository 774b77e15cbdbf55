// chunked_prefill_kernel: the gated-linear family (add, gated, decay) over whole
// sequences, chunkwise on tensor cores (form "chunked", fp16 / bf16 inputs).
//   Computes S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T and y_t = S_t phi(q_t)
//   [/ (z_t . phi(q_t) + eps)] for every token, and the final state (rows = dv + 1
//   with the z row when normalised), from s0.
//   Algorithm: chunks of C tokens in order, the fp32 state carried in shared memory;
//   inside a chunk the two-level scheme of variants/cpu/chunked_cpu.cpp (sub-chunks of
//   16, exponents as same-signed log-gate sums over their own span, chunk_math.hpp):
//   incoming state Qs S^T (TF32 MMA: the fp32 state keeps its range), earlier
//   sub-chunks P_IJ = (Q_I e^{PB+mid}) (K_J e^{SB})^T then P_IJ (V_J e^{SA}) (fp16/bf16
//   MMA, fp32 accumulate), the diagonal sub-chunk pairwise with running products of
//   gate values (CUDA cores), state update S = e^{totA} S e^{totB} + Vx^T Kx (MMA,
//   accumulating into the fp32 state).
//   Launch: grid (B*H), one block per (b, h) walks its chunks in order; block 256
//   (8 warps: per-tile work is spread over warps, MMA tiles one per warp). Dynamic
//   shared memory (chunked_prefill_layout.hpp): C = 64, dk = dv = m = 64: 163 KiB (181 KiB with the
//   z row); C = 16: 70 KiB. Arrays past the device's opt-in limit (227 KiB on sm_90;
//   e.g. C = 128 or 256, or m = 128) spill, lowest priority first, to a per-block
//   slice of a global workspace the form allocates.
//   Reads q, k (BH, T, dk), v (BH, T, dv) in T; gate (BH, T), gate_v (BH, T, dv),
//   gate_k (BH, T, m), feature parameters, s0 (BH, dv, m) in fp32; writes y (BH, T, dv)
//   in T and s_out (BH, rows, m) in fp32.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "chunk_math.hpp"
#include "chunked_prefill_kernel.cuh"
#include "chunked_prefill_layout.hpp"
#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "half_convert.hpp"
#include "tile_elem.cuh"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kWarps = kChunkedWarps;
constexpr int kThreads = 32 * kWarps;
constexpr int kTile = kChunkedTile;  // 16: MMA tile edge = sub-chunk length
constexpr int kLaneCols = kChunkedPrefillMaxWidth / 32;  // diagonal scores: a lane holds columns lane + 32 u

// The block's working arrays and where each lives (chunked_prefill_layout.hpp).
using Region = ChunkedRegion;
using Layout = ChunkedLayout;

__device__ __forceinline__ int pair_index(int I, int J) { return I * (I - 1) / 2 + J; }

template <class T, int kRuleInt>
__global__ void __launch_bounds__(kThreads) chunked_prefill_kernel(ChunkedPrefillLaunch<T> a, Layout l) {
  using E = typename TileElem<T>::type;
  constexpr RuleKind kRule = RuleKind(kRuleInt);
  const int64_t bh = blockIdx.x, h = bh % a.H;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int dk = a.dk, dv = a.dv, m = a.m, rows = a.rows;
  const int C = a.chunk < a.T_len ? a.chunk : int(a.T_len);
  const int mp = l.mp, rp = l.rp;

  extern __shared__ __align__(128) unsigned char shared[];
  unsigned char* slice = a.workspace + bh * l.global_bytes;
  auto f32 = [&](Region r) { return reinterpret_cast<float*>((r.global ? slice : shared) + r.offset); };
  auto elem = [&](Region r) { return reinterpret_cast<E*>((r.global ? slice : shared) + r.offset); };
  float *S = f32(l.S), *Qf = f32(l.Qf), *Kf = f32(l.Kf), *Vf = f32(l.Vf), *Ga = f32(l.Ga), *Gb = f32(l.Gb);
  float *D = f32(l.D), *TA = f32(l.TA), *TB = f32(l.TB), *MA = f32(l.MA);
  float* Y = f32(l.Y);
  float* X = Y;                      // (np, dk) raw rows for phi, aliases Y
  float* Xsq = Y + l.np * dk;        // (np)
  E *KE = elem(l.KE), *VE = elem(l.VE), *PE = elem(l.PE);
  E* QJ = elem(l.QJ) + warp * kTile * mp;
  float* SC = f32(l.SC) + warp * kTile * kTile;

  const FeatureSpec spec = head_feature_spec(a.phi, dk, m, a.w, a.b, a.omega, h);

  for (int idx = threadIdx.x; idx < rp * mp; idx += kThreads) {
    const int r = idx / mp, c = idx % mp;
    S[idx] = (a.s0 && r < dv && c < m) ? a.s0[(bh * dv + r) * m + c] : 0.f;
  }

  for (int64_t t0 = 0; t0 < a.T_len; t0 += C) {
    const int n = a.T_len - t0 < C ? int(a.T_len - t0) : C;
    const int nt = (n + kTile - 1) / kTile * kTile, ns = nt / kTile;
    const int64_t tok0 = bh * a.T_len + t0;  // flat index of the chunk's first token

    // 1. phi(q) into Qf, c_t phi(k) into Kf; v (and the z column), gate values.
    for (int which = 0; which < 2; ++which) {
      const T* src = which == 0 ? a.q : a.k;
      for (int idx = threadIdx.x; idx < nt * dk; idx += kThreads) {
        const int i = idx / dk, c = idx % dk;
        X[idx] = i < n ? to_float(src[(tok0 + i) * dk + c]) : 0.f;
      }
      __syncthreads();
      if (a.phi == FeatureKind::favor)
        for (int i = threadIdx.x; i < nt; i += kThreads) {
          float sq = 0.f;
          for (int c = 0; c < dk; ++c) sq += X[i * dk + c] * X[i * dk + c];
          Xsq[i] = sq;
        }
      __syncthreads();
      float* dst = which == 0 ? Qf : Kf;
      for (int idx = threadIdx.x; idx < nt * mp; idx += kThreads) {
        const int i = idx / mp, c = idx % mp;
        float f = 0.f;
        if (i < n && c < m) {
          f = feature_at(spec, X + i * dk, a.phi == FeatureKind::favor ? Xsq[i] : 0.f, c);
          if (which == 1) f *= write_scale(kRule, kRule == RuleKind::gated ? a.gate[tok0 + i] : 1.f);
        }
        dst[idx] = f;
      }
      __syncthreads();  // X is overwritten next
    }
    for (int idx = threadIdx.x; idx < nt * rp; idx += kThreads) {
      const int i = idx / rp, r = idx % rp;
      const bool real = i < n && r < rows;
      float v = 0.f, g = 1.f;
      if (real) {
        v = r < dv ? to_float(a.v[(tok0 + i) * dv + r]) : 1.f;  // r == dv: the z row
        g = row_gate(kRule, kRule == RuleKind::gated ? a.gate[tok0 + i] : 1.f,
                     kRule == RuleKind::decay ? a.gate_v + (tok0 + i) * dv : nullptr, r, dv);
      }
      Vf[idx] = v;
      Ga[idx] = g;
    }
    for (int idx = threadIdx.x; idx < nt * mp; idx += kThreads) {
      const int i = idx / mp, c = idx % mp;
      Gb[idx] = (i < n && c < m && kRule == RuleKind::decay) ? column_gate(kRule, a.gate_k + (tok0 + i) * m, c) : 1.f;
    }
    __syncthreads();

    // 2. Diagonal sub-chunks, pairwise with running products of the gate values:
    //    scores d_i[j] (one warp per key j), then Y_i = sum_j d_i[j] prod A V_j.
    for (int item = warp; item < ns * kTile; item += kWarps) {
      const int I = item / kTile, j = item % kTile, base = I * kTile;
      const int len = min(kTile, n - base);
      if (j >= len) continue;
      diag_scores_for_key<kLaneCols>(Qf + base * mp, Kf + base * mp,
                                     kRule == RuleKind::decay ? Gb + base * mp : nullptr, mp, j, len, m, lane, 32,
                                     WarpSum(), D + base * kTile + j, kTile);
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < nt * rp; idx += kThreads) {
      const int i = idx / rp, r = idx % rp, base = i / kTile * kTile;
      Y[idx] = (i < n && r < rows) ? diag_value(D + i * kTile, Ga + base * rp, Vf + base * rp, rp, i - base, r) : 0.f;
    }
    __syncthreads();

    // 3. Prefix / suffix exponentials per sub-chunk column: Ga -> e^{PA}, V *= e^{SA},
    //    Q *= e^{PB}, K *= e^{SB}; log totals of whole sub-chunks into TA, TB.
    for (int idx = threadIdx.x; idx < ns * (rp + mp); idx += kThreads) {
      const int I = idx / (rp + mp), col = idx % (rp + mp), base = I * kTile;
      const int len = min(kTile, n - base);
      if (col < rp) {
        const SubChunkColumn s = sub_chunk_column(Ga + base * rp + col, rp, len);
#pragma unroll
        for (int i = 0; i < kTile; ++i) {
          Ga[(base + i) * rp + col] = s.ep[i];
          Vf[(base + i) * rp + col] *= s.es[i];
        }
        TA[I * rp + col] = s.log_total;
      } else {
        const int c = col - rp;
        const SubChunkColumn s = sub_chunk_column(Gb + base * mp + c, mp, len);
#pragma unroll
        for (int i = 0; i < kTile; ++i) {
          Qf[(base + i) * mp + c] *= s.ep[i];
          Kf[(base + i) * mp + c] *= s.es[i];
        }
        TB[I * mp + c] = s.log_total;
      }
    }
    __syncthreads();

    // 4. Operands: Qs = Q e^{PB + before} (fp32, for TF32), K e^{SB} and V e^{SA} in E,
    //    e^{midA} of every sub-chunk pair J < I.
    for (int idx = threadIdx.x; idx < nt * mp; idx += kThreads) {
      const int i = idx / mp, c = idx % mp;
      Gb[idx] = Qf[idx] * expf(log_total_before(TB + c, mp, i / kTile));
      KE[idx] = tile_from_float<E>(Kf[idx]);
    }
    for (int idx = threadIdx.x; idx < nt * rp; idx += kThreads) VE[idx] = tile_from_float<E>(Vf[idx]);
    for (int idx = threadIdx.x; idx < l.pairs * rp; idx += kThreads) {
      const int p = idx / rp, r = idx % rp;
      int I = 1;
      while (pair_index(I + 1, 0) <= p) ++I;
      const int J = p - pair_index(I, 0);
      if (I < ns) MA[idx] = expf(log_total_between(TA + r, rp, J, I));
    }
    __syncthreads();

    // 5. Scores of earlier sub-chunks: P_IJ = (Q_I e^{PB + midB}) (K_J e^{SB})^T, one warp per pair.
    for (int p = warp; p < ns * (ns - 1) / 2; p += kWarps) {
      int I = 1;
      while (pair_index(I + 1, 0) <= p) ++I;
      const int J = p - pair_index(I, 0);
      for (int idx = lane; idx < kTile * mp; idx += 32) {
        const int c = idx % mp;
        QJ[idx] = tile_from_float<E>(Qf[I * kTile * mp + idx] * expf(log_total_between(TB + c, mp, J, I)));
      }
      __syncwarp();
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
      for (int kk = 0; kk < mp; kk += kTile) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::col_major> fb;  // K_J^T: K rows as columns
        wmma::load_matrix_sync(fa, QJ + kk, mp);
        wmma::load_matrix_sync(fb, KE + J * kTile * mp + kk, mp);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(SC, acc, kTile, wmma::mem_row_major);
      __syncwarp();
      for (int idx = lane; idx < kTile * kTile; idx += 32) PE[p * kTile * kTile + idx] = tile_from_float<E>(SC[idx]);
      __syncwarp();  // QJ and SC are rewritten by the next pair
    }
    __syncthreads();

    // 6. Per (sub-chunk I, 16 value columns): Y += e^{PA} (e^{before A} Qs S^T + sum_J e^{midA} P_IJ V_J e^{SA}).
    for (int tile = warp; tile < ns * (rp / kTile); tile += kWarps) {
      const int I = tile / (rp / kTile), r0 = tile % (rp / kTile) * kTile;
      {
        wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
        wmma::fill_fragment(acc, 0.f);
        for (int kk = 0; kk < mp; kk += 8) {
          wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
          wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb;  // S^T
          wmma::load_matrix_sync(fa, Gb + I * kTile * mp + kk, mp);
          wmma::load_matrix_sync(fb, S + r0 * mp + kk, mp);
#pragma unroll
          for (int e = 0; e < fa.num_elements; ++e) fa.x[e] = wmma::__float_to_tf32(fa.x[e]);
#pragma unroll
          for (int e = 0; e < fb.num_elements; ++e) fb.x[e] = wmma::__float_to_tf32(fb.x[e]);
          wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(SC, acc, kTile, wmma::mem_row_major);
      }
      __syncwarp();
      for (int idx = lane; idx < kTile * kTile; idx += 32) {
        const int i = I * kTile + idx / kTile, r = r0 + idx % kTile;
        Y[i * rp + r] += SC[idx] * expf(log_total_before(TA + r, rp, I)) * Ga[i * rp + r];
      }
      __syncwarp();
      for (int J = 0; J < I; ++J) {
        const int p = pair_index(I, J);
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::row_major> fb;
        wmma::fill_fragment(acc, 0.f);
        wmma::load_matrix_sync(fa, PE + p * kTile * kTile, kTile);
        wmma::load_matrix_sync(fb, VE + J * kTile * rp + r0, rp);
        wmma::mma_sync(acc, fa, fb, acc);
        wmma::store_matrix_sync(SC, acc, kTile, wmma::mem_row_major);
        __syncwarp();
        for (int idx = lane; idx < kTile * kTile; idx += 32) {
          const int i = I * kTile + idx / kTile, r = r0 + idx % kTile;
          Y[i * rp + r] += SC[idx] * MA[p * rp + r] * Ga[i * rp + r];
        }
        __syncwarp();
      }
    }
    __syncthreads();

    // 7. Outputs; state decayed by the chunk's totals; Vx = V e^{SA + after}, Kx = K e^{SB + after}.
    for (int idx = threadIdx.x; idx < n * dv; idx += kThreads) {
      const int i = idx / dv, r = idx % dv;
      float out = Y[i * rp + r];
      if (a.normalise) out /= Y[i * rp + dv] + a.norm_eps;
      a.y[(tok0 + i) * dv + r] = from_float<T>(out);
    }
    for (int idx = threadIdx.x; idx < rp * mp; idx += kThreads) {
      const int r = idx / mp, c = idx % mp;
      S[idx] *= expf(log_total_after(TA + r, rp, -1, ns)) * expf(log_total_after(TB + c, mp, -1, ns));
    }
    for (int idx = threadIdx.x; idx < nt * mp; idx += kThreads) {
      const int i = idx / mp, c = idx % mp;
      KE[idx] = tile_from_float<E>(Kf[idx] * expf(log_total_after(TB + c, mp, i / kTile, ns)));
    }
    for (int idx = threadIdx.x; idx < nt * rp; idx += kThreads) {
      const int i = idx / rp, r = idx % rp;
      VE[idx] = tile_from_float<E>(Vf[idx] * expf(log_total_after(TA + r, rp, i / kTile, ns)));
    }
    __syncthreads();

    // 8. S += Vx^T Kx, one warp per 16 x 16 state tile, accumulating in fp32.
    for (int tile = warp; tile < (rp / kTile) * (mp / kTile); tile += kWarps) {
      const int r0 = tile / (mp / kTile) * kTile, c0 = tile % (mp / kTile) * kTile;
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, S + r0 * mp + c0, mp, wmma::mem_row_major);
      for (int kk = 0; kk < nt; kk += kTile) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::col_major> fa;  // Vx^T: V rows as columns
        wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::row_major> fb;
        wmma::load_matrix_sync(fa, VE + kk * rp + r0, rp);
        wmma::load_matrix_sync(fb, KE + kk * mp + c0, mp);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(S + r0 * mp + c0, acc, mp, wmma::mem_row_major);
    }
    __syncthreads();  // the next chunk reuses every region
  }

  for (int idx = threadIdx.x; idx < rows * m; idx += kThreads) {
    const int r = idx / m, c = idx % m;
    a.s_out[(bh * rows + r) * m + c] = S[r * mp + c];
  }
}

// The current device's opt-in shared memory per block (queried once per process).
int max_shared_optin() {
  static const int bytes = [] {
    int dev = 0, b = 0;
    DFW_CUDA_CHECK(cudaGetDevice(&dev));
    DFW_CUDA_CHECK(cudaDeviceGetAttribute(&b, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return b;
  }();
  return bytes;
}

template <class T, RuleKind kRule>
void launch_rule(const ChunkedPrefillLaunch<T>& a, const Layout& l, cudaStream_t stream) {
  auto* kernel = chunked_prefill_kernel<T, int(kRule)>;
  // Once per instantiation, on its first launch (a warm-up run): allow up to the opt-in limit.
  static const bool configured = [kernel] {
    DFW_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_shared_optin()));
    return true;
  }();
  (void)configured;
  kernel<<<unsigned(a.BH), kThreads, l.shared_bytes, stream>>>(a, l);
  DFW_CUDA_CHECK_LAUNCH();
}

template <class T>
Layout layout_of(const ChunkedPrefillLaunch<T>& a) {
  const int C = int(std::min<int64_t>(a.chunk, std::max<int64_t>(a.T_len, 1)));
  return make_chunked_layout(C, a.dk, a.m, a.rows, sizeof(typename TileElem<T>::type), std::size_t(max_shared_optin()));
}

}  // namespace

template <class T>
std::size_t chunked_prefill_workspace_bytes(const ChunkedPrefillLaunch<T>& a) {
  return std::size_t(a.BH) * layout_of(a).global_bytes;
}

template <class T>
void launch_chunked_prefill(const ChunkedPrefillLaunch<T>& a, cudaStream_t stream) {
  if (a.rule == RuleKind::delta) throw std::invalid_argument("chunked prefill kernel: chunked covers add, gated, decay");
  if (a.m < 1 || a.m > kChunkedPrefillMaxWidth || a.dv < 1 || a.dv > kChunkedPrefillMaxWidth || a.dk < 1)
    throw std::invalid_argument("chunked prefill kernel: m and dv must lie in [1, " +
                                std::to_string(kChunkedPrefillMaxWidth) + "] (m = " + std::to_string(a.m) +
                                ", dv = " + std::to_string(a.dv) + ")");
  if (a.chunk < 1) throw std::invalid_argument("chunked prefill kernel: chunk must be >= 1");
  if (a.BH > int64_t(INT32_MAX)) throw std::invalid_argument("chunked prefill kernel: B * H exceeds the grid limit");
  if (a.BH == 0 || a.T_len == 0) return;
  const Layout l = layout_of(a);
  if (l.global_bytes > 0 && !a.workspace)
    throw std::invalid_argument("chunked prefill kernel: these sizes need a workspace of " +
                                std::to_string(chunked_prefill_workspace_bytes(a)) + " bytes");
  NvtxRange range("chunked_prefill_kernel");
  switch (a.rule) {
    case RuleKind::add: launch_rule<T, RuleKind::add>(a, l, stream); break;
    case RuleKind::gated: launch_rule<T, RuleKind::gated>(a, l, stream); break;
    case RuleKind::decay: launch_rule<T, RuleKind::decay>(a, l, stream); break;
    case RuleKind::delta: break;
  }
}

template std::size_t chunked_prefill_workspace_bytes<Fp16>(const ChunkedPrefillLaunch<Fp16>&);
template std::size_t chunked_prefill_workspace_bytes<Bf16>(const ChunkedPrefillLaunch<Bf16>&);
template void launch_chunked_prefill<Fp16>(const ChunkedPrefillLaunch<Fp16>&, cudaStream_t);
template void launch_chunked_prefill<Bf16>(const ChunkedPrefillLaunch<Bf16>&, cudaStream_t);

}  // namespace dfw
