// chunked/cpu/fp32 for the gated-linear family (add, gated, decay, and any rule
// that returns gated_linear_factors()):
//   S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T,  y_t = S_t phi(q_t).
// The sequence is cut into chunks of n <= c = min(C, 16) tokens and the state is
// carried from chunk to chunk. With PA_i, PB_i the products of the gate values
// from the chunk's start to token i (inclusive), RA_j, RB_j those after token j
// to the chunk's end, and TA, TB the chunk's totals:
//   - incoming state: Y_i  = PA_i * (S (q_i * PB_i))                  one product, (n x m)(m x rows)
//   - own chunk:      Y_i += sum_{j<=i} prod_{(j,i]} a * v_j s_ij,  s_ij = q_i * prod_{(j,i]} b . k_j
//                     (running products over each pair's own span, Horner's rule over j)
//   - state out:      S = (TA TB^T) * S + sum_j (v_j * RA_j)(k_j * RB_j)^T   one product, (rows x n)(n x m)
// Every factor is a product of gate values (each <= 1) over its own span: nothing
// overflows for gates near 0 and no ratio of products is formed.
//
// Why chunks of at most 16 tokens here, whatever C is asked for: one CPU thread
// runs one (b, h) sequence, so a chunk needs no parallelism inside it. The state
// costs 4 dv m FLOPs per token (read out and written) at any chunk length, while
// a chunk of C tokens adds (dv + m) C FLOPs per token of attention between its
// tokens. 16 tokens is one register tile of the products above; a longer chunk
// only adds work. (The CUDA form, which needs the parallelism, uses C as given.)
// The state is kept transposed, St = S^T (m x rows), so both products stream its
// rows as Lanes (lanes.hpp).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../impl.hpp"
#include "chunk_diagonal.hpp"
#include "cpu_case.hpp"
#include "features.hpp"
#include "lanes.hpp"
#include "threading.hpp"

namespace dfw {
namespace {

constexpr int64_t kMaxChunk = 16;

// Per-thread scratch for one chunk; rows of Lanes, widths padded with zeros.
// mv = lane_count(m), rv = lane_count(rows).
struct ChunkScratch {
  ChunkScratch(int64_t m, int64_t rows)
      : mv(lane_count(m)),
        rv(lane_count(rows)),
        Q(kMaxChunk * mv), K(kMaxChunk * mv), B(kMaxChunk * mv), PB(kMaxChunk * mv), Qd(kMaxChunk * mv),
        Kd(kMaxChunk * mv), V(kMaxChunk * rv), A(kMaxChunk * rv), PA(kMaxChunk * rv), Vd(kMaxChunk * rv),
        Y(kMaxChunk * rv), St(mv * kLanes * rv), TA(rv), TB(mv), RA(rv), RB(mv), qg(mv), W(rv),
        features(lane_count(kMaxChunk * m)) {
    // Gate padding past rows / m is 1 (gated_linear_factors writes only the real
    // width), so the products over whole Lanes stay finite.
    std::fill(A.begin(), A.end(), splat(1.f));
    std::fill(B.begin(), B.end(), splat(1.f));
  }
  int64_t mv, rv;
  std::vector<Lanes> Q, K, B, PB, Qd, Kd;  // (c, mv): phi(q); c_t phi(k); key gates; prefix products; decayed
  std::vector<Lanes> V, A, PA, Vd;         // (c, rv): v (1 appended for z); value gates; prefix; decayed
  const Lanes *q = nullptr, *k = nullptr, *v = nullptr;  // this chunk's rows: Q, K, V or the inputs in place
  const Lanes *a = nullptr, *b = nullptr;                // and its gate rows: A, B or the inputs in place
  std::vector<Lanes> Y;                    // (c, rv) outputs before normalisation
  std::vector<Lanes> St;                   // (mv * 16, rv) the state, transposed
  std::vector<Lanes> TA, TB, RA, RB;       // chunk totals; running suffix products
  std::vector<Lanes> qg, W;                // diagonal block: decayed query, Horner sum
  // (c, m) phi of one chunk before padding. Aligned like the other rows: Eigen's
  // feature maps take a scalar path for a misaligned head, whose exp differs from
  // the vector one in the last bit, so results would depend on where malloc put it.
  std::vector<Lanes> features;
};

class ChunkedPrepared final : public Prepared {
 public:
  ChunkedPrepared(const Variant& v, const Problem& p, int64_t chunk)
      : var_(v),
        c_(v, p),
        chunk_(std::clamp<int64_t>(chunk, 1, kMaxChunk)),
        ungated_(v.rule->gates_are_ones()),
        direct_features_(v.phi->is_identity() && !v.sum_normalise),
        gate_rows_in_place_(v.rule->factors_are_gate_rows()) {
    for (int i = 0; i < omp_get_max_threads(); ++i) scratch_.emplace_back(p.m, c_.rows);
  }

  void run() override {
    const int64_t BH = c_.shape.B * c_.shape.H;
    for_each_head(BH, BH * c_.shape.T * c_.rows * c_.m, HeadSchedule::dynamic,
                  [&](int64_t bh, int thread) { run_head(bh, scratch_[thread]); });
  }
  Output output() const override { return c_.output(); }

 private:
  void run_head(int64_t bh, ChunkScratch& w) {
    const HeadView h = c_.head(bh);
    load_state(bh, w);
    for (int64_t t0 = 0; t0 < h.T; t0 += chunk_) {
      const int64_t n = std::min(chunk_, h.T - t0);
      load_chunk(h, t0, n, w);
      if (!ungated_) decay_chunk(n, w);
      carry_state(n, w);
      diagonal(n, w);
      store_outputs(h.dv, n, w, c_.y_of(bh) + t0 * h.dv);
    }
    store_state(bh, w);
  }

  // St = (s0 or 0)^T, zero-padded; the normaliser row z (if any) starts at 0.
  void load_state(int64_t bh, ChunkScratch& w) {
    c_.reset_state(bh);
    std::fill(w.St.begin(), w.St.end(), Lanes{});
    const float* S = c_.state_of(bh);  // (rows, m)
    for (int64_t r = 0; r < c_.rows; ++r)
      for (int64_t k = 0; k < c_.m; ++k) w.St[k * w.rv + r / kLanes][r % kLanes] = S[r * c_.m + k];
  }

  void store_state(int64_t bh, const ChunkScratch& w) {
    float* S = c_.state_of(bh);
    for (int64_t r = 0; r < c_.rows; ++r)
      for (int64_t k = 0; k < c_.m; ++k) S[r * c_.m + k] = w.St[k * w.rv + r / kLanes][r % kLanes];
  }

  // The rows of n tokens: w.q, w.k (with c_t), w.v (with the 1 for z), and the
  // gate values A, B. A full chunk whose rows are already whole aligned Lanes in
  // the inputs (identity features, widths a multiple of 16) is read in place;
  // otherwise the rows are copied into the scratch, zero past n, so the products
  // can run on whole tiles.
  void load_chunk(const HeadView& h, int64_t t0, int64_t n, ChunkScratch& w) {
    const int64_t m = h.m, dv = h.dv, mv = w.mv, rv = w.rv;
    const bool full = n == kMaxChunk;
    // Rows of `width` floats into rows of `lanes` Lanes; the zero padding past
    // `width` is written once (the scratch starts zeroed) and rows past n are zeroed.
    auto pad_rows = [&](std::vector<Lanes>& dst, int64_t lanes, const float* src, int64_t width) {
      for (int64_t i = 0; i < kMaxChunk; ++i) {
        float* row = reinterpret_cast<float*>(dst.data() + i * lanes);
        if (i < n)
          std::copy(src + i * width, src + (i + 1) * width, row);
        else
          std::fill(row, row + width, 0.f);
      }
    };
    // The rows as they are in the inputs, or nullptr when they are not whole Lanes.
    auto in_place = [&](const float* src, int64_t width, int64_t lanes) -> const Lanes* {
      const bool whole = width == lanes * kLanes && reinterpret_cast<uintptr_t>(src) % sizeof(Lanes) == 0;
      return full && whole ? reinterpret_cast<const Lanes*>(src) : nullptr;
    };
    auto rows = [&](const float* src, int64_t width, int64_t lanes, std::vector<Lanes>& dst) -> const Lanes* {
      if (const Lanes* p = in_place(src, width, lanes)) return p;
      pad_rows(dst, lanes, src, width);
      return dst.data();
    };
    auto features = [&](const float* x, std::vector<Lanes>& dst) -> const Lanes* {
      if (direct_features_) return rows(x, m, mv, dst);
      float* f = reinterpret_cast<float*>(w.features.data());
      compute_features(var_, h.features, x, n, h.dk, m, f);
      pad_rows(dst, mv, f, m);
      return dst.data();
    };
    w.q = features(h.q + t0 * h.dk, w.Q);
    w.k = features(h.k + t0 * h.dk, w.K);
    if (c_.normalise) {
      pad_rows(w.V, rv, h.v + t0 * dv, dv);
      for (int64_t i = 0; i < n; ++i) w.V[i * rv + dv / kLanes][dv % kLanes] = 1.f;
      w.v = w.V.data();
    } else {
      w.v = rows(h.v + t0 * dv, dv, rv, w.V);
    }
    if (ungated_) return;
    if (gate_rows_in_place_ && c_.rows == dv) {
      w.a = in_place(h.gate_v + t0 * dv, dv, rv);
      w.b = in_place(h.gate_k + t0 * m, m, mv);
      if (w.a && w.b) return;
    }
    w.a = w.A.data();
    w.b = w.B.data();
    float c[kMaxChunk];
    bool scaled = false;
    for (int64_t i = 0; i < n; ++i) {
      float* a = reinterpret_cast<float*>(w.A.data() + i * rv);
      float* b = reinterpret_cast<float*>(w.B.data() + i * mv);
      c[i] = var_.rule->gated_linear_factors(h.gates_at(t0 + i), c_.rows, m, a, b);
      scaled = scaled || c[i] != 1.f;
    }
    if (!scaled) return;
    if (w.k != w.K.data()) {  // read in place: copy before scaling
      std::copy(w.k, w.k + n * mv, w.K.begin());
      w.k = w.K.data();
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t l = 0; l < mv; ++l) w.K[i * mv + l] *= c[i];
  }

  // Prefix products PA, PB, totals TA, TB, and the decayed rows
  // Qd = Q * PB, Kd = K * RB, Vd = V * RA (suffix products run backwards).
  void decay_chunk(int64_t n, ChunkScratch& w) {
    // Elementwise over target registers (RegLanes, lanes.hpp), not Lanes temporaries.
    const int64_t mr = w.mv * kRegsPerLanes, rr = w.rv * kRegsPerLanes;
    const RegLanes *q = regs(w.q), *k = regs(w.k), *v = regs(w.v), *a = regs(w.a), *b = regs(w.b);
    RegLanes *PA = regs(w.PA.data()), *PB = regs(w.PB.data()), *Qd = regs(w.Qd.data());
    RegLanes *Kd = regs(w.Kd.data()), *Vd = regs(w.Vd.data()), *RA = regs(w.RA.data()), *RB = regs(w.RB.data());
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t l = 0; l < rr; ++l) PA[i * rr + l] = i ? PA[(i - 1) * rr + l] * a[i * rr + l] : a[l];
      for (int64_t l = 0; l < mr; ++l) {
        PB[i * mr + l] = i ? PB[(i - 1) * mr + l] * b[i * mr + l] : b[l];
        Qd[i * mr + l] = q[i * mr + l] * PB[i * mr + l];
      }
    }
    std::fill(Qd + n * mr, Qd + kMaxChunk * mr, RegLanes{});
    std::copy_n(w.PA.begin() + (n - 1) * w.rv, w.rv, w.TA.begin());
    std::copy_n(w.PB.begin() + (n - 1) * w.mv, w.mv, w.TB.begin());
    std::fill(RA, RA + rr, reg_splat(1.f));
    std::fill(RB, RB + mr, reg_splat(1.f));
    for (int64_t j = n - 1; j >= 0; --j) {
      for (int64_t l = 0; l < rr; ++l) Vd[j * rr + l] = v[j * rr + l] * RA[l];
      for (int64_t l = 0; l < mr; ++l) Kd[j * mr + l] = k[j * mr + l] * RB[l];
      for (int64_t l = 0; l < rr; ++l) RA[l] *= a[j * rr + l];
      for (int64_t l = 0; l < mr; ++l) RB[l] *= b[j * mr + l];
    }
  }

  // The incoming state read by every row of the chunk, then the state written:
  //   Y = PA * (Qd St),  St = (TB TA^T) * St + Kd^T Vd,
  // a panel of two Lanes of state columns (32 value rows) at a time, so the
  // panel (m x 32 floats) stays in L1 from its read to its write.
  void carry_state(int64_t n, ChunkScratch& w) {
    const int64_t mv = w.mv, rv = w.rv, m = c_.m;
    const int64_t y_rows = n <= kGemmRows ? kGemmRows : kMaxChunk;      // Qd is zero past n
    const int64_t st_rows = (m + kGemmRows - 1) / kGemmRows * kGemmRows;  // St is zero past m
    const float* qd = reinterpret_cast<const float*>(ungated_ ? w.q : w.Qd.data());
    const float* kd = reinterpret_cast<const float*>(ungated_ ? w.k : w.Kd.data());
    const Lanes* vd = ungated_ ? w.v : w.Vd.data();
    const float* tb = reinterpret_cast<const float*>(w.TB.data());
    const RegLanes *pa = regs(w.PA.data()), *ta = regs(w.TA.data());
    auto zero = [](int64_t, int64_t, int, RegLanes) { return RegLanes{}; };
    auto times_pa = [&](int64_t i, int64_t l, int h, RegLanes y) { return y * pa[(i * rv + l) * kRegsPerLanes + h]; };
    auto decayed = [&](int64_t k, int64_t l, int h, RegLanes st) { return st * (tb[k] * ta[l * kRegsPerLanes + h]); };
    for (int64_t j0 = 0; j0 < rv; j0 += 2) {
      const int64_t cols = std::min<int64_t>(2, rv - j0);
      Lanes* St = w.St.data() + j0;
      Lanes* Y = w.Y.data() + j0;
      if (ungated_) {
        lanes_gemm(qd, mv * kLanes, 1, St, rv, m, Y, rv, y_rows, cols, j0, zero);
        lanes_gemm(kd, 1, mv * kLanes, vd + j0, rv, n, St, rv, st_rows, cols, j0);
      } else {
        lanes_gemm(qd, mv * kLanes, 1, St, rv, m, Y, rv, y_rows, cols, j0, zero, times_pa);
        lanes_gemm(kd, 1, mv * kLanes, vd + j0, rv, n, St, rv, st_rows, cols, j0, decayed);
      }
    }
  }

  // Pairs inside the chunk (chunk_diagonal.hpp).
  void diagonal(int64_t n, ChunkScratch& w) {
    const ChunkRows rows{w.q, w.k, w.b, w.v, w.a, w.Y.data()};
    if (ungated_)
      chunk_diagonal<false>(rows, n, w.mv, w.rv, w.qg.data(), w.W.data());
    else
      chunk_diagonal<true>(rows, n, w.mv, w.rv, w.qg.data(), w.W.data());
  }

  // y rows of the chunk (divided by z.phi(q) + eps when normalised).
  void store_outputs(int64_t dv, int64_t n, const ChunkScratch& w, float* y) const {
    for (int64_t i = 0; i < n; ++i) {
      const float* row = reinterpret_cast<const float*>(w.Y.data() + i * w.rv);
      if (c_.normalise) {
        const float z = row[dv] + float(kNormEps);
        for (int64_t r = 0; r < dv; ++r) y[i * dv + r] = row[r] / z;
      } else {
        std::copy(row, row + dv, y + i * dv);
      }
    }
  }

  Variant var_;
  CpuCase c_;
  int64_t chunk_;  // tokens per chunk: min(C, 16)
  bool ungated_;   // add: every gate is 1
  bool direct_features_;  // phi is the identity: rows are copied from q, k as they are
  bool gate_rows_in_place_;  // a_t, b_t are the gate_v, gate_k rows (decay)
  std::vector<ChunkScratch> scratch_;
};

class ChunkedCpu final : public Impl {
 public:
  FormKey key() const override { return {"chunked", "cpu", "fp32"}; }
  std::string unsupported_reason(const Variant& v, Mode mode) const override {
    if (!v.defined()) return v.undefined_reason;
    if (!v.rule->is_gated_linear()) return v.rule->name() + " is not in the gated-linear family (chunked: add, gated, decay)";
    if (mode != Mode::sequence) return "chunked is a whole-sequence form (see decode)";
    return "";
  }
  std::unique_ptr<Prepared> prepare(const Variant& v, const Problem& p, const RunOptions& o) const override {
    return std::make_unique<ChunkedPrepared>(v, p, o.chunk);
  }
  int64_t effective_chunk(int64_t chunk) const override { return std::clamp<int64_t>(chunk, 1, kMaxChunk); }
};

}  // namespace

std::unique_ptr<Impl> make_chunked_cpu_impl() { return std::make_unique<ChunkedCpu>(); }

}  // namespace dfw
