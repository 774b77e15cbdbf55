// recurrent_backward: the reverse-time walk of a stateful rule's state, as
// variants/cpu/recurrent_backward.hpp on the device.
//   Rows: a block takes 16 state rows of one (b, h), a warp 4 of them, a lane the
//   columns lane, lane + 32, ... (N per lane) as fast_weight_kernel.cu; a normalised
//   variant's z (row dv) rides in a fifth slot of warp 0 of the head's first block
//   (recurrent_backward_sizes.hpp).
//   recurrent_checkpoint_kernel: the forward walk, writing each slot's state before
//     every C-th token (its lane's columns, in its own workspace) and, normalised,
//     adding dy_t . n_t of its rows (n = S phi(q)) to dyn[t] (atomic: the rows span
//     blocks); z's warp writes den[t] = z_t . phi(q_t) + eps.
//   recurrent_reverse_kernel: per chunk from the last, the chunk's states recomputed from
//     its checkpoint into the workspace, then token by token in reverse: the output VJP
//     (dS += gp phi(q)^T, dphi(q) += S_t^T gp) and the step's VJP (dS_prev; dv, da rows;
//     dphi(k), db, sum da, dc or dbeta added over the rows: per lane in registers, then
//     one atomic per warp and column). Every lane reads back only what it wrote: no
//     barrier. Finally dS = ds0.
//   gate_gradient_kernel: a scalar gate's gradient, sum_r da_r, sum_c db_c and dc by
//     the factor form's signs; one warp per token.
//   Launch: walks grid (B*H * ceil(dv / 16)), block 128, no shared memory but the reverse
//   walk's column sums db at m > 256 (8 KiB, ColumnSums); gate grid
//   ceil(B*H*T / 4), block 128. Workspace per warp slot: (T / C + C + 1) rows of m.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "recurrent_backward_kernel.cuh"
#include "recurrent_backward_sizes.hpp"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kWarps = kWalkWarps;
constexpr int kRowsPerWarp = kWalkRowsPerWarp;
constexpr int kRowsPerBlock = kWalkRowsPerBlock;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxSlots = kRowsPerWarp + 1;  // + z

using Walk = WalkShape;

__host__ __device__ inline Walk walk_for(const RecurrentBackwardLaunch& a) {
  return walk_shape(a.T, a.dv, a.m, a.every);
}

// The state rows of this warp's slots (row(i), -1: none; slot 4 is z, in warp 0 of the
// head's first block only) and their workspaces: checkpoints (checkpoints, m), then one
// chunk's states (C + 1, m). Rows from the first, not one register per slot.
struct Slots {
  int first;            // slot 0's state row
  int dv;               // value rows: z is row dv
  bool z_here;          // slot 4 holds z
  bool any;             // the warp holds a row: it has terms to add
  float* base;          // slot 0's workspace
  float* z;             // z's workspace
  int64_t slot_floats;
  __device__ int row(int i) const {
    return i < kRowsPerWarp ? (first + i < dv ? first + i : -1) : z_here ? dv : -1;
  }
  __device__ float* work(int i) const { return i < kRowsPerWarp ? base + i * slot_floats : z; }
};

__device__ Slots slots_of(const RecurrentBackwardLaunch& a, const Walk& w, int64_t bh, int rb, int warp) {
  Slots s;
  s.first = rb * kRowsPerBlock + warp * kRowsPerWarp;
  s.dv = a.dv;
  s.z_here = a.normalise && rb == 0 && warp == 0;
  s.any = s.first < a.dv || s.z_here;
  s.base = a.work + (int64_t(blockIdx.x) * kRowsPerBlock + warp * kRowsPerWarp) * w.slot_floats;
  s.z = a.work + walk_value_floats(a.BH, w) + bh * w.slot_floats;
  s.slot_floats = w.slot_floats;
  return s;
}

// This lane's columns of row x (m), 0 past m: of the workspace, or (input) of a
// tensor no kernel of the launch writes, through the read-only cache.
template <int N>
__device__ void load_columns(const float* x, int m, int lane, float (&out)[N]) {
#pragma unroll
  for (int j = 0; j < N; ++j) out[j] = lane + 32 * j < m ? x[lane + 32 * j] : 0.f;
}

template <int N>
__device__ void load_input_columns(const float* x, int m, int lane, float (&out)[N]) {
#pragma unroll
  for (int j = 0; j < N; ++j) out[j] = lane + 32 * j < m ? __ldg(x + lane + 32 * j) : 0.f;
}

template <int N>
__device__ void store_columns(const float (&in)[N], int m, int lane, float* x) {
#pragma unroll
  for (int j = 0; j < N; ++j)
    if (lane + 32 * j < m) x[lane + 32 * j] = in[j];
}

template <int N>
__device__ float lane_dot(const float (&x)[N], const float (&y)[N]) {
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < N; ++j) acc += x[j] * y[j];
  return acc;
}

// One token's gates as every row reads them.
struct TokenFactors {
  float g, beta, c;
  const float* a_rows;  // (dv) or nullptr
  const float* b_cols;  // (m) or nullptr
};

__device__ TokenFactors token_factors(const RecurrentBackwardLaunch& a, int64_t tok) {
  TokenFactors f;
  f.g = a.gate ? __ldg(a.gate + tok) : 1.f;
  f.beta = a.beta ? __ldg(a.beta + tok) : 1.f;
  f.c = scalar_factor(a.c, f.g);
  f.a_rows = a.a == GateFactor::gate_rows ? a.gate_v + tok * a.dv : nullptr;
  f.b_cols = a.b == GateFactor::gate_rows ? a.gate_k + tok * a.m : nullptr;
  return f;
}

// a_r of state row `row` (z, row dv, takes the scalar factor: gate rows define no z).
__device__ float row_factor(const RecurrentBackwardLaunch& a, const TokenFactors& f, int row) {
  return f.a_rows && row < a.dv ? __ldg(f.a_rows + row) : scalar_factor(a.a, f.g);
}

template <int N>
__device__ void column_factors(const RecurrentBackwardLaunch& a, const TokenFactors& f, int lane, float (&b)[N]) {
  if (f.b_cols) load_input_columns(f.b_cols, a.m, lane, b);
  else
#pragma unroll
    for (int j = 0; j < N; ++j) b[j] = scalar_factor(a.b, f.g);
}

// S_t's row from S_{t-1}'s (in place); v_r = 1 on z's row.
template <bool kDelta, int N>
__device__ void step_row(float (&s)[N], const float (&k)[N], const float (&b)[N], float a_r, float v_r,
                         const TokenFactors& f) {
  if (kDelta) {
    const float e = v_r - warp_sum(lane_dot(s, k));
#pragma unroll
    for (int j = 0; j < N; ++j) s[j] += f.beta * e * k[j];
  } else {
#pragma unroll
    for (int j = 0; j < N; ++j) s[j] = s[j] * a_r * b[j] + f.c * v_r * k[j];
  }
}

// Slot i's row (state row `row`) of S_t from S_{t-1}'s, token tok.
template <bool kDelta, int N>
__device__ void step_slot(const RecurrentBackwardLaunch& a, int row, float (&s)[N], const float (&k)[N],
                          const float (&b)[N], const TokenFactors& f, int64_t tok) {
  const float v_r = row < a.dv ? __ldg(a.v + tok * a.dv + row) : 1.f;
  step_row<kDelta>(s, k, b, kDelta ? 1.f : row_factor(a, f, row), v_r, f);
}

template <bool kDelta, int N>
__device__ void step_slots(const RecurrentBackwardLaunch& a, const Slots& sl, float (&s)[kMaxSlots][N], int64_t tok,
                           int lane) {
  float k[N], b[N];
  load_input_columns(a.fk + tok * a.m, a.m, lane, k);
  const TokenFactors f = token_factors(a, tok);
  column_factors(a, f, lane, b);
#pragma unroll
  for (int i = 0; i < kMaxSlots; ++i)
    if (sl.row(i) >= 0) step_slot<kDelta>(a, sl.row(i), s[i], k, b, f, tok);
}

// The states of one chunk (tokens t0 .. t1 - 1 of head bh) from its checkpoint, into
// each slot's workspace at `states`: (t1 - t0 + 1) rows. Token by token, every slot
// per token (phi(k) and b loaded once a token); at N = 16 slot by slot instead (phi(k)
// and b loaded again per slot), so that one slot's row is live beside the five slots'
// dS, not all five: holding both took past the 255 registers a thread has (with db in
// registers and a row register per slot too, 840 bytes spilled per thread in the sm_90
// SASS of 4a9404c; none since).
template <bool kDelta, int N>
__device__ void recompute_chunk(const RecurrentBackwardLaunch& a, const Slots& sl, int64_t bh, int64_t chunk,
                                int64_t t0, int64_t t1, int64_t states, int lane) {
  if constexpr (N < 16) {
    float s[kMaxSlots][N];
#pragma unroll
    for (int i = 0; i < kMaxSlots; ++i)
      if (sl.row(i) >= 0) {
        load_columns(sl.work(i) + chunk * a.m, a.m, lane, s[i]);
        store_columns(s[i], a.m, lane, sl.work(i) + states);
      }
    for (int64_t t = t0; t < t1; ++t) {
      step_slots<kDelta>(a, sl, s, bh * a.T + t, lane);
#pragma unroll
      for (int i = 0; i < kMaxSlots; ++i)
        if (sl.row(i) >= 0) store_columns(s[i], a.m, lane, sl.work(i) + states + (t - t0 + 1) * a.m);
    }
  } else {
#pragma unroll 1
    for (int i = 0; i < kMaxSlots; ++i) {
      if (sl.row(i) < 0) continue;
      float s[N];
      load_columns(sl.work(i) + chunk * a.m, a.m, lane, s);
      store_columns(s, a.m, lane, sl.work(i) + states);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t tok = bh * a.T + t;
        float k[N], b[N];
        load_input_columns(a.fk + tok * a.m, a.m, lane, k);
        const TokenFactors f = token_factors(a, tok);
        column_factors(a, f, lane, b);
        step_slot<kDelta>(a, sl.row(i), s, k, b, f, tok);
        store_columns(s, a.m, lane, sl.work(i) + states + (t - t0 + 1) * a.m);
      }
    }
  }
}

template <int N>
__device__ void start_state(const RecurrentBackwardLaunch& a, const Slots& sl, int64_t bh, int lane,
                            float (&s)[kMaxSlots][N]) {
#pragma unroll
  for (int i = 0; i < kMaxSlots; ++i) {
    const int row = sl.row(i);
    if (row >= 0 && row < a.dv && a.s0) load_input_columns(a.s0 + (bh * a.dv + row) * a.m, a.m, lane, s[i]);
    else
#pragma unroll
      for (int j = 0; j < N; ++j) s[i][j] = 0.f;
  }
}

template <bool kDelta, int N>
__global__ void __launch_bounds__(kThreads) recurrent_checkpoint_kernel(RecurrentBackwardLaunch a) {
  const Walk w = walk_for(a);
  const int64_t bh = blockIdx.x / w.row_blocks;
  const int rb = int(blockIdx.x % w.row_blocks), warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const Slots sl = slots_of(a, w, bh, rb, warp);
  float s[kMaxSlots][N];
  start_state(a, sl, bh, lane, s);
  for (int64_t t = 0; t < a.T; ++t) {
    const int64_t tok = bh * a.T + t;
    if (t % a.every == 0)
#pragma unroll
      for (int i = 0; i < kMaxSlots; ++i)
        if (sl.row(i) >= 0) store_columns(s[i], a.m, lane, sl.work(i) + (t / a.every) * a.m);
    step_slots<kDelta>(a, sl, s, tok, lane);
    if (a.normalise && sl.any) {  // dy_t . n_t over this warp's value rows, n = S phi(q); z's den
      float q[N];
      load_input_columns(a.fq + tok * a.m, a.m, lane, q);
      float part = 0.f;
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i)
        if (sl.row(i) >= 0) part += __ldg(a.dy + tok * a.dv + sl.row(i)) * lane_dot(s[i], q);
      part = warp_sum(part);
      if (lane == 0) atomicAdd(a.dyn + tok, part);
      if (sl.row(kRowsPerWarp) >= 0) {
        const float den = warp_sum(lane_dot(s[kRowsPerWarp], q)) + a.norm_eps;
        if (lane == 0) a.den[tok] = den;
      }
    }
  }
}

// A lane's sums over its N columns: in registers, or at N = 16 in shared memory (one
// float per thread and column, column-major: no bank conflict; each lane reads only
// what it wrote, no barrier), 16 registers fewer beside the five slots' dS.
template <int N, bool kShared = (N >= 16)>
struct ColumnSums {
  static constexpr unsigned kSharedBytes = 0;
  float x[N];
  __device__ explicit ColumnSums(float*) {}
  __device__ float& operator[](int j) { return x[j]; }
};

template <int N>
struct ColumnSums<N, true> {
  static constexpr unsigned kSharedBytes = kThreads * N * sizeof(float);
  float* x;
  __device__ explicit ColumnSums(float* shared) : x(shared + threadIdx.x) {}
  __device__ float& operator[](int j) { return x[j * kThreads]; }
};

template <bool kDelta, int N>
// Two blocks per SM: the register budget (up to 256) that keeps N = 4 free of spills.
__global__ void __launch_bounds__(kThreads, 2) recurrent_reverse_kernel(RecurrentBackwardLaunch a) {
  const Walk w = walk_for(a);
  const int64_t bh = blockIdx.x / w.row_blocks;
  const int rb = int(blockIdx.x % w.row_blocks), warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const Slots sl = slots_of(a, w, bh, rb, warp);
  const int64_t states = w.checkpoints * a.m;  // offset of the chunk's states in a slot's workspace
  extern __shared__ float column_sums[];  // ColumnSums<N>::kSharedBytes
  float ds[kMaxSlots][N];
#pragma unroll
  for (int i = 0; i < kMaxSlots; ++i)
#pragma unroll
    for (int j = 0; j < N; ++j) ds[i][j] = 0.f;

  for (int64_t chunk = (a.T - 1) / a.every; chunk >= 0; --chunk) {
    const int64_t t0 = chunk * a.every, t1 = min(a.T, t0 + a.every);
    // States before tokens t0 .. t1 - 1 and after t1 - 1: (t1 - t0 + 1) rows per slot.
    recompute_chunk<kDelta, N>(a, sl, bh, chunk, t0, t1, states, lane);
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const int64_t tok = bh * a.T + t, after = states + (t - t0 + 1) * a.m, before = after - a.m;
      float q[N], k[N], b[N];
      load_input_columns(a.fq + tok * a.m, a.m, lane, q);
      load_input_columns(a.fk + tok * a.m, a.m, lane, k);
      const TokenFactors f = token_factors(a, tok);
      column_factors(a, f, lane, b);
      const float den = a.normalise ? __ldg(a.den + tok) : 1.f;
      float dfq[N], dfk[N];
      ColumnSums<N> db(column_sums);
#pragma unroll
      for (int j = 0; j < N; ++j) dfq[j] = dfk[j] = db[j] = 0.f;
      float sum_da = 0.f, dc = 0.f, dbeta = 0.f;
#pragma unroll
      for (int i = 0; i < kMaxSlots; ++i) {
        const int row = sl.row(i);
        if (row < 0) continue;
        const bool value_row = row < a.dv;
        float st[N], sp[N];
        load_columns(sl.work(i) + after, a.m, lane, st);
        load_columns(sl.work(i) + before, a.m, lane, sp);
        // y's gradient as a weight on this row: dy_r / den, or -(dy . y) / den = -(dy . n) / den^2 on z's.
        const float gp = value_row ? __ldg(a.dy + tok * a.dv + row) / den : -__ldg(a.dyn + tok) / (den * den);
        const float v_r = value_row ? __ldg(a.v + tok * a.dv + row) : 1.f;
#pragma unroll
        for (int j = 0; j < N; ++j) {
          ds[i][j] += gp * q[j];
          dfq[j] += gp * st[j];
        }
        const float u = warp_sum(lane_dot(ds[i], k));  // (dS phi(k))_r
        if (kDelta) {
          const float e = v_r - warp_sum(lane_dot(sp, k));
          dbeta += u * e;
#pragma unroll
          for (int j = 0; j < N; ++j) dfk[j] += f.beta * (e * ds[i][j] - u * sp[j]);
          if (value_row && lane == 0) a.dv_out[tok * a.dv + row] = f.beta * u;
#pragma unroll
          for (int j = 0; j < N; ++j) ds[i][j] -= f.beta * u * k[j];
        } else {
          const float a_r = row_factor(a, f, row);
          float part = 0.f;
#pragma unroll
          for (int j = 0; j < N; ++j) part += sp[j] * ds[i][j] * b[j];
          const float da = warp_sum(part);
          sum_da += da;
          dc += v_r * u;
#pragma unroll
          for (int j = 0; j < N; ++j) {
            db[j] += a_r * sp[j] * ds[i][j];
            dfk[j] += f.c * v_r * ds[i][j];
          }
          if (value_row && lane == 0) {
            a.dv_out[tok * a.dv + row] = f.c * u;
            if (a.dgate_v) a.dgate_v[tok * a.dv + row] = da;
          }
#pragma unroll
          for (int j = 0; j < N; ++j) ds[i][j] *= a_r * b[j];
        }
      }
      if (!sl.any) continue;  // a warp past dv (dv % 16 != 0) has nothing to add
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const int col = lane + 32 * j;
        if (col >= a.m) continue;
        atomicAdd(a.dfq + tok * a.m + col, dfq[j]);
        atomicAdd(a.dfk + tok * a.m + col, dfk[j]);
        if (a.db) atomicAdd(a.db + tok * a.m + col, db[j]);
      }
      if (lane == 0) {
        if (kDelta) atomicAdd(a.dbeta + tok, dbeta);
        else {
          atomicAdd(a.sum_da + tok, sum_da);
          atomicAdd(a.dc + tok, dc);
        }
      }
    }
  }
  if (a.ds0)
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i)
      if (sl.row(i) >= 0) store_columns(ds[i], a.m, lane, a.ds0 + (bh * a.dv + sl.row(i)) * a.m);
}

__device__ inline float factor_sign(GateFactor f) {
  return f == GateFactor::gate ? 1.f : f == GateFactor::one_minus_gate ? -1.f : 0.f;
}

__global__ void __launch_bounds__(kThreads) gate_gradient_kernel(RecurrentBackwardLaunch a) {
  const int64_t tok = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (tok >= a.BH * a.T) return;
  float db = 0.f;
  if (a.db && factor_sign(a.b) != 0.f)
    for (int c = lane; c < a.m; c += 32) db += a.db[tok * a.m + c];
  db = warp_sum(db);
  if (lane == 0) a.dgate[tok] = factor_sign(a.a) * a.sum_da[tok] + factor_sign(a.b) * db + factor_sign(a.c) * a.dc[tok];
}

template <bool kDelta, int N>
void launch_walks(const RecurrentBackwardLaunch& a, unsigned blocks, cudaStream_t stream) {
  recurrent_checkpoint_kernel<kDelta, N><<<blocks, kThreads, 0, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
  recurrent_reverse_kernel<kDelta, N><<<blocks, kThreads, ColumnSums<N>::kSharedBytes, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
}

void zero(float* p, int64_t n, cudaStream_t stream) {
  if (p) DFW_CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(float) * std::size_t(n), stream));
}

}  // namespace

void launch_recurrent_backward(const RecurrentBackwardLaunch& a, cudaStream_t stream) {
  if (a.m < 1 || a.m > kRecurrentBackwardMaxM)
    throw std::invalid_argument("recurrent backward kernels: feature width m = " + std::to_string(a.m) +
                                " outside [1, " + std::to_string(kRecurrentBackwardMaxM) + "]");
  if (a.every < 1) throw std::invalid_argument("recurrent backward kernels: checkpoint length below 1");
  const Walk w = walk_for(a);
  if (a.BH * w.row_blocks > int64_t(INT32_MAX))
    throw std::invalid_argument("recurrent backward kernels: B * H * ceil(dv / 16) exceeds the grid limit");
  if (a.BH == 0 || a.T == 0) return;
  NvtxRange range("recurrent_backward");
  const int64_t tokens = a.BH * a.T, columns = tokens * a.m;
  for (float* p : {a.dfq, a.dfk, a.db}) zero(p, columns, stream);
  for (float* p : {a.sum_da, a.dc, a.dbeta, a.dyn}) zero(p, tokens, stream);
  const unsigned blocks = unsigned(a.BH * w.row_blocks);
  // Columns per lane: N = 4 up to m = 128, 8 up to 256, 16 up to 512.
  if (a.delta) {
    if (a.m <= 128) launch_walks<true, 4>(a, blocks, stream);
    else if (a.m <= 256) launch_walks<true, 8>(a, blocks, stream);
    else launch_walks<true, 16>(a, blocks, stream);
  } else {
    if (a.m <= 128) launch_walks<false, 4>(a, blocks, stream);
    else if (a.m <= 256) launch_walks<false, 8>(a, blocks, stream);
    else launch_walks<false, 16>(a, blocks, stream);
  }
  launch_gate_gradient(a, stream);
}

void launch_gate_gradient(const RecurrentBackwardLaunch& a, cudaStream_t stream) {
  const int64_t tokens = a.BH * a.T;
  if (!a.dgate || tokens == 0) return;
  gate_gradient_kernel<<<unsigned((tokens + kWarps - 1) / kWarps), kThreads, 0, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
}

}  // namespace dfw
