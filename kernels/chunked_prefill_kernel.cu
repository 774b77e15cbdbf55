// The chunked prefill of the gated-linear family (add, gated, decay) over whole
// sequences on tensor cores (form "chunked", fp16 / bf16 inputs), in the inter / intra
// decomposition of flash-linear-attention's chunk_gla: parallel over (B*H x chunks),
// with a scan over chunks between the two passes.
//   Computes S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T and y_t = S_t phi(q_t)
//   [/ (z_t . phi(q_t) + eps)] for every token, and the final state (rows = dv + 1
//   with the z row when normalised), from s0. Inside a chunk of C tokens: the
//   two-level scheme of variants/cpu/chunked_cpu.cpp (sub-chunks of 16, exponents as
//   same-signed log-gate sums over their own span, chunk_math.hpp).
//   chunked_state_kernel: per chunk, its own contribution dS = Vx^T Kx from a zero state
//     (Vx = V e^{SA + after}, Kx = K e^{SB + after}; fp16/bf16 mma.sync m16n8k16 on
//     ldmatrix fragments, mma_f16.cuh, fp32 accumulate) and its decay totals e^{totA}, e^{totB}.
//   chunked_state_scan_kernel: per state element, S_{c+1} = e^{totA} S_c e^{totB} + dS_c
//     over the chunks in order; S_c, the state entering chunk c, replaces dS_c.
//   chunked_output_kernel: per chunk, Y = e^{PA} (e^{before A} Qs S_c^T (TF32 mma.sync,
//     mma_tf32.cuh: the fp32 state keeps its range; Qs loaded from shared memory, rows
//     padded to mp + 4 floats against bank conflicts, S_c from global memory) + sum_{J<I}
//     e^{midA} P_IJ V_J e^{SA}) with P_IJ = (Q_I e^{PB+mid}) (K_J e^{SB})^T (fp16/bf16
//     mma.sync m16n8k16, P_IJ stored from registers), both products of a tile summed in
//     registers (their accumulators share a lane layout) and added to Y once; plus the
//     diagonal sub-chunk pairwise with running products of gate values (CUDA cores).
//   Launch: the two chunk kernels grid min(B*H*chunks, kMaxBlocksPerSm * SMs) (a block
//   takes chunk after chunk, striding by the grid), block 256 (8 warps: per-tile work spread over warps, MMA tiles
//   one per warp); dynamic shared memory per pass (chunked_prefill_layout.hpp: arrays whose
//   phases do not meet share bytes) at C = 64, dk = dv = m = 64: 80 KiB (state) and 109 KiB
//   (output), two blocks per SM each; 214 KiB for the output pass at d = m = 128; the
//   fp16 / bf16 tiles' rows padded by 16 bytes so an ldmatrix matrix's 8 rows meet 8 bank
//   groups. Arrays past the device's opt-in limit (227 KiB on sm_90; with rows = d + 1, the
//   output pass at C > 112 for d = 64 and C > 64 for d = 128) spill, lowest priority first, to a
//   per-block slice of the workspace (the kShared = false instantiation: generic pointers,
//   its MMA operands loaded element by element, TileSpace::any, as ldmatrix reads shared
//   memory only). With every region in shared memory the kShared instantiation's tile
//   loops load with LDS / LDSM.
//   The scan: grid-stride blocks of 256 threads, one state element per thread.
//   Reads q, k (BH, T, dk), v (BH, T, dv) in T; gate (BH, T), gate_v (BH, T, dv),
//   gate_k (BH, T, m), feature parameters, s0 (BH, dv, m) in fp32; writes y (BH, T, dv)
//   in T and s_out (BH, rows, m) in fp32; workspace: the chunk states
//   (BH, chunks, rp, mp) and decay totals (BH, chunks, rp + mp) in fp32, then the spill.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "chunk_math.hpp"
#include "chunked_prefill_kernel.cuh"
#include "chunked_prefill_layout.hpp"
#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "device_limits.hpp"
#include "half_convert.hpp"
#include "mma_f16.cuh"
#include "mma_tf32.cuh"
#include "tile_elem.cuh"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kWarps = kChunkedWarps;
constexpr int kThreads = 32 * kWarps;
constexpr int kTile = kChunkedTile;  // 16: MMA tile edge = sub-chunk length
constexpr int kLaneCols = kChunkedPrefillMaxWidth / 32;  // diagonal scores: a lane holds columns lane + 32 u

// The block's working arrays and where each lives (chunked_prefill_layout.hpp).
using Region = ChunkedRegion;
using Layout = ChunkedLayout;

__device__ __forceinline__ int pair_index(int I, int J) { return I * (I - 1) / 2 + J; }

// Where a pass finds the chunk states and its spill (ChunkedPlan below).
struct ChunkedPassArgs {
  float* states = nullptr;          // (BH, chunks, rp, mp): dS_c after the state pass, S_c after the scan
  float* decay = nullptr;           // (BH, chunks, rp + mp): e^{totA} per value row, then e^{totB} per key column
  unsigned char* spill = nullptr;   // per-block slices of layout.global_bytes, or nullptr when that is 0
  int64_t chunks = 0;
  int C = 0;                        // tokens per chunk (the last may be shorter)
};

// One pass over the chunks this block takes (item = bh * chunks + chunk).
// shared: the block's dynamic shared memory.
template <class T, ChunkedPass kPass, bool kShared>
__device__ __forceinline__ void chunked_pass(const ChunkedPrefillLaunch<T>& a, const Layout& l,
                                             const ChunkedPassArgs& pa, unsigned char* shared) {
  using E = typename TileElem<T>::type;
  constexpr bool kOut = kPass == ChunkedPass::output;
  constexpr TileSpace kSpace = kShared ? TileSpace::shared : TileSpace::any;  // ldmatrix or element loads
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int dk = a.dk, dv = a.dv, m = a.m, rows = a.rows, C = pa.C;
  const int mp = l.mp, rp = l.rp, ke_ld = l.ke_ld, ve_ld = l.ve_ld, pe_ld = l.pe_ld;
  const RuleKind rule = a.rule;  // add, gated or decay: a branch every thread takes alike
  unsigned char* slice = kShared ? nullptr : pa.spill + int64_t(blockIdx.x) * int64_t(l.global_bytes);
  auto at = [&](Region r) -> unsigned char* {
    if constexpr (kShared) return shared + r.offset;
    return (r.global ? slice : shared) + r.offset;
  };
  auto f32 = [&](Region r) { return reinterpret_cast<float*>(at(r)); };
  auto elem = [&](Region r) { return reinterpret_cast<E*>(at(r)); };
  // Regions the pass does not use are empty (offset 0): never read or written.
  // Arrays of phases that do not meet share bytes (chunked_prefill_layout.hpp): each
  // phase below ends at a block barrier.
  float *Qf = f32(l.Qf), *Kf = f32(l.Kf), *Vf = f32(l.Vf), *Ga = f32(l.Ga), *Gb = f32(l.Gb), *Qs = f32(l.Qs);
  float *D = f32(l.D), *TA = f32(l.TA), *TB = f32(l.TB), *MA = f32(l.MA);
  float* Y = f32(l.Y);
  float* X = f32(l.X);               // (np, dk) raw rows for phi
  float* Xsq = X + l.np * dk;        // (np)
  E *KE = elem(l.KE), *VE = elem(l.VE), *PE = elem(l.PE);
  E* QJ = elem(l.QJ) + warp * kTile * ke_ld;

  for (int64_t item = blockIdx.x; item < a.BH * pa.chunks; item += gridDim.x) {
    const int64_t bh = item / pa.chunks, h = bh % a.H, t0 = item % pa.chunks * C;
    const int n = a.T_len - t0 < C ? int(a.T_len - t0) : C;
    const int nt = (n + kTile - 1) / kTile * kTile, ns = nt / kTile;
    const int64_t tok0 = bh * a.T_len + t0;  // flat index of the chunk's first token
    const FeatureSpec spec = head_feature_spec(a.phi, dk, m, a.w, a.b, a.omega, h);

    // 1. phi(q) into Qf (output pass), c_t phi(k) into Kf; v (and the z column), gate values.
    for (int which = kOut ? 0 : 1; which < 2; ++which) {
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
          if (which == 1) f *= write_scale(rule, rule == RuleKind::gated ? a.gate[tok0 + i] : 1.f);
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
        g = row_gate(rule, rule == RuleKind::gated ? a.gate[tok0 + i] : 1.f,
                     rule == RuleKind::decay ? a.gate_v + (tok0 + i) * dv : nullptr, r, dv);
      }
      Vf[idx] = v;
      Ga[idx] = g;
    }
    for (int idx = threadIdx.x; idx < nt * mp; idx += kThreads) {
      const int i = idx / mp, c = idx % mp;
      Gb[idx] = (i < n && c < m && rule == RuleKind::decay) ? column_gate(rule, a.gate_k + (tok0 + i) * m, c) : 1.f;
    }
    __syncthreads();

    // 2. (output) Diagonal sub-chunks, pairwise with running products of the gate values:
    //    scores d_i[j] (one warp per key j), then Y_i = sum_j d_i[j] prod A V_j.
    if constexpr (kOut) {
      for (int item_j = warp; item_j < ns * kTile; item_j += kWarps) {
        const int I = item_j / kTile, j = item_j % kTile, base = I * kTile;
        const int len = min(kTile, n - base);
        if (j >= len) continue;
        diag_scores_for_key<kLaneCols>(Qf + base * mp, Kf + base * mp,
                                       rule == RuleKind::decay ? Gb + base * mp : nullptr, mp, j, len, m, lane, 32,
                                       WarpSum(), D + base * kTile + j, kTile);
      }
      __syncthreads();
      for (int idx = threadIdx.x; idx < nt * rp; idx += kThreads) {
        const int i = idx / rp, r = idx % rp, base = i / kTile * kTile;
        Y[idx] = (i < n && r < rows) ? diag_value(D + i * kTile, Ga + base * rp, Vf + base * rp, rp, i - base, r) : 0.f;
      }
      __syncthreads();
    }

    // 3. Prefix / suffix exponentials per sub-chunk column: Ga -> e^{PA} and Q *= e^{PB}
    //    (output pass), V *= e^{SA}, K *= e^{SB}; log totals of whole sub-chunks into TA, TB.
    for (int idx = threadIdx.x; idx < ns * (rp + mp); idx += kThreads) {
      const int I = idx / (rp + mp), col = idx % (rp + mp), base = I * kTile;
      const int len = min(kTile, n - base);
      if (col < rp) {
        const SubChunkColumn s = sub_chunk_column(Ga + base * rp + col, rp, len);
#pragma unroll
        for (int i = 0; i < kTile; ++i) {
          if constexpr (kOut) Ga[(base + i) * rp + col] = s.ep[i];
          Vf[(base + i) * rp + col] *= s.es[i];
        }
        TA[I * rp + col] = s.log_total;
      } else {
        const int c = col - rp;
        const SubChunkColumn s = sub_chunk_column(Gb + base * mp + c, mp, len);
#pragma unroll
        for (int i = 0; i < kTile; ++i) {
          if constexpr (kOut) Qf[(base + i) * mp + c] *= s.ep[i];
          Kf[(base + i) * mp + c] *= s.es[i];
        }
        TB[I * mp + c] = s.log_total;
      }
    }
    __syncthreads();

    if constexpr (!kOut) {
      // 4s. Decay totals; Vx = V e^{SA + after}, Kx = K e^{SB + after}.
      float* decay = pa.decay + item * (rp + mp);
      for (int idx = threadIdx.x; idx < rp + mp; idx += kThreads)
        decay[idx] = idx < rp ? expf(log_total_after(TA + idx, rp, -1, ns))
                              : expf(log_total_after(TB + (idx - rp), mp, -1, ns));
      for (int idx = threadIdx.x; idx < nt * mp; idx += kThreads) {
        const int i = idx / mp, c = idx % mp;
        KE[i * ke_ld + c] = tile_from_float<E>(Kf[idx] * expf(log_total_after(TB + c, mp, i / kTile, ns)));
      }
      for (int idx = threadIdx.x; idx < nt * rp; idx += kThreads) {
        const int i = idx / rp, r = idx % rp;
        VE[i * ve_ld + r] = tile_from_float<E>(Vf[idx] * expf(log_total_after(TA + r, rp, i / kTile, ns)));
      }
      __syncthreads();

      // 5s. dS = Vx^T Kx into the chunk's state slot, one warp per 16 x 16 tile, fp32 accumulate.
      float* dS = pa.states + item * rp * mp;
      for (int tile = warp; tile < (rp / kTile) * (mp / kTile); tile += kWarps) {
        const int r0 = tile / (mp / kTile) * kTile, c0 = tile % (mp / kTile) * kTile;
        float acc[2][4] = {};
        for (int kk = 0; kk < nt; kk += kTile) {
          uint32_t fa[4], fb[4];
          load_a_16x16_cols<kSpace>(fa, VE + kk * ve_ld + r0, ve_ld, lane);  // Vx^T: V rows as columns
          load_b_16x16_rows<kSpace>(fb, KE + kk * ke_ld + c0, ke_ld, lane);
          mma_m16n8k16<E>(acc[0], fa, fb[0], fb[1], acc[0]);
          mma_m16n8k16<E>(acc[1], fa, fb[2], fb[3], acc[1]);
        }
        store_acc_16x16(dS + r0 * mp + c0, mp, acc, lane);
      }
    } else {
      const float* S = pa.states + item * rp * mp;  // (rp, mp) the state entering the chunk
      // 4. Operands: Qs = Q e^{PB + before} (fp32, for TF32; rows qs_ld apart) and K e^{SB} in E;
      //    then (4b, once Kf is free) V e^{SA} in E and e^{midA} of every sub-chunk pair J < I.
      for (int idx = threadIdx.x; idx < nt * mp; idx += kThreads) {
        const int i = idx / mp, c = idx % mp;
        Qs[i * l.qs_ld + c] = Qf[idx] * expf(log_total_before(TB + c, mp, i / kTile));
        KE[i * ke_ld + c] = tile_from_float<E>(Kf[idx]);
      }
      __syncthreads();  // VE and MA may take Kf's bytes
      for (int idx = threadIdx.x; idx < nt * rp; idx += kThreads)
        VE[idx / rp * ve_ld + idx % rp] = tile_from_float<E>(Vf[idx]);
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
          QJ[idx / mp * ke_ld + c] =
              tile_from_float<E>(Qf[I * kTile * mp + idx] * expf(log_total_between(TB + c, mp, J, I)));
        }
        __syncwarp();
        float acc[2][4] = {};
        for (int kk = 0; kk < mp; kk += kTile) {
          uint32_t fa[4], fb[4];
          load_a_16x16<kSpace>(fa, QJ + kk, ke_ld, lane);
          load_b_16x16_cols<kSpace>(fb, KE + J * kTile * ke_ld + kk, ke_ld, lane);  // K_J^T: K rows as columns
          mma_m16n8k16<E>(acc[0], fa, fb[0], fb[1], acc[0]);
          mma_m16n8k16<E>(acc[1], fa, fb[2], fb[3], acc[1]);
        }
        E* P = PE + p * kTile * pe_ld;
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            P[acc_row_16x16(e, lane) * pe_ld + acc_col_16x16(h, e, lane)] = tile_from_float<E>(acc[h][e]);
        __syncwarp();  // QJ is rewritten by the next pair
      }
      __syncthreads();

      // 6. Per (sub-chunk I, 16 value columns), in registers (the two products' accumulators
      //    share one lane layout): y = e^{before A} Qs_I S^T + sum_{J<I} e^{midA} P_IJ V_J,
      //    then Y += e^{PA} y.
      for (int tile = warp; tile < ns * (rp / kTile); tile += kWarps) {
        const int I = tile / (rp / kTile), r0 = tile % (rp / kTile) * kTile;
        float y[2][4] = {};  // Qs_I S^T over two n8 tiles (mma_tf32.cuh: Qs by LDS, S by LDG)
        for (int kk = 0; kk < mp; kk += 8) {
          uint32_t fa[4];
          load_a_tf32(fa, Qs + I * kTile * l.qs_ld + kk, l.qs_ld, lane);
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            uint32_t fb[2];  // S^T: column n of the tile is state row r0 + 8 h + n
            load_b_tf32_col(fb, S + (r0 + 8 * h) * mp + kk, mp, lane);
            mma_m16n8k8_tf32(y[h], fa, fb, y[h]);
          }
        }
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
          for (int e = 0; e < 4; ++e) y[h][e] *= expf(log_total_before(TA + r0 + acc_col_16x16(h, e, lane), rp, I));
        for (int J = 0; J < I; ++J) {
          const int p = pair_index(I, J);
          uint32_t fa[4], fb[4];
          load_a_16x16<kSpace>(fa, PE + p * kTile * pe_ld, pe_ld, lane);
          load_b_16x16_rows<kSpace>(fb, VE + J * kTile * ve_ld + r0, ve_ld, lane);
          float pv[2][4] = {};
          mma_m16n8k16<E>(pv[0], fa, fb[0], fb[1], pv[0]);
          mma_m16n8k16<E>(pv[1], fa, fb[2], fb[3], pv[1]);
#pragma unroll
          for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int e = 0; e < 4; ++e) y[h][e] += pv[h][e] * MA[p * rp + r0 + acc_col_16x16(h, e, lane)];
        }
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int i = I * kTile + acc_row_16x16(e, lane), r = r0 + acc_col_16x16(h, e, lane);
            Y[i * rp + r] += y[h][e] * Ga[i * rp + r];
          }
      }
      __syncthreads();

      // 7. Outputs.
      for (int idx = threadIdx.x; idx < n * dv; idx += kThreads) {
        const int i = idx / dv, r = idx % dv;
        float out = Y[i * rp + r];
        if (a.normalise) out /= Y[i * rp + dv] + a.norm_eps;
        a.y[(tok0 + i) * dv + r] = from_float<T>(out);
      }
    }
    __syncthreads();  // the next chunk reuses every region
  }
}

template <class T, bool kShared>
__global__ void __launch_bounds__(kThreads, 1) chunked_state_kernel(ChunkedPrefillLaunch<T> a, Layout l,
                                                                 ChunkedPassArgs pa) {
  extern __shared__ __align__(128) unsigned char shared[];
  chunked_pass<T, ChunkedPass::state, kShared>(a, l, pa, shared);
}

template <class T, bool kShared>
__global__ void __launch_bounds__(kThreads, 1) chunked_output_kernel(ChunkedPrefillLaunch<T> a, Layout l,
                                                                  ChunkedPassArgs pa) {
  extern __shared__ __align__(128) unsigned char shared[];
  chunked_pass<T, ChunkedPass::output, kShared>(a, l, pa, shared);
}

// S_0 = s0 (0 in the z row and the padding), S_{c+1} = (e^{totA} e^{totB}^T) * S_c + dS_c:
// S_c replaces dS_c in states; the state after the last chunk goes to s_out.
// One thread per element of a (rp, mp) state, blocks of kScanThreads striding over
// (BH x tiles).
constexpr int kScanThreads = 256;
__global__ void __launch_bounds__(kScanThreads)
    chunked_state_scan_kernel(float* states, const float* decay, const float* s0, float* s_out, int64_t BH,
                              int64_t chunks, int rp, int mp, int dv, int m, int rows) {
  const int64_t tiles = (int64_t(rp) * mp + kScanThreads - 1) / kScanThreads;
  for (int64_t block = blockIdx.x; block < BH * tiles; block += gridDim.x) {
    const int64_t bh = block / tiles;
    const int e = int(block % tiles) * kScanThreads + threadIdx.x;
    if (e >= rp * mp) continue;
    const int r = e / mp, c = e % mp;
    float s = (s0 && r < dv && c < m) ? s0[(bh * dv + r) * m + c] : 0.f;
    float* S = states + bh * chunks * rp * mp + e;
    const float* d = decay + bh * chunks * (rp + mp);
    for (int64_t ch = 0; ch < chunks; ++ch, S += int64_t(rp) * mp, d += rp + mp) {
      const float dS = *S;
      *S = s;
      s = s * d[r] * d[rp + c] + dS;
    }
    if (r < rows && c < m) s_out[(bh * rows + r) * m + c] = s;
  }
}

// Blocks per SM a chunk pass launches at most; past that, each block takes several
// chunks in turn. Enough for the SMs' schedulers to balance (at most 2 blocks of a
// pass are resident per SM at d = 64), and it bounds the spill slices, one per block.
constexpr int64_t kMaxBlocksPerSm = 8;

// Chunk length, layouts, grids and workspace of one launch.
struct ChunkedPlan {
  int C = 0;
  int64_t chunks = 0;
  Layout state, output;
  int64_t grid = 0;  // blocks of either chunk pass
  std::size_t states_bytes = 0, decay_bytes = 0, spill_bytes = 0;
  std::size_t total() const { return states_bytes + decay_bytes + spill_bytes; }
};

template <class T>
ChunkedPlan plan_of(const ChunkedPrefillLaunch<T>& a) {
  ChunkedPlan p;
  const ChunkStateBytes w = chunk_state_bytes(a.BH, a.T_len, a.chunk, a.rows, a.m);
  p.C = w.C;
  p.chunks = w.chunks;
  p.states_bytes = w.states;
  p.decay_bytes = w.decay;
  const std::size_t elem = sizeof(typename TileElem<T>::type), budget = std::size_t(device_limits().max_shared_optin);
  p.state = make_chunked_layout(ChunkedPass::state, p.C, a.dk, a.m, a.rows, elem, budget);
  p.output = make_chunked_layout(ChunkedPass::output, p.C, a.dk, a.m, a.rows, elem, budget);
  const int64_t items = a.BH * p.chunks;
  p.grid = std::min<int64_t>(items, kMaxBlocksPerSm * device_limits().sms);
  p.spill_bytes = std::size_t(p.grid) * std::max(p.state.global_bytes, p.output.global_bytes);
  return p;
}

template <class T>
void launch_passes(const ChunkedPrefillLaunch<T>& a, const ChunkedPlan& p, cudaStream_t stream) {
  ChunkedPassArgs pa;
  pa.states = reinterpret_cast<float*>(a.workspace);
  pa.decay = reinterpret_cast<float*>(a.workspace + p.states_bytes);
  pa.spill = p.spill_bytes > 0 ? a.workspace + p.states_bytes + p.decay_bytes : nullptr;
  pa.chunks = p.chunks;
  pa.C = p.C;
  auto* state_kernel = p.state.global_bytes == 0 ? chunked_state_kernel<T, true> : chunked_state_kernel<T, false>;
  allow_optin_shared(reinterpret_cast<const void*>(state_kernel));
  state_kernel<<<unsigned(p.grid), kThreads, p.state.shared_bytes, stream>>>(a, p.state, pa);
  DFW_CUDA_CHECK_LAUNCH();

  const int rp = p.output.rp, mp = p.output.mp;
  const int64_t scan_blocks = a.BH * ((int64_t(rp) * mp + kScanThreads - 1) / kScanThreads);
  chunked_state_scan_kernel<<<unsigned(std::min<int64_t>(scan_blocks, INT32_MAX)), kScanThreads, 0, stream>>>(
      pa.states, pa.decay, a.s0, a.s_out, a.BH, p.chunks, rp, mp, a.dv, a.m, a.rows);
  DFW_CUDA_CHECK_LAUNCH();

  auto* output_kernel = p.output.global_bytes == 0 ? chunked_output_kernel<T, true> : chunked_output_kernel<T, false>;
  allow_optin_shared(reinterpret_cast<const void*>(output_kernel));
  output_kernel<<<unsigned(p.grid), kThreads, p.output.shared_bytes, stream>>>(a, p.output, pa);
  DFW_CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T>
std::size_t chunked_prefill_workspace_bytes(const ChunkedPrefillLaunch<T>& a) {
  return a.BH == 0 || a.T_len == 0 ? 0 : plan_of(a).total();
}

template <class T>
void launch_chunked_prefill(const ChunkedPrefillLaunch<T>& a, cudaStream_t stream) {
  if (a.rule == RuleKind::delta) throw std::invalid_argument("chunked prefill kernel: chunked covers add, gated, decay");
  if (a.m < 1 || a.m > kChunkedPrefillMaxWidth || a.dv < 1 || a.dv > kChunkedPrefillMaxWidth || a.dk < 1)
    throw std::invalid_argument("chunked prefill kernel: m and dv must lie in [1, " +
                                std::to_string(kChunkedPrefillMaxWidth) + "] (m = " + std::to_string(a.m) +
                                ", dv = " + std::to_string(a.dv) + ")");
  if (a.chunk < 1) throw std::invalid_argument("chunked prefill kernel: chunk must be >= 1");
  if (a.BH == 0 || a.T_len == 0) return;
  const ChunkedPlan p = plan_of(a);
  if (!a.workspace)
    throw std::invalid_argument("chunked prefill kernel: these sizes need a workspace of " +
                                std::to_string(p.total()) + " bytes (chunked_prefill_workspace_bytes)");
  NvtxRange range("chunked_prefill");
  launch_passes(a, p, stream);
}

template std::size_t chunked_prefill_workspace_bytes<Fp16>(const ChunkedPrefillLaunch<Fp16>&);
template std::size_t chunked_prefill_workspace_bytes<Bf16>(const ChunkedPrefillLaunch<Bf16>&);
template void launch_chunked_prefill<Fp16>(const ChunkedPrefillLaunch<Fp16>&, cudaStream_t);
template void launch_chunked_prefill<Bf16>(const ChunkedPrefillLaunch<Bf16>&, cudaStream_t);

}  // namespace dfw
