// chunked/cpu/fp32 backward for the gated-linear family (docs/MATH.md "The chunked
// backward"): S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T, y_t = S_t phi(q_t).
// One (b, h) per thread, chunks of n <= 16 tokens as in the forward (chunked_cpu.cpp),
// with its names: K = c phi(k); PA_i, PB_i the gate products from the chunk's start
// to token i, RA_j, RB_j those after j to its end, TA, TB its totals; Qd = Q * PB,
// Kd = K * RB, Vd = V * RA.
//  1. Forward over the chunks, keeping only the state S0 at each chunk's start
//     (T / n states: the checkpointed recurrent backward keeps fewer, and recomputes).
//  2. Backward from the last chunk, dS the gradient of the state at the chunk's end:
//       Yc = PA * (Qd S0^T)       the incoming state's part of the outputs
//       G  = dL/d(S_i phi(q_i))   dy, through the normaliser (y from Yc + the pairs)
//       dq_i = PB_i * (S0^T Gd_i) + pairs,   Gd = G * PA
//       dK_j = RB_j * (dS^T Vd_j) + pairs,   dv_j = RA_j * (dS Kd_j) + pairs
//       dS  <- (TA TB^T) * dS + Gd^T Qd                  (five products, as Lanes GEMMs)
//     The gate gradients go through the log-gates, as fla's chunk_gla takes them:
//     d(log b_t) is the sum of every term of L whose decay spans token t, per key
//     column (d(log a_t) the same per value row), and db_t = d(log b_t) / b_t. Each
//     term is a product of gate values over its own span: the incoming state's
//     terms Qd_i * (S0^T Gd_i) for i >= t (a reverse cumulative sum), the outgoing
//     state's Kd_j * (dS^T Vd_j) for j < t, S0's own path into dS, and the pairs
//     (j < t <= i) inside the chunk. They are summed as they are, never as the
//     difference of two sums (q dq - k dk), which leaves O(eps) relative error once
//     the gates reach 1e-6.
// The pairs inside a chunk run token by token like the forward's (chunk_pairs_backward.hpp),
// adding to the state parts DQ, DK, DV once the incoming state's sums have read DQ; they
// sum the outgoing state's terms of the gate gradients with their own.
// The inputs are copied once into 64-byte aligned buffers (CpuInputs, as the forward's
// CpuCase does), so that whole rows are read in place rather than copied per chunk.
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "../backward_impl.hpp"
#include "../host_buffer.hpp"
#include "backward_features.hpp"
#include "chunk_diagonal.hpp"
#include "chunk_pairs_backward.hpp"
#include "chunked_backward.hpp"
#include "cpu_case.hpp"
#include "cpu_gradients.hpp"
#include "lanes.hpp"
#include "recurrent_backward.hpp"
#include "stream_store.hpp"

namespace dfw {
namespace {

constexpr int64_t kMaxChunk = kChunkedBackwardMaxChunk;  // one Lanes of tokens

int64_t lanes_of(int64_t n) { return (n + kLanes - 1) / kLanes; }

bool aligned(const float* p) { return reinterpret_cast<uintptr_t>(p) % sizeof(Lanes) == 0; }

// One thread's workspace (chunked_backward_workspace floats), carved into rows of
// Lanes: mv = lanes(m), rv = lanes(rows), sr = 16 mv (the transposed state's rows).
struct ChunkWork {
  ChunkWork(Lanes* p, int64_t T, int64_t m, int64_t rows, int64_t chunk)
      : mv(lanes_of(m)), rv(lanes_of(rows)), sr(mv * kLanes) {
    auto take = [&p](int64_t n) {
      Lanes* q = p;
      p += n;
      return q;
    };
    const int64_t tm = lanes_of(T * m), chunks = (T + chunk - 1) / chunk;
    fq_raw = reinterpret_cast<float*>(take(tm));
    fk_raw = reinterpret_cast<float*>(take(tm));
    fq_used = reinterpret_cast<float*>(take(tm));
    fk_used = reinterpret_cast<float*>(take(tm));
    dfq_rows = reinterpret_cast<float*>(take(tm));
    dfk_rows = reinterpret_cast<float*>(take(tm));
    states = take(chunks * sr * rv);
    for (Lanes** r : {&Q, &K, &B, &PB, &RB, &Qd, &Kd, &DQ, &DK, &lam}) *r = take(kMaxChunk * mv);
    for (Lanes** r : {&V, &A, &PA, &RA, &Vd, &G, &Gd, &Yc, &Y, &DV, &mu}) *r = take(kMaxChunk * rv);
    GdT = take(rv * kLanes);
    VdT = take(rv * kLanes);
    DQT = take(sr);
    DKT = take(sr);
    dSt = take(sr * rv);
    for (Lanes** r : {&TA, &Za, &ga, &acc_a}) *r = take(rv);
    for (Lanes** r : {&TB, &Zb, &qb, &acc_b, &grad_b}) *r = take(mv);
    grad_a = take(rv);
    pair_scratch = take(3 * mv + 2 * rv);
  }
  // Lanes the constructor takes (chunked_backward_workspace = 16 x this).
  static int64_t lanes_needed(int64_t T, int64_t m, int64_t rows, int64_t chunk) {
    const int64_t mv = lanes_of(m), rv = lanes_of(rows), sr = mv * kLanes;
    return 6 * lanes_of(T * m) + (T + chunk - 1) / chunk * sr * rv + kMaxChunk * (10 * mv + 11 * rv) + 2 * rv * kLanes +
           2 * sr + sr * rv + 7 * rv + 8 * mv;
  }

  int64_t mv, rv, sr;
  float *fq_raw, *fk_raw, *fq_used, *fk_used;     // (T, m) phi as mapped; sum-normalised
  float *dfq_rows, *dfk_rows;                     // (T, m) the gradients of the rows used
  const float *fq, *fk;                           // the rows used: phi's, normalised, or q, k themselves
  float *dfq, *dfk;                               // their gradients: dfq_rows, dfk_rows, or dq, dk
  Lanes* states;                                  // (chunks, sr, rv) S0 of every chunk, transposed
  Lanes *Q, *K, *B, *PB, *RB, *Qd, *Kd;           // (16, mv) one chunk's rows (K = c phi(k))
  Lanes *DQ, *DK, *lam;                           // (16, mv) gradients (state parts, then + pairs), d log b
  Lanes *V, *A, *PA, *RA, *Vd, *G, *Gd, *Yc, *Y;  // (16, rv) values (1 appended for z), gates, outputs
  Lanes *DV, *mu;                                 // (16, rv) gradient (as DQ, DK), d log a
  const Lanes *q, *k, *v;                         // Q, K, V, or the rows in place (load_chunk)
  const Lanes *qd, *kd, *vd;                      // Qd, Kd, Vd, or q, k, v when every gate is 1
  const Lanes *a, *b;                             // the gate rows used: A, B, or gate_v, gate_k in place
  Lanes *GdT, *VdT;                               // (rv * 16, 1) Gd, Vd transposed: a Lanes of tokens per row
  Lanes *DQT, *DKT;                               // (sr, 1) S0^T Gd^T, dS^T Vd^T
  Lanes* dSt;                                     // (sr, rv) the gradient of the state, transposed
  Lanes *TA, *Za, *ga, *acc_a, *grad_a;           // (rv)
  Lanes *TB, *Zb, *qb, *acc_b, *grad_b;           // (mv)
  Lanes* pair_scratch;                            // (3 mv + 2 rv) the pairs' running rows at other widths
  float c[kMaxChunk];                             // write scales c_t
};

class ChunkedBackwardPrepared final : public HeadwiseBackward {
 public:
  ChunkedBackwardPrepared(const Variant& v, const Problem& p, const std::vector<float>& dy, int64_t chunk)
      : HeadwiseBackward(p, p.shape.dv + (v.normalise ? 1 : 0)),
        var_(v),
        in_(p),
        dy_(dy),
        chunk_(std::clamp<int64_t>(chunk, 1, kMaxChunk)),
        ungated_(v.rule->gates_are_ones()),
        form_(v.rule->factor_form()),
        direct_(v.phi->is_identity() && !v.sum_normalise),
        gate_rows_(v.rule->factors_are_gate_rows()),
        c_gated_(form_.c == Factor::gate || form_.c == Factor::one_minus_gate),
        work_lanes_(ChunkWork::lanes_needed(p.shape.T, p.m, rows_, chunk_)),
        work_(omp_get_max_threads() * work_lanes_ * kLanes) {}

 private:
  void run_head(int64_t bh, int thread) override {
    const Shape& s = p_.shape;
    const int64_t T = s.T, m = p_.m;
    const HeadView h = in_.head(bh);
    ChunkWork w(reinterpret_cast<Lanes*>(work_.data()) + thread * work_lanes_, T, m, rows_, chunk_);
    // Gate values past the real widths are 1, so products over whole Lanes stay finite;
    // load_chunk writes only the real widths.
    std::fill(w.A, w.A + kMaxChunk * w.rv, splat(1.f));
    std::fill(w.B, w.B + kMaxChunk * w.mv, splat(1.f));
    // Identity features without sum normalisation: q and k are the rows used and dq,
    // dk their gradients, so nothing is copied. Otherwise phi into the workspace.
    float* fq_used = var_.sum_normalise ? w.fq_used : w.fq_raw;
    float* fk_used = var_.sum_normalise ? w.fk_used : w.fk_raw;
    if (direct_) {
      w.fq = h.q, w.fk = h.k;
      w.dfq = grad_ptr(g_.dq, bh * T * s.dk), w.dfk = grad_ptr(g_.dk, bh * T * s.dk);
    } else {
      head_features(var_, h.features, h.q, T, s.dk, m, w.fq_raw, fq_used);
      head_features(var_, h.features, h.k, T, s.dk, m, w.fk_raw, fk_used);
      w.fq = fq_used, w.fk = fk_used, w.dfq = w.dfq_rows, w.dfk = w.dfk_rows;
    }
    forward(h, w);
    std::fill(w.dSt, w.dSt + w.sr * w.rv, Lanes{});
    for (int64_t t0 = (T - 1) / chunk_ * chunk_; t0 >= 0; t0 -= chunk_) backward_chunk(h, bh, t0, w);
    if (float* ds0 = grad_ptr(g_.ds0, bh * s.dv * m))
      for (int64_t r = 0; r < s.dv; ++r)
        for (int64_t k = 0; k < m; ++k) ds0[r * m + k] = w.dSt[k * w.rv + r / kLanes][r % kLanes];
    streamed_rows_done();
    if (direct_) return;
    const FeatureGrads<float> fg{grad_ptr(g_.dw_bh, bh * m * s.dk), grad_ptr(g_.db_bh, bh * m)};
    head_feature_vjp(var_, h.features, h.q, T, s.dk, m, w.fq_raw, fq_used, w.dfq, grad_ptr(g_.dq, bh * T * s.dk), fg);
    head_feature_vjp(var_, h.features, h.k, T, s.dk, m, w.fk_raw, fk_used, w.dfk, grad_ptr(g_.dk, bh * T * s.dk), fg);
  }

  static int64_t gemm_rows(int64_t m) { return (m + kGemmRows - 1) / kGemmRows * kGemmRows; }

  // S^T (or dS^T) element (k, r) times TB_k TA_r: the decay over a whole chunk.
  auto decayed(const ChunkWork& w) const {
    const float* tb = reinterpret_cast<const float*>(w.TB);
    const RegLanes* ta = regs(w.TA);
    const bool ones = ungated_;
    return [tb, ta, ones](int64_t k, int64_t l, int h, RegLanes x) {
      return ones ? x : x * (tb[k] * ta[l * kRegsPerLanes + h]);
    };
  }

  // Pass 1: the state before every chunk, into w.states.
  void forward(const HeadView& h, ChunkWork& w) {
    const int64_t len = w.sr * w.rv, chunks = (h.T + chunk_ - 1) / chunk_;
    std::fill(w.states, w.states + len, Lanes{});
    if (h.s0)
      for (int64_t r = 0; r < h.dv; ++r)
        for (int64_t k = 0; k < h.m; ++k) w.states[k * w.rv + r / kLanes][r % kLanes] = h.s0[r * h.m + k];
    // states[c + 1] = (TA TB^T) * states[c] + Kd^T Vd, straight from one to the next
    // (the last chunk's end state is not needed: nothing reads it).
    for (int64_t c = 0; c + 1 < chunks; ++c) {
      if (!state_rows_in_place(h, c * chunk_, w)) load_chunk(h, c * chunk_, chunk_, w, /*state_only=*/true);
      const RegLanes* prev = regs(w.states + c * len);
      const int64_t rv = w.rv;
      auto from_prev = [prev, rv, decay = decayed(w)](int64_t k, int64_t l, int h, RegLanes) {
        return decay(k, l, h, prev[(k * rv + l) * kRegsPerLanes + h]);
      };
      lanes_gemm(reinterpret_cast<const float*>(w.kd), 1, w.mv * kLanes, w.vd, rv, chunk_, w.states + (c + 1) * len, rv,
                 gemm_rows(h.m), rv, 0, from_prev);
    }
  }

  // What pass 1's state update reads of the full chunk at t0 (Kd, Vd, TA, TB), made
  // straight from the input rows, without load_chunk's copies: the suffix products RA,
  // RB run in acc_a, acc_b. Only where the rows are whole registers (dv, m multiples of
  // 16, no normaliser row) and gated; false (nothing done) otherwise.
  bool state_rows_in_place(const HeadView& h, int64_t t0, ChunkWork& w) const {
    const int64_t dv = h.dv, m = h.m, n = chunk_;
    if (ungated_ || rows_ != dv || dv % kLanes || m % kLanes) return false;
    const int64_t mr = w.mv * kRegsPerLanes, rr = w.rv * kRegsPerLanes;
    const float *a_rows[kMaxChunk], *b_rows[kMaxChunk];  // (n) each token's gate rows, dv and m floats
    std::fill(w.c, w.c + n, 1.f);
    if (!gate_rows_) factor_rows(h, t0, n, w);
    for (int64_t i = 0; i < n; ++i) {
      a_rows[i] = gate_rows_ ? h.gate_v + (t0 + i) * dv : reinterpret_cast<const float*>(w.A + i * w.rv);
      b_rows[i] = gate_rows_ ? h.gate_k + (t0 + i) * m : reinterpret_cast<const float*>(w.B + i * w.mv);
    }
    RegLanes *RA = regs(w.acc_a), *RB = regs(w.acc_b), *Vd = regs(w.Vd), *Kd = regs(w.Kd);
    std::fill(RA, RA + rr, reg_splat(1.f));
    std::fill(RB, RB + mr, reg_splat(1.f));
    for (int64_t j = n - 1; j >= 0; --j) {
      const float *v = h.v + (t0 + j) * dv, *k = w.fk + (t0 + j) * m;
      for (int64_t l = 0; l < rr; ++l) {
        Vd[j * rr + l] = load_reg(v + l * kRegFloats) * RA[l];
        RA[l] *= load_reg(a_rows[j] + l * kRegFloats);
      }
      for (int64_t l = 0; l < mr; ++l) {
        Kd[j * mr + l] = w.c[j] * load_reg(k + l * kRegFloats) * RB[l];
        RB[l] *= load_reg(b_rows[j] + l * kRegFloats);
      }
    }
    std::copy_n(w.acc_a, w.rv, w.TA);
    std::copy_n(w.acc_b, w.mv, w.TB);
    w.kd = w.Kd, w.vd = w.Vd;
    return true;
  }

  // The rows of n tokens as w.q, w.k, w.v, w.a, w.b: read in place from the aligned
  // inputs (in_) where a full chunk's rows are whole Lanes (the gate rows where they
  // are the factors, decay), else copied into Q, K, V, A, B (zero past n; gate values
  // 1 past the widths); then the gate products and the decayed rows Qd, Kd, Vd.
  // state_only: what the state update reads (k, v, a, b, Kd, Vd, TA, TB), for pass 1
  // where state_rows_in_place does not apply.
  void load_chunk(const HeadView& h, int64_t t0, int64_t n, ChunkWork& w, bool state_only = false) const {
    const int64_t m = h.m, dv = h.dv, mv = w.mv, rv = w.rv;
    // n rows of `width` floats (row i times scales[i], if given) into rows of
    // `lanes` Lanes; zero rows past n.
    auto copy_rows = [n](const float* src, int64_t width, Lanes* dst, int64_t lanes, const float* scales) {
      for (int64_t i = 0; i < n; ++i) load_row(src + i * width, width, dst + i * lanes, scales ? scales[i] : 1.f);
      std::fill(dst + n * lanes, dst + kMaxChunk * lanes, Lanes{});
    };
    // A full chunk of whole aligned rows (in_ is aligned; so are the feature rows
    // when m is whole Lanes) is read in place; anything else is copied.
    const bool whole = n == kMaxChunk && !var_.normalise && m == mv * kLanes && dv == rv * kLanes;
    std::fill(w.c, w.c + n, 1.f);
    bool scaled = false;
    w.a = w.A, w.b = w.B;
    if (gate_rows_ && whole && aligned(h.gate_v + t0 * dv) && aligned(h.gate_k + t0 * m)) {
      w.a = reinterpret_cast<const Lanes*>(h.gate_v + t0 * dv);  // the gate rows are the factors (decay)
      w.b = reinterpret_cast<const Lanes*>(h.gate_k + t0 * m);
    } else if (!ungated_) {
      scaled = factor_rows(h, t0, n, w);
    }
    auto rows = [&](const float* src, int64_t width, Lanes* dst, int64_t lanes, const float* scales) -> const Lanes* {
      if (whole && !scales && aligned(src)) return reinterpret_cast<const Lanes*>(src);
      copy_rows(src, width, dst, lanes, scales);
      return dst;
    };
    if (!state_only) w.q = rows(w.fq + t0 * m, m, w.Q, mv, nullptr);
    w.k = rows(w.fk + t0 * m, m, w.K, mv, scaled ? w.c : nullptr);
    w.v = rows(h.v + t0 * dv, dv, w.V, rv, nullptr);
    if (var_.normalise)
      for (int64_t i = 0; i < n; ++i) w.V[i * rv + dv / kLanes][dv % kLanes] = 1.f;
    if (ungated_) {
      w.qd = w.q, w.kd = w.k, w.vd = w.v;
      return;
    }
    decay_chunk(n, w, state_only);
    w.qd = w.Qd, w.kd = w.Kd, w.vd = w.Vd;
  }

  // The rule's factors of n tokens from t0: a_t, b_t into the rows of A, B (the real
  // widths; the padding stays 1, run_head) and c_t into w.c. Whether any c_t is not 1.
  bool factor_rows(const HeadView& h, int64_t t0, int64_t n, ChunkWork& w) const {
    bool scaled = false;
    for (int64_t i = 0; i < n; ++i) {
      w.c[i] = var_.rule->gated_linear_factors(h.gates_at(t0 + i), rows_, h.m, reinterpret_cast<float*>(w.A + i * w.rv),
                                               reinterpret_cast<float*>(w.B + i * w.mv));
      scaled = scaled || w.c[i] != 1.f;
    }
    return scaled;
  }

  // PA, PB (prefix products), RA, RB (after each token), TA, TB; Qd, Kd, Vd (zero past n).
  static void decay_chunk(int64_t n, ChunkWork& w, bool state_only) {
    const int64_t mr = w.mv * kRegsPerLanes, rr = w.rv * kRegsPerLanes;
    const RegLanes *Q = regs(w.q), *K = regs(w.k), *V = regs(w.v), *A = regs(w.a), *B = regs(w.b);
    RegLanes *PA = regs(w.PA), *PB = regs(w.PB), *RA = regs(w.RA), *RB = regs(w.RB);
    RegLanes *Qd = regs(w.Qd), *Kd = regs(w.Kd), *Vd = regs(w.Vd);
    for (int64_t i = 0; i < (state_only ? 0 : n); ++i) {
      for (int64_t l = 0; l < rr; ++l) PA[i * rr + l] = i ? PA[(i - 1) * rr + l] * A[i * rr + l] : A[l];
      for (int64_t l = 0; l < mr; ++l) {
        PB[i * mr + l] = i ? PB[(i - 1) * mr + l] * B[i * mr + l] : B[l];
        Qd[i * mr + l] = Q[i * mr + l] * PB[i * mr + l];
      }
    }
    std::fill(Qd + n * mr, Qd + kMaxChunk * mr, RegLanes{});
    std::fill(Kd + n * mr, Kd + kMaxChunk * mr, RegLanes{});
    std::fill(Vd + n * rr, Vd + kMaxChunk * rr, RegLanes{});
    if (!state_only) {
      std::copy_n(w.PA + (n - 1) * w.rv, w.rv, w.TA);
      std::copy_n(w.PB + (n - 1) * w.mv, w.mv, w.TB);
    }
    for (int64_t j = n - 1; j >= 0; --j) {
      for (int64_t l = 0; l < rr; ++l) {
        RA[j * rr + l] = j == n - 1 ? reg_splat(1.f) : RA[(j + 1) * rr + l] * A[(j + 1) * rr + l];
        Vd[j * rr + l] = V[j * rr + l] * RA[j * rr + l];
      }
      for (int64_t l = 0; l < mr; ++l) {
        RB[j * mr + l] = j == n - 1 ? reg_splat(1.f) : RB[(j + 1) * mr + l] * B[(j + 1) * mr + l];
        Kd[j * mr + l] = K[j * mr + l] * RB[j * mr + l];
      }
    }
    if (!state_only) return;
    for (int64_t l = 0; l < rr; ++l) regs(w.TA)[l] = RA[l] * A[l];  // the products after token 0, times a_0
    for (int64_t l = 0; l < mr; ++l) regs(w.TB)[l] = RB[l] * B[l];
  }

  void backward_chunk(const HeadView& h, int64_t bh, int64_t t0, ChunkWork& w) {
    const int64_t n = std::min(chunk_, h.T - t0), mv = w.mv, rv = w.rv, m = h.m;
    const Lanes* S0 = w.states + (t0 / chunk_) * w.sr * w.rv;
    load_chunk(h, t0, n, w);
    // Yc = PA * (Qd S0^T)
    const RegLanes* pa = regs(w.PA);
    auto keep_pa = [&](int64_t i, int64_t l, int h, RegLanes y) {
      return ungated_ ? y : y * pa[(i * rv + l) * kRegsPerLanes + h];
    };
    auto zero = [](int64_t, int64_t, int, RegLanes) { return RegLanes{}; };
    lanes_gemm(reinterpret_cast<const float*>(w.qd), mv * kLanes, 1, S0, rv, m, w.Yc, rv, kMaxChunk, rv, 0, zero,
               keep_pa);
    output_weights(h, bh, t0, n, w);
    // Gd^T, Vd^T: a Lanes of the chunk's 16 tokens per row (Gd, Vd are zero past n).
    for (int64_t l = 0; l < rv; ++l) {
      transpose_16x16(w.Gd + l, rv, w.GdT + l * kLanes, 1);
      transpose_16x16(w.vd + l, rv, w.VdT + l * kLanes, 1);
    }
    const int64_t srows = gemm_rows(m);
    lanes_gemm(reinterpret_cast<const float*>(S0), rv * kLanes, 1, w.GdT, 1, rows_, w.DQT, 1, srows, 1, 0, zero);
    lanes_gemm(reinterpret_cast<const float*>(w.dSt), rv * kLanes, 1, w.VdT, 1, rows_, w.DKT, 1, srows, 1, 0, zero);
    for (int64_t l = 0; l < mv; ++l) {
      transpose_16x16(w.DQT + l * kLanes, 1, w.DQ + l, mv);
      transpose_16x16(w.DKT + l * kLanes, 1, w.DK + l, mv);
    }
    lanes_gemm(reinterpret_cast<const float*>(w.kd), mv * kLanes, 1, w.dSt, rv, m, w.DV, rv, kMaxChunk, rv, 0, zero);
    if (!ungated_) {
      state_to_state_terms(m, S0, w);
      crossing_sums(n, w);
    }
    pairs(n, w);
    finish_tokens(h, bh * h.T + t0, n, w);
    // dS <- (TA TB^T) * dS + Gd^T Qd, last: the products above read the chunk's end.
    lanes_gemm(reinterpret_cast<const float*>(w.qd), 1, mv * kLanes, w.Gd, rv, n, w.dSt, rv, srows, rv, 0, decayed(w));
  }

  // G: dL/d(S_i phi(q_i)) per token, Gd = G * PA. Normalised (y = num / den, den =
  // z . phi(q) + eps): y needs the pairs' part too, so Y = Yc + pairs first; then
  // G = dy / den on the value rows and -(dy . y) / den on z's.
  void output_weights(const HeadView& h, int64_t bh, int64_t t0, int64_t n, ChunkWork& w) const {
    const int64_t dv = h.dv, rv = w.rv;
    const float* dy = dy_.data() + (bh * h.T + t0) * dv;
    if (var_.normalise) {
      std::fill(w.G, w.G + kMaxChunk * rv, Lanes{});
      std::copy(w.Yc, w.Yc + kMaxChunk * rv, w.Y);
      const ChunkRows rows{w.q, w.k, w.b, w.v, w.a, w.Y};
      if (ungated_)
        chunk_diagonal<false>(rows, n, w.mv, rv, w.qb, w.ga);
      else
        chunk_diagonal<true>(rows, n, w.mv, rv, w.qb, w.ga);
      for (int64_t i = 0; i < n; ++i) {
        float* g = reinterpret_cast<float*>(w.G + i * rv);
        const float* y = reinterpret_cast<const float*>(w.Y + i * rv);
        const float den = y[dv] + float(kNormEps);
        float dot = 0.f;
        for (int64_t r = 0; r < dv; ++r) {
          g[r] = dy[i * dv + r] / den;
          dot += g[r] * y[r];
        }
        g[dv] = -dot / den;
      }
    } else {  // G = dy, by whole-Lanes loads; zero past the width and past n
      for (int64_t i = 0; i < n; ++i) {
        w.G[(i + 1) * rv - 1] = Lanes{};
        load_row(dy + i * dv, dv, w.G + i * rv);
      }
      std::fill(w.G + n * rv, w.G + kMaxChunk * rv, Lanes{});
    }
    const int64_t rr = rv * kRegsPerLanes;
    const RegLanes *G = regs(w.G), *PA = regs(w.PA);
    RegLanes* Gd = regs(w.Gd);
    for (int64_t l = 0; l < n * rr; ++l) Gd[l] = ungated_ ? G[l] : G[l] * PA[l];
    std::fill(Gd + n * rr, Gd + kMaxChunk * rr, RegLanes{});
  }

  // S0's own path to the chunk's end, TA TB^T * S0 read by dS: a term of every
  // d log a_t (Za, per value row) and d log b_t (Zb, per key column) of the chunk.
  static void state_to_state_terms(int64_t m, const Lanes* S0, ChunkWork& w) {
    const int64_t rr = w.rv * kRegsPerLanes;
    const float* tb = reinterpret_cast<const float*>(w.TB);
    float* zb = reinterpret_cast<float*>(w.Zb);
    const RegLanes *S = regs(S0), *dS = regs(w.dSt), *TA = regs(w.TA);
    RegLanes* Za = regs(w.Za);
    std::fill(w.Za, w.Za + w.rv, Lanes{});
    std::fill(w.Zb, w.Zb + w.mv, Lanes{});
    for (int64_t k = 0; k < m; ++k) {
      RegLanes col{};
      for (int64_t l = 0; l < rr; ++l) {
        const RegLanes p = S[k * rr + l] * dS[k * rr + l] * TA[l] * tb[k];
        Za[l] += p;
        col += p;
      }
      zb[k] = reg_sum(col);
    }
  }

  // The pairs inside the chunk (chunk_pairs_backward.hpp).
  void pairs(int64_t n, ChunkWork& w) const {
    const int64_t mr = w.mv * kRegsPerLanes, rr = w.rv * kRegsPerLanes;
    const PairRows rows{regs(w.q),   regs(w.k),  regs(w.b),  regs(w.v),   regs(w.a),
                        regs(w.G),   regs(w.DQ), regs(w.DK), regs(w.lam), regs(w.DV), regs(w.mu)};
    if (ungated_)
      chunk_pairs_backward<false>(rows, n, mr, rr, regs(w.pair_scratch));
    else
      chunk_pairs_backward<true>(rows, n, mr, rr, regs(w.pair_scratch));
  }

  // Each token's gradients, DQ, DK, DV (state parts and pairs) and, for the gates,
  // the crossing terms summed per token (see the header), written out.
  // first: the chunk's first token's index over (B, H, T).
  void finish_tokens(const HeadView& h, int64_t first, int64_t n, ChunkWork& w) {
    const int64_t mv = w.mv, rv = w.rv, m = h.m, dv = h.dv, t0 = first % h.T;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t t = t0 + i;
      const float* dq = reinterpret_cast<const float*>(w.DQ + i * mv);
      const float* dK = reinterpret_cast<const float*>(w.DK + i * mv);
      const float* dV = reinterpret_cast<const float*>(w.DV + i * rv);
      // Gradients of the inputs, written once: streamed (stream_store.hpp) where they are
      // the outputs; the feature rows' gradients, which head_feature_vjp reads next, cached.
      if (direct_) {
        store_row_streaming(w.dfq + t * m, dq, m);
        store_row_streaming(w.dfk + t * m, dK, m, w.c[i]);
      } else {
        VecMap<float>(w.dfq + t * m, m) = ConstVecMap<float>(dq, m);
        VecMap<float>(w.dfk + t * m, m) = w.c[i] * ConstVecMap<float>(dK, m);
      }
      const float dc = c_gated_ ? ConstVecMap<float>(w.fk + t * m, m).dot(ConstVecMap<float>(dK, m)) : 0.f;
      store_row_streaming(g_.dv.data() + (first + i) * dv, dV, dv);
      if (ungated_) continue;
      {
        const int64_t mr = mv * kRegsPerLanes, rr = rv * kRegsPerLanes;
        for (int64_t l = 0; l < mr; ++l)
          regs(w.grad_b)[l] = (regs(w.lam)[i * mr + l] + regs(w.Zb)[l]) * reg_reciprocal(regs(w.b)[i * mr + l]);
        for (int64_t l = 0; l < rr; ++l)
          regs(w.grad_a)[l] = (regs(w.mu)[i * rr + l] + regs(w.Za)[l]) * reg_reciprocal(regs(w.a)[i * rr + l]);
      }
      const float g = factor_grads_to_gates(
          form_, reinterpret_cast<const float*>(w.grad_a), reinterpret_cast<const float*>(w.grad_b), dc, rows_, dv, m,
          grad_ptr(g_.dgate_v, (first + i) * dv), grad_ptr(g_.dgate_k, (first + i) * m),
          [](float* dst, const float* src, int64_t width) { store_row_streaming(dst, src, width); });
      if (float* dg = grad_ptr(g_.dgate, first + i)) *dg = g;
    }
  }


  // The incoming state's terms of the gate gradients: lam_t = sum_{i >= t} Qd_i * DQ_i
  // (key columns), mu_t = sum_{i >= t} G_i * Yc_i (value rows), with DQ as the product
  // left it; then the state parts DQ, DK, DV multiplied by their factors (PB, RB, RA)
  // for the pairs to add to. The outgoing state's terms, sum_{j < t} Kd_j * DK_j and
  // sum_{j < t} Vd_j * DV_j, the pairs sum with their own (chunk_pairs_backward.hpp):
  // Kd_j * DK_j = K_j * (RB_j * DK_j).
  static void crossing_sums(int64_t n, ChunkWork& w) {
    const int64_t mr = w.mv * kRegsPerLanes, rr = w.rv * kRegsPerLanes;
    const RegLanes *Qd = regs(w.Qd), *G = regs(w.G), *Yc = regs(w.Yc);
    const RegLanes *PB = regs(w.PB), *RB = regs(w.RB), *RA = regs(w.RA);
    RegLanes *DQ = regs(w.DQ), *DK = regs(w.DK), *DV = regs(w.DV), *lam = regs(w.lam), *mu = regs(w.mu);
    RegLanes *acc_a = regs(w.acc_a), *acc_b = regs(w.acc_b);
    std::fill(acc_b, acc_b + mr, RegLanes{});
    std::fill(acc_a, acc_a + rr, RegLanes{});
    for (int64_t t = n - 1; t >= 0; --t) {
      for (int64_t l = 0; l < mr; ++l) {
        lam[t * mr + l] = (acc_b[l] += Qd[t * mr + l] * DQ[t * mr + l]);
        DQ[t * mr + l] *= PB[t * mr + l];
        DK[t * mr + l] *= RB[t * mr + l];
      }
      for (int64_t l = 0; l < rr; ++l) {
        mu[t * rr + l] = (acc_a[l] += G[t * rr + l] * Yc[t * rr + l]);
        DV[t * rr + l] *= RA[t * rr + l];
      }
    }
  }

  Variant var_;
  CpuInputs in_;  // the inputs, aligned: rows read in place
  const std::vector<float>& dy_;
  int64_t chunk_;
  bool ungated_;     // add: every gate is 1, no decay and no gate gradient
  FactorForm form_;  // how the gate inputs make a, b, c
  bool direct_;      // identity features, not sum-normalised: dq, dk are the rows' gradients
  bool gate_rows_;   // a_t, b_t are the gate_v, gate_k rows (decay)
  bool c_gated_;     // c_t is a gate's (gated: 1 - g), so dL/dc_t is read; 1 elsewhere (decay)
  int64_t work_lanes_;
  HostBuffer<float> work_;  // per thread: ChunkWork
};

class ChunkedBackwardCpu final : public BackwardImpl {
 public:
  FormKey key() const override { return {"chunked", "cpu", "fp32"}; }
  bool takes_chunk() const override { return true; }  // tokens per chunk, at most 16
  int64_t effective_chunk(int64_t chunk) const override { return std::clamp<int64_t>(chunk, 1, kMaxChunk); }
  std::string unsupported_reason(const Variant& v) const override {
    if (!v.defined()) return v.undefined_reason;
    if (!v.rule->is_gated_linear() || !uses_factor_vjp(*v.rule))
      return v.rule->name() + " is not in the gated-linear family with a factor form (chunked: add, gated, decay)";
    return stateful_backward_unsupported_reason(v);
  }
  std::unique_ptr<PreparedBackward> prepare(const Variant& v, const Problem& p, const std::vector<float>& dy,
                                            const RunOptions& opts) const override {
    return std::make_unique<ChunkedBackwardPrepared>(v, p, dy, opts.chunk);
  }
};

}  // namespace

int64_t chunked_backward_workspace(int64_t T, int64_t m, int64_t rows, int64_t chunk) {
  return ChunkWork::lanes_needed(T, m, rows, std::clamp<int64_t>(chunk, 1, kMaxChunk)) * kLanes;
}

std::unique_ptr<BackwardImpl> make_chunked_backward_cpu_impl() { return std::make_unique<ChunkedBackwardCpu>(); }

}  // namespace dfw
