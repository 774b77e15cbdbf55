// chunked_backward: the backward of the gated-linear family over chunks (form
// "chunked", fp32), the scheme of variants/cpu/chunked_backward_cpu.cpp on the device
// (docs/MATH.md "The chunked backward"). Chunks of C <= 16 tokens; every gate product
// is a running product over its own span (PA, PB up to a token, RA, RB after it, the
// pairs' A_ij, B_ij over (j, i]), so nothing is the exponent of a difference and the
// gate gradients are sums of same-signed-span terms, never q dq - k dk.
//   chunk_state_kernel:    per chunk, its own state Vd^T Kd (Vd = V * RA, Kd = K * RB,
//                          K = c phi(k)) and its decay totals TA, TB.
//   state_scan_kernel:     per state element, the state S0 entering every chunk, from s0
//                          (replacing the chunk's own state).
//   chunk_weights_kernel:  per chunk, the output weights G (dy; normalised: dy / den and
//                          -(dy . y) / den^2 on z, y from S0 and the pairs) into the
//                          workspace, and their state gradient Gd^T Qd (Gd = G * PA,
//                          Qd = phi(q) * PB).
//   gradient_scan_kernel:  per state element from the last chunk, dS at every chunk's
//                          end (replacing Gd^T Qd): dS <- (TA TB^T) * dS + Gd^T Qd; ds0.
//   chunk_grads_kernel:    per chunk: the state products (Yc = PA * (S0 Qd), DQ = S0^T Gd,
//                          DK = dS^T Vd, DV = dS Kd, and S0's own path Za, Zb) through
//                          shared tiles of 16 state rows; the pairs (scores s, p one warp
//                          per query; then one thread per key column or value row walks
//                          its pairs); d log b, d log a as reverse / forward sums; then
//                          dphi(q), dphi(k), dv, db, da, dc and sum_da per token.
//   then the scalar gate's gradient (launch_gate_gradient).
//   Launch: the chunk kernels grid min(B*H*chunks, 4 * SMs) (a block takes chunk after
//   chunk), block 256 (8 warps), dynamic shared memory chunked_backward_layout: 95 KiB at
//   C = 16, d = m = 64; C shrinks until it fits 160 KiB (13 at d = m = 128). The scans:
//   grid-stride blocks of 256 threads, one state element per thread. CUDA cores, fp32.
//   Reads fq, fk (BH, T, m), v, dy (BH, T, dv), the gates (gate (BH, T), gate_v (BH, T,
//   dv), gate_k (BH, T, m)), s0 (BH, dv, m); workspace (chunked_backward_sizes.hpp): the
//   states and state gradients (BH, chunks, rows, m), decay totals (BH, chunks, rows + m),
//   G (BH, T, rows).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "chunked_backward_kernel.cuh"
#include "chunked_backward_sizes.hpp"
#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "device_limits.hpp"
#include "dfw_hd.hpp"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr int kTileRows = kChunkedBackwardTileRows;
constexpr int kLaneCols = kChunkedBackwardMaxWidth / 32;  // a lane's columns in the score walks
static_assert(kThreads == kChunkedBackwardMaxLen * kTileRows, "the tile's row products take one thread per (i, r)");

using Layout = ChunkedBackwardLayout;
using Work = ChunkedBackwardWork;

// Where a chunk kernel's block works: the launch, the layout, the workspace offsets.
struct ChunkArgs {
  RecurrentBackwardLaunch a;
  Layout l;
  Work w;
};

// One chunk of n tokens from tok0 into shared memory: Q (with_q), K = c phi(k), B, V (1
// on z's row), A, c; past n: Q, K, V zero and the gates 1 (so the products run to C).
__device__ void load_chunk(const RecurrentBackwardLaunch& a, const Layout& l, float* sm, int64_t tok0, int n,
                           bool with_q) {
  const int C = l.C, M = l.M, R = l.R, dv = a.dv;
  auto gate_of = [&](int i) { return i < n && a.gate ? a.gate[tok0 + i] : 1.f; };
  for (int i = threadIdx.x; i < C; i += kThreads) sm[l.c + i] = i < n ? scalar_factor(a.c, gate_of(i)) : 0.f;
  for (int idx = threadIdx.x; idx < C * M; idx += kThreads) {
    const int i = idx / M, k = idx % M;
    const int64_t tok = tok0 + i;
    const bool real = i < n;
    if (with_q) sm[l.Q + idx] = real ? a.fq[tok * M + k] : 0.f;
    sm[l.K + idx] = real ? scalar_factor(a.c, gate_of(i)) * a.fk[tok * M + k] : 0.f;
    sm[l.B + idx] = !real                            ? 1.f
                    : a.b == GateFactor::gate_rows ? a.gate_k[tok * M + k]
                                                   : scalar_factor(a.b, gate_of(i));
  }
  for (int idx = threadIdx.x; idx < C * R; idx += kThreads) {
    const int i = idx / R, r = idx % R;
    const int64_t tok = tok0 + i;
    const bool real = i < n;
    sm[l.V + idx] = !real ? 0.f : r < dv ? a.v[tok * dv + r] : 1.f;
    sm[l.A + idx] = !real                                      ? 1.f
                    : a.a == GateFactor::gate_rows && r < dv ? a.gate_v[tok * dv + r]
                                                             : scalar_factor(a.a, gate_of(i));
  }
  __syncthreads();
}

// PB, PA: products of the gate values up to and including each token; RB, RA: after
// it to the chunk's end. One thread per key column, then value row. Row C - 1 of PA, PB
// holds the totals TA, TB.
__device__ void gate_products(const Layout& l, float* sm) {
  for (int col = threadIdx.x; col < l.M + l.R; col += kThreads) {
    const bool key = col < l.M;
    const int W = key ? l.M : l.R, x = key ? col : col - l.M;
    const float* g = sm + (key ? l.B : l.A) + x;
    float* up_to = sm + (key ? l.PB : l.PA) + x;
    float* after = sm + (key ? l.RB : l.RA) + x;
    float run = 1.f;
    for (int i = 0; i < l.C; ++i) up_to[i * W] = run *= g[i * W];
    run = 1.f;
    for (int j = l.C - 1; j >= 0; --j) {
      after[j * W] = run;
      run *= g[j * W];
    }
  }
  __syncthreads();
}

// Pair scores for j <= i < n: s_ij = (Q_i * B_ij) . K_j and, with_p, p_ij = (G_i * A_ij) . V_j,
// B_ij, A_ij the gate products over (j, i]: one warp per query i, walking j down with
// a running product per column (lane: columns lane + 32 u).
__device__ void pair_scores(const Layout& l, float* sm, int n, bool with_p) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = warp; i < n; i += kWarps)
    for (int side = 0; side < (with_p ? 2 : 1); ++side) {
      const bool key = side == 0;
      const int W = key ? l.M : l.R;
      const float* x = sm + (key ? l.Q : l.G) + i * W;
      const float* g = sm + (key ? l.B : l.A);
      const float* y = sm + (key ? l.K : l.V);
      float* out = sm + (key ? l.s : l.p) + i * l.C;
      float run[kLaneCols];
#pragma unroll
      for (int u = 0; u < kLaneCols; ++u) run[u] = lane + 32 * u < W ? x[lane + 32 * u] : 0.f;
      for (int j = i; j >= 0; --j) {
        float part = 0.f;
#pragma unroll
        for (int u = 0; u < kLaneCols; ++u) {
          const int c = lane + 32 * u;
          if (c < W) {
            if (j < i) run[u] *= g[(j + 1) * W + c];
            part += run[u] * y[j * W + c];
          }
        }
        const float s = warp_sum(part);
        if (lane == 0) out[j] = s;
      }
    }
  __syncthreads();
}

// The products with the state entering the chunk (S0) and, given dS (the gradient at
// its end), with dS, through shared tiles of 16 rows (rows M + 1 floats apart):
//   Yc_i = PA_i * (S0 Qd_i);  with dS: DV_j = dS Kd_j, DQ_i = S0^T Gd_i, DK_j = dS^T Vd_j,
//   Za_r = TA_r sum_k S0 dS TB_k, Zb_k = TB_k sum_r TA_r S0 dS.
// S0, dS: (R, M) in global memory.
__device__ void state_products(const Layout& l, float* sm, const float* S0, const float* dS, int n) {
  const bool with_ds = dS != nullptr;
  const int C = l.C, M = l.M, R = l.R, ld = l.ld;
  float *S0t = sm + l.S0t, *dSt = sm + l.dSt;
  const float *TA = sm + l.PA + (C - 1) * R, *TB = sm + l.PB + (C - 1) * M;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (with_ds) {
    for (int idx = threadIdx.x; idx < C * M; idx += kThreads) sm[l.DQ + idx] = sm[l.DK + idx] = 0.f;
    for (int k = threadIdx.x; k < M; k += kThreads) sm[l.Zb + k] = 0.f;
  }
  for (int r0 = 0; r0 < R; r0 += kTileRows) {
    const int rows = min(kTileRows, R - r0);
    for (int idx = threadIdx.x; idx < kTileRows * M; idx += kThreads) {
      const int rr = idx / M, k = idx % M;
      S0t[rr * ld + k] = rr < rows ? S0[(r0 + rr) * M + k] : 0.f;
      if (with_ds) dSt[rr * ld + k] = rr < rows ? dS[(r0 + rr) * M + k] : 0.f;
    }
    __syncthreads();
    {  // rows: thread (token i, tile row rr)
      const int i = threadIdx.x / kTileRows, rr = threadIdx.x % kTileRows, r = r0 + rr;
      if (i < n && rr < rows) {
        const float *q = sm + l.Q + i * M, *pb = sm + l.PB + i * M, *k_ = sm + l.K + i * M, *rb = sm + l.RB + i * M;
        float yc = 0.f, dv = 0.f;
        for (int k = 0; k < M; ++k) {
          yc += S0t[rr * ld + k] * (q[k] * pb[k]);
          if (with_ds) dv += dSt[rr * ld + k] * (k_[k] * rb[k]);
        }
        sm[l.Yc + i * R + r] = yc * sm[l.PA + i * R + r];
        if (with_ds) sm[l.DV + i * R + r] = dv;
      }
    }
    if (with_ds) {
      for (int idx = threadIdx.x; idx < n * M; idx += kThreads) {  // columns: thread (token, column)
        const int i = idx / M, k = idx % M;
        const float *g = sm + l.G + i * R + r0, *pa = sm + l.PA + i * R + r0;
        const float *v = sm + l.V + i * R + r0, *ra = sm + l.RA + i * R + r0;
        float dq = 0.f, dk = 0.f;
        for (int rr = 0; rr < rows; ++rr) {
          dq += S0t[rr * ld + k] * (g[rr] * pa[rr]);
          dk += dSt[rr * ld + k] * (v[rr] * ra[rr]);
        }
        sm[l.DQ + idx] += dq;
        sm[l.DK + idx] += dk;
      }
      for (int k = threadIdx.x; k < M; k += kThreads) {
        float z = 0.f;
        for (int rr = 0; rr < rows; ++rr) z += S0t[rr * ld + k] * dSt[rr * ld + k] * TA[r0 + rr];
        sm[l.Zb + k] += z * TB[k];
      }
      for (int rr = warp; rr < rows; rr += kWarps) {
        float z = 0.f;
        for (int k = lane; k < M; k += 32) z += S0t[rr * ld + k] * dSt[rr * ld + k] * TB[k];
        z = warp_sum(z);
        if (lane == 0) sm[l.Za + r0 + rr] = z * TA[r0 + rr];
      }
    }
    __syncthreads();  // the next tile overwrites S0t, dSt
  }
}

// The chunks a block takes, item = bh * chunks + chunk for item = blockIdx.x, +
// gridDim.x, ...: (bh, chunk) stepped without a 64-bit division per item (one at
// entry; a 64-bit division is a subroutine call, and registers live across it spill).
struct ChunkWalk {
  int64_t chunks, bh, chunk, step_bh, step_chunk;
  __device__ ChunkWalk(int64_t n_chunks) : chunks(n_chunks) {
    bh = blockIdx.x / chunks;
    chunk = blockIdx.x % chunks;
    step_bh = gridDim.x / chunks;
    step_chunk = gridDim.x % chunks;
  }
  __device__ void next() {
    bh += step_bh;
    chunk += step_chunk;
    if (chunk >= chunks) chunk -= chunks, ++bh;
  }
  __device__ int64_t item() const { return bh * chunks + chunk; }
};

// One chunk: its first token (flat over B*H*T) and its length.
struct ChunkAt {
  int64_t tok0;
  int n;
};

__device__ ChunkAt chunk_at(const RecurrentBackwardLaunch& a, const ChunkWalk& c) {
  const int64_t t0 = c.chunk * a.every;
  return {c.bh * a.T + t0, a.T - t0 < a.every ? int(a.T - t0) : a.every};
}

// out (R, M, global) = sum_{j < n} (X_j * Xg_j)^T (Y_j * Yg_j): X, Xg the offsets of
// two (C, R) arrays in sm, Y, Yg of two (C, M) arrays. One thread per element.
__device__ void outer_sum(const Layout& l, const float* sm, int n, int X, int Xg, int Y, int Yg, float* out) {
  const int M = l.M, R = l.R;
  for (int idx = threadIdx.x; idx < R * M; idx += kThreads) {
    const int r = idx / M, k = idx % M;
    float u = 0.f;
    for (int j = 0; j < n; ++j) u += (sm[X + j * R + r] * sm[Xg + j * R + r]) * (sm[Y + j * M + k] * sm[Yg + j * M + k]);
    out[idx] = u;
  }
}

// Runs body(item, chunk) for every chunk this block takes, after loading the chunk
// (with phi(q) when with_q) and its gate products into the block's shared memory, sm.
template <class Body>
__device__ __forceinline__ void for_each_chunk(const ChunkArgs& args, float* sm, bool with_q, Body body) {
  for (ChunkWalk walk(args.w.chunks); walk.bh < args.a.BH; walk.next()) {
    const ChunkAt ch = chunk_at(args.a, walk);
    load_chunk(args.a, args.l, sm, ch.tok0, ch.n, with_q);
    gate_products(args.l, sm);
    body(walk.item(), ch);
  }
}

__global__ void __launch_bounds__(kThreads) chunk_state_kernel(ChunkArgs args) {
  extern __shared__ __align__(16) float sm[];
  const RecurrentBackwardLaunch& a = args.a;
  const Layout& l = args.l;
  const int M = l.M, R = l.R, C = l.C;
  for_each_chunk(args, sm, false, [&](int64_t item, const ChunkAt& ch) {
    outer_sum(l, sm, ch.n, l.V, l.RA, l.K, l.RB, a.work + args.w.states + item * R * M);  // Vd^T Kd
    float* decay = a.work + args.w.decay + item * (R + M);  // TA (R), TB (M)
    for (int idx = threadIdx.x; idx < R + M; idx += kThreads)
      decay[idx] = idx < R ? sm[l.PA + (C - 1) * R + idx] : sm[l.PB + (C - 1) * M + idx - R];
    __syncthreads();  // the next chunk reuses the arrays
  });
}

// forward: S_0 = s0 (z's row and past dv: 0), S_{c+1} = (TA_c TB_c^T) * S_c + own_c, S_c
// replacing own_c. Reverse: D = 0 after the last chunk, D_{c-1} = (TA_c TB_c^T) * D_c +
// W_c, D_c replacing W_c; ds0 = D_{-1}.
template <bool kReverse>
__global__ void __launch_bounds__(kThreads) scan_kernel(RecurrentBackwardLaunch a, Work w, int R) {
  const int M = a.m;
  const int64_t tiles = (int64_t(R) * M + kThreads - 1) / kThreads, slot = int64_t(R) * M;
  for (int64_t block = blockIdx.x; block < a.BH * tiles; block += gridDim.x) {
    const int64_t bh = block / tiles;
    const int e = int(block % tiles) * kThreads + threadIdx.x;
    if (e >= R * M) continue;
    const int r = e / M, k = e % M;
    float* x = a.work + (kReverse ? w.weights : w.states) + bh * w.chunks * slot + e;
    const float* decay = a.work + w.decay + bh * w.chunks * (R + M);
    if (!kReverse) {
      float s = a.s0 && r < a.dv ? a.s0[(bh * a.dv + r) * M + k] : 0.f;
      for (int64_t c = 0; c < w.chunks; ++c) {
        const float own = x[c * slot];
        x[c * slot] = s;
        s = s * decay[c * (R + M) + r] * decay[c * (R + M) + R + k] + own;
      }
    } else {
      float d = 0.f;
      for (int64_t c = w.chunks - 1; c >= 0; --c) {
        const float weights = x[c * slot];
        x[c * slot] = d;
        d = d * decay[c * (R + M) + r] * decay[c * (R + M) + R + k] + weights;
      }
      if (a.ds0 && r < a.dv) a.ds0[(bh * a.dv + r) * M + k] = d;
    }
  }
}

__global__ void __launch_bounds__(kThreads) chunk_weights_kernel(ChunkArgs args) {
  extern __shared__ __align__(16) float sm[];
  const RecurrentBackwardLaunch& a = args.a;
  const Layout& l = args.l;
  const int M = l.M, R = l.R, C = l.C, dv = a.dv;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for_each_chunk(args, sm, true, [&](int64_t item, const ChunkAt& ch) {
    for (int idx = threadIdx.x; idx < C * R; idx += kThreads) {
      const int i = idx / R, r = idx % R;
      sm[l.G + idx] = i < ch.n && r < dv ? a.dy[(ch.tok0 + i) * dv + r] : 0.f;
    }
    __syncthreads();
    if (a.normalise) {  // y = Yc + the pairs (into Yc), then G through the normaliser
      state_products(l, sm, a.work + args.w.states + item * R * M, nullptr, ch.n);
      pair_scores(l, sm, ch.n, false);
      for (int r = threadIdx.x; r < R; r += kThreads)
        for (int i = 0; i < ch.n; ++i) {
          float run = 1.f, y = 0.f;
          for (int j = i; j >= 0; --j) {
            if (j < i) run *= sm[l.A + (j + 1) * R + r];
            y += sm[l.s + i * C + j] * run * sm[l.V + j * R + r];
          }
          sm[l.Yc + i * R + r] += y;
        }
      __syncthreads();
      for (int i = warp; i < ch.n; i += kWarps) {
        const float* y = sm + l.Yc + i * R;
        float* g = sm + l.G + i * R;
        const float den = y[dv] + a.norm_eps;
        float dot = 0.f;
        for (int r = lane; r < dv; r += 32) {
          g[r] = divide_normal(g[r], den);
          dot += g[r] * y[r];
        }
        dot = warp_sum(dot);
        if (lane == 0) g[dv] = -divide_normal(dot, den);
      }
      __syncthreads();
    }
    for (int idx = threadIdx.x; idx < ch.n * R; idx += kThreads) a.work[args.w.g + ch.tok0 * R + idx] = sm[l.G + idx];
    outer_sum(l, sm, ch.n, l.G, l.PA, l.Q, l.PB, a.work + args.w.weights + item * R * M);  // Gd^T Qd
    __syncthreads();
  });
}

// One key column (key) or value row of the pairs inside the chunk, then its crossing
// sums (docs/MATH.md): for query i, walking j down from i with the running product
// B_ij (A_ij) of this column (row):
//   key:   dQ_i += p_ij B_ij K_j,  dK_j += p_ij Q_i B_ij,  E_ij = p_ij Q_i B_ij K_j (j < i)
//   value: dV_j += s_ij G_i A_ij,                           E_ij = s_ij G_i A_ij V_j
// lam_t (mu_t) += sum over the pairs j < t <= i of E_ij, + sum_{i >= t} Qd_i DQ_i (G_i Yc_i)
// + sum_{j < t} Kd_j DK_j (Vd_j DV_j). A thread owns its column (row) of every array.
__device__ void column_pairs(const Layout& l, float* sm, int n, bool key, int x) {
  const int W = key ? l.M : l.R, C = l.C;
  const float* X = sm + (key ? l.Q : l.G) + x;        // the query side: Q or G
  const float* Y = sm + (key ? l.K : l.V) + x;        // the key side: K or V
  const float* g = sm + (key ? l.B : l.A) + x;
  const float* score = sm + (key ? l.p : l.s);
  float* dX = key ? sm + l.dQ + x : nullptr;          // dQ (key); a value row has no query-side gradient
  float* dY = sm + (key ? l.dK : l.dV) + x;
  float* E = sm + (key ? l.E : l.Ea) + x;
  float* lam = sm + (key ? l.lam : l.mu) + x;
  for (int i = 0; i < n; ++i) {
    const float xi = X[i * W];
    float run = 1.f, dxi = 0.f;
    for (int j = i; j >= 0; --j) {
      if (j < i) run *= g[(j + 1) * W];
      const float sij = score[i * C + j], yj = Y[j * W];
      if (key) dxi += sij * run * yj;
      dY[j * W] += sij * xi * run;
      if (j < i) E[j * W] = sij * (xi * run * yj);
    }
    if (key) dX[i * W] += dxi;
    float pre = 0.f;
    for (int t = 1; t <= i; ++t) {
      pre += E[(t - 1) * W];
      lam[t * W] += pre;
    }
  }
  // Crossing terms: the incoming state's (i >= t) and the outgoing state's (j < t).
  const float* in_a = sm + (key ? l.Q : l.G) + x;
  const float* in_b = sm + (key ? l.PB : l.Yc) + x;
  const float* in_c = key ? sm + l.DQ + x : nullptr;
  const float* out_a = sm + (key ? l.K : l.V) + x;
  const float* out_b = sm + (key ? l.RB : l.RA) + x;
  const float* out_c = sm + (key ? l.DK : l.DV) + x;
  float acc = 0.f;
  for (int t = n - 1; t >= 0; --t) {
    acc += key ? (in_a[t * W] * in_b[t * W]) * in_c[t * W] : in_a[t * W] * in_b[t * W];
    lam[t * W] += acc;
  }
  acc = 0.f;
  for (int t = 0; t < n; ++t) {
    lam[t * W] += acc;
    acc += (out_a[t * W] * out_b[t * W]) * out_c[t * W];
  }
}

__global__ void __launch_bounds__(kThreads) chunk_grads_kernel(ChunkArgs args) {
  extern __shared__ __align__(16) float sm[];
  const RecurrentBackwardLaunch& a = args.a;
  const Layout& l = args.l;
  const int M = l.M, R = l.R, C = l.C, dv = a.dv;
  for_each_chunk(args, sm, true, [&](int64_t item, const ChunkAt& ch) {
    const int n = ch.n;
    for (int idx = threadIdx.x; idx < C * R; idx += kThreads)
      sm[l.G + idx] = idx < n * R ? a.work[args.w.g + ch.tok0 * R + idx] : 0.f;
    for (int idx = threadIdx.x; idx < C * M; idx += kThreads) sm[l.dQ + idx] = sm[l.dK + idx] = sm[l.lam + idx] = 0.f;
    for (int idx = threadIdx.x; idx < C * R; idx += kThreads) sm[l.dV + idx] = sm[l.mu + idx] = 0.f;
    // (no barrier: the first one of state_products' tile loop comes before any read of these)
    state_products(l, sm, a.work + args.w.states + item * R * M, a.work + args.w.weights + item * R * M, n);
    pair_scores(l, sm, n, true);
    for (int col = threadIdx.x; col < M + R; col += kThreads)
      column_pairs(l, sm, n, col < M, col < M ? col : col - M);
    __syncthreads();
    // Per token: dphi(q), dphi(k) = c dK, db = (lam + Zb) / b; dv, da = (mu + Za) / a.
    for (int idx = threadIdx.x; idx < n * M; idx += kThreads) {
      const int i = idx / M, k = idx % M;
      const int64_t at = (ch.tok0 + i) * M + k;
      a.dfq[at] = sm[l.dQ + idx] + sm[l.PB + idx] * sm[l.DQ + idx];
      const float dK = sm[l.dK + idx] + sm[l.RB + idx] * sm[l.DK + idx];
      sm[l.dK + idx] = dK;
      a.dfk[at] = sm[l.c + i] * dK;
      if (a.db) a.db[at] = divide_normal(sm[l.lam + idx] + sm[l.Zb + k], sm[l.B + idx]);
    }
    for (int idx = threadIdx.x; idx < n * R; idx += kThreads) {
      const int i = idx / R, r = idx % R;
      const int64_t tok = ch.tok0 + i;
      if (r < dv) a.dv_out[tok * dv + r] = sm[l.dV + idx] + sm[l.RA + idx] * sm[l.DV + idx];
      const float da = divide_normal(sm[l.mu + idx] + sm[l.Za + r], sm[l.A + idx]);
      sm[l.mu + idx] = da;
      if (a.dgate_v && r < dv) a.dgate_v[tok * dv + r] = da;
    }
    __syncthreads();
    // dc = phi(k) . dK and sum_r da_r: one warp per token.
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int i = warp; i < n; i += kWarps) {
      const int64_t tok = ch.tok0 + i;
      float dc = 0.f, sum_da = 0.f;
      for (int k = lane; k < M; k += 32) dc += a.fk[tok * M + k] * sm[l.dK + i * M + k];
      for (int r = lane; r < R; r += 32) sum_da += sm[l.mu + i * R + r];
      dc = warp_sum(dc);
      sum_da = warp_sum(sum_da);
      if (lane == 0) {
        a.dc[tok] = dc;
        a.sum_da[tok] = sum_da;
      }
    }
    // No barrier: the next chunk's load_chunk writes none of dK and mu, read above, and
    // what rewrites them waits at load_chunk's barrier for every thread to get there.
  });
}

constexpr int64_t kMaxBlocksPerSm = 4;

}  // namespace

void launch_chunked_backward(const RecurrentBackwardLaunch& a, cudaStream_t stream) {
  const int rows = a.dv + (a.normalise ? 1 : 0);
  if (a.delta) throw std::invalid_argument("chunked backward kernels: the delta rule has no chunked form here");
  if (a.m < 1 || a.dv < 1 || a.m > kChunkedBackwardMaxWidth || rows > kChunkedBackwardMaxWidth)
    throw std::invalid_argument("chunked backward kernels: m and the state rows must lie in [1, " +
                                std::to_string(kChunkedBackwardMaxWidth) + "] (m = " + std::to_string(a.m) +
                                ", rows = " + std::to_string(rows) + ")");
  if (a.every < 1 || a.every > kChunkedBackwardMaxLen)
    throw std::invalid_argument("chunked backward kernels: chunk length " + std::to_string(a.every) +
                                " outside [1, " + std::to_string(kChunkedBackwardMaxLen) + "]");
  if (a.BH == 0 || a.T == 0) return;
  if (!a.work) throw std::invalid_argument("chunked backward kernels: no workspace (chunked_backward_work)");
  ChunkArgs args;
  args.a = a;
  args.l = chunked_backward_layout(a.every, a.m, rows);
  args.w = chunked_backward_work(a.BH, a.T, a.every, a.m, rows);
  const std::size_t shared = std::size_t(args.l.floats) * sizeof(float);
  if (shared > std::size_t(device_limits().max_shared_optin))
    throw std::runtime_error("chunked backward kernels: chunks of " + std::to_string(a.every) + " tokens at m = " +
                             std::to_string(a.m) + " need " + std::to_string(shared) +
                             " bytes of shared memory per block; this device allows " +
                             std::to_string(device_limits().max_shared_optin));
  NvtxRange range("chunked_backward");
  const int64_t items = a.BH * args.w.chunks;
  const unsigned grid = unsigned(std::min<int64_t>(items, kMaxBlocksPerSm * device_limits().sms));
  const int64_t scan_blocks = a.BH * ((int64_t(rows) * a.m + kThreads - 1) / kThreads);
  const unsigned scan_grid = unsigned(std::min<int64_t>(scan_blocks, INT32_MAX));
  for (const void* k : {reinterpret_cast<const void*>(chunk_state_kernel),
                        reinterpret_cast<const void*>(chunk_weights_kernel),
                        reinterpret_cast<const void*>(chunk_grads_kernel)})
    allow_optin_shared(k);
  chunk_state_kernel<<<grid, kThreads, shared, stream>>>(args);
  DFW_CUDA_CHECK_LAUNCH();
  scan_kernel<false><<<scan_grid, kThreads, 0, stream>>>(a, args.w, rows);
  DFW_CUDA_CHECK_LAUNCH();
  chunk_weights_kernel<<<grid, kThreads, shared, stream>>>(args);
  DFW_CUDA_CHECK_LAUNCH();
  scan_kernel<true><<<scan_grid, kThreads, 0, stream>>>(a, args.w, rows);
  DFW_CUDA_CHECK_LAUNCH();
  chunk_grads_kernel<<<grid, kThreads, shared, stream>>>(args);
  DFW_CUDA_CHECK_LAUNCH();
  launch_gate_gradient(a, stream);
}

}  // namespace dfw
