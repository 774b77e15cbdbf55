// chunked/cpu/fp32 for the gated-linear family (add, gated, decay):
//   S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T,  y_t = S_t phi(q_t).
// Chunks of C tokens carry the state forward; inside a chunk, sub-chunks of
// c = min(16, C) tokens (GLA's two-level scheme, Yang et al. 2023). With P/S the
// gate products from a sub-chunk's start to a token (inclusive) / after a token
// to the sub-chunk's end, T a whole sub-chunk's product, "before"/"mid"/"after"
// the products of the totals of the sub-chunks before / between / after:
//   - incoming state:     Y_I  = ((Q_I * PB * beforeB) S^T) * beforeA
//   - earlier sub-chunks: Y_I += ((Q_I * PB) [K_J * SB * midB]^T) [V_J * SA * midA], all J < I in one product
//   - then                Y_I *= PA
//   - own sub-chunk:      pairwise, with running products of the gate values
//   - state out:          S = totA S totB + (V * SA * afterA)^T (K * SB * afterB)
// Every factor is a product of gate values (each <= 1) over its own span, so
// nothing overflows for gates near 0 and no ratio of long products is formed.
// add (no gates) skips the factors: Y = Q S^T + tril(Q K^T) V, S += V^T K.
#include <omp.h>

#include <algorithm>

#include "../eigen_types.hpp"
#include "../impl.hpp"
#include "cpu_case.hpp"
#include "features.hpp"
#include "threading.hpp"

namespace dfw {
namespace {

constexpr int64_t kSubChunk = 16;

int64_t sub_chunks(int64_t n) { return (n + kSubChunk - 1) / kSubChunk; }

// Per-thread scratch for one chunk of at most C tokens; nothing is allocated
// while a chunk runs.
struct ChunkScratch {
  ChunkScratch(int64_t C, int64_t rows, int64_t m)
      : Q(C, m), K(C, m), V(C, rows), A(C, rows), B(C, m), PA(C, rows), PB(C, m), SA(C, rows), SB(C, m),
        QP(C, m), qs(C, m), KS(C, m), VS(C, rows), Y(C, rows), Kmid(C, m), Vmid(C, rows), P(kSubChunk, C),
        TA(sub_chunks(C), rows), TB(sub_chunks(C), m), beforeA(sub_chunks(C), rows), beforeB(sub_chunks(C), m),
        midA(rows), midB(m), W(rows), qg(m), s(kSubChunk) {}
  RowMat<float> Q, K, V;     // (n, m) phi(q); (n, m) c_t phi(k); (n, rows) v with a 1 appended for z
  RowMat<float> A, B;        // (n, rows), (n, m) gate values
  RowMat<float> PA, PB;      // gate products from the sub-chunk start to the token, inclusive
  RowMat<float> SA, SB;      // gate products after the token to the sub-chunk end
  RowMat<float> QP;          // (n, m) Q * PB: decayed from the sub-chunk start
  RowMat<float> qs;          // (n, m) QP * beforeB: decayed from the chunk start
  RowMat<float> KS, VS;      // (n, m), (n, rows) K * SB, V * SA: decayed to the sub-chunk end
  RowMat<float> Y;           // (n, rows) outputs (numerator; last column z.phi(q))
  RowMat<float> Kmid, Vmid;  // (I c, m), (I c, rows) earlier sub-chunks decayed to sub-chunk I
  RowMat<float> P;           // (c, <= n) scores of one sub-chunk against earlier keys
  RowMat<float> TA, TB;      // (ns, rows), (ns, m) products over whole sub-chunks
  RowMat<float> beforeA, beforeB;  // (ns, .) products of the totals of the earlier sub-chunks
  Eigen::ArrayXf midA, midB;       // products of the totals strictly between two sub-chunks
  Eigen::ArrayXf W, qg, s;         // diagonal block: running sum, decayed query, scores
};

using Rows = Eigen::Block<RowMat<float>, Eigen::Dynamic, Eigen::Dynamic, true>;

// Prefix (inclusive) and suffix (after the token) products of the gate rows
// inside each sub-chunk, and each sub-chunk's total.
void sub_chunk_products(const RowMat<float>& G, int64_t n, RowMat<float>& pre, RowMat<float>& suf,
                        RowMat<float>& tot) {
  for (int64_t s = 0; s < sub_chunks(n); ++s) {
    const int64_t a = s * kSubChunk, e = std::min(n, a + kSubChunk);
    pre.row(a) = G.row(a);
    for (int64_t i = a + 1; i < e; ++i) pre.row(i).array() = pre.row(i - 1).array() * G.row(i).array();
    tot.row(s) = pre.row(e - 1);
    suf.row(e - 1).setOnes();
    for (int64_t i = e - 2; i >= a; --i) suf.row(i).array() = suf.row(i + 1).array() * G.row(i + 1).array();
  }
}

class ChunkedPrepared final : public Prepared {
 public:
  ChunkedPrepared(const Variant& v, const Problem& p, int64_t chunk)
      : var_(v), c_(v, p), C_(std::max<int64_t>(1, chunk)), ungated_(v.rule->gates_are_ones()) {
    const int n = omp_get_max_threads();
    for (int i = 0; i < n; ++i) scratch_.emplace_back(std::min(C_, p.shape.T), c_.rows, p.m);
  }

  void run() override {
    const int64_t BH = c_.shape.B * c_.shape.H;
#pragma omp parallel for schedule(dynamic) if (worth_threads(BH * c_.shape.T * c_.rows * c_.m))
    for (int64_t bh = 0; bh < BH; ++bh) run_head(bh, scratch_[omp_get_thread_num()]);
  }
  Output output() const override { return c_.output(); }

 private:
  void run_head(int64_t bh, ChunkScratch& w) {
    const HeadView h = c_.head(bh);
    c_.reset_state(bh);
    MatMap<float> S(c_.state_of(bh), c_.rows, h.m);
    for (int64_t t0 = 0; t0 < h.T; t0 += C_) {
      const int64_t n = std::min(C_, h.T - t0);
      load_chunk(h, t0, n, w);
      if (ungated_)
        run_ungated_chunk(n, S, w);
      else
        run_chunk(n, S, w);
      store_outputs(h.dv, n, w, c_.y_of(bh) + t0 * h.dv);
    }
  }

  // add (every gate 1): no decay factors, so Y = Q S^T + tril(Q K^T) V and
  // S += V^T K, the causal part a sub-chunk of queries at a time.
  void run_ungated_chunk(int64_t n, MatMap<float>& S, ChunkScratch& w) {
    w.Y.topRows(n).noalias() = w.Q.topRows(n) * S.transpose();
    for (int64_t a = 0; a < n; a += kSubChunk) {
      const int64_t len = std::min(n, a + kSubChunk) - a, keys = a + len;
      auto P = w.P.topLeftCorner(len, keys);  // (len, keys) scores against every key up to the sub-chunk end
      P.noalias() = w.Q.middleRows(a, len) * w.K.topRows(keys).transpose();
      P.rightCols(len).triangularView<Eigen::StrictlyUpper>().setZero();
      w.Y.middleRows(a, len).noalias() += P * w.V.topRows(keys);
    }
    S.noalias() += w.V.topRows(n).transpose() * w.K.topRows(n);
  }

  // y rows of the chunk (divided by z.phi(q) + eps when normalised).
  void store_outputs(int64_t dv, int64_t n, const ChunkScratch& w, float* y) const {
    MatMap<float> out(y, n, dv);
    if (c_.normalise)
      out.array() = w.Y.topLeftCorner(n, dv).array().colwise() / (w.Y.col(dv).head(n).array() + float(kNormEps));
    else
      out = w.Y.topLeftCorner(n, dv);
  }

  void load_chunk(const HeadView& h, int64_t t0, int64_t n, ChunkScratch& w) {
    const int64_t m = h.m, dv = h.dv, rows = c_.rows;
    compute_features(var_, h.features, h.q + t0 * h.dk, n, h.dk, m, w.Q.data());
    compute_features(var_, h.features, h.k + t0 * h.dk, n, h.dk, m, w.K.data());
    for (int64_t i = 0; i < n; ++i) {
      if (!ungated_) {
        const float c = var_.rule->gated_linear_factors(h.gates_at(t0 + i), rows, m, &w.A(i, 0), &w.B(i, 0));
        if (c != 1.f) w.K.row(i) *= c;
      }
      w.V.row(i).head(dv) = ConstVecMap<float>(h.v + (t0 + i) * dv, dv).transpose();
      if (c_.normalise) w.V(i, dv) = 1.f;
    }
  }

  void run_chunk(int64_t n, MatMap<float>& S, ChunkScratch& w) {
    const int64_t ns = sub_chunks(n);
    sub_chunk_products(w.A, n, w.PA, w.SA, w.TA);
    sub_chunk_products(w.B, n, w.PB, w.SB, w.TB);
    w.QP.topRows(n).array() = w.Q.topRows(n).array() * w.PB.topRows(n).array();
    w.KS.topRows(n).array() = w.K.topRows(n).array() * w.SB.topRows(n).array();
    w.VS.topRows(n).array() = w.V.topRows(n).array() * w.SA.topRows(n).array();
    w.beforeA.row(0).setOnes();
    w.beforeB.row(0).setOnes();
    for (int64_t I = 1; I < ns; ++I) {
      w.beforeA.row(I).array() = w.beforeA.row(I - 1).array() * w.TA.row(I - 1).array();
      w.beforeB.row(I).array() = w.beforeB.row(I - 1).array() * w.TB.row(I - 1).array();
    }

    // Incoming state, decayed to every token of the chunk, as one product.
    for (int64_t I = 0; I < ns; ++I) {
      const int64_t a = I * kSubChunk, len = std::min(n, a + kSubChunk) - a;
      w.qs.middleRows(a, len).array() = w.QP.middleRows(a, len).array().rowwise() * w.beforeB.row(I).array();
    }
    w.Y.topRows(n).noalias() = w.qs.topRows(n) * S.transpose();

    for (int64_t I = 0; I < ns; ++I) {
      const int64_t a = I * kSubChunk, len = std::min(n, a + kSubChunk) - a;
      Rows Y = w.Y.middleRows(a, len);
      if (I > 0) {
        Y.array().rowwise() *= w.beforeA.row(I).array();
        // Earlier sub-chunks J < I, each decayed by the totals strictly between J and I.
        w.midA.setOnes();
        w.midB.setOnes();
        for (int64_t J = I - 1; J >= 0; --J) {
          const int64_t b = J * kSubChunk;
          w.Kmid.middleRows(b, kSubChunk).array() = w.KS.middleRows(b, kSubChunk).array().rowwise() * w.midB.transpose();
          w.Vmid.middleRows(b, kSubChunk).array() = w.VS.middleRows(b, kSubChunk).array().rowwise() * w.midA.transpose();
          w.midA *= w.TA.row(J).transpose().array();
          w.midB *= w.TB.row(J).transpose().array();
        }
        auto P = w.P.topLeftCorner(len, a);
        P.noalias() = w.QP.middleRows(a, len) * w.Kmid.topRows(a).transpose();
        Y.noalias() += P * w.Vmid.topRows(a);
      }
      Y.array() *= w.PA.middleRows(a, len).array();
      diagonal_block(a, len, w);
    }
    // State out: decay by the chunk's total, add each token decayed by what follows it.
    w.midA.setOnes();
    w.midB.setOnes();
    for (int64_t I = ns - 1; I >= 0; --I) {
      const int64_t a = I * kSubChunk, len = std::min(n, a + kSubChunk) - a;
      if (I < ns - 1) {
        w.VS.middleRows(a, len).array().rowwise() *= w.midA.transpose();
        w.KS.middleRows(a, len).array().rowwise() *= w.midB.transpose();
      }
      w.midA *= w.TA.row(I).transpose().array();
      w.midB *= w.TB.row(I).transpose().array();
    }
    S.array().colwise() *= w.midA;
    S.array().rowwise() *= w.midB.transpose();
    S.noalias() += w.VS.topRows(n).transpose() * w.KS.topRows(n);
  }

  // Pairs j <= i inside one sub-chunk, added to Y. For each query i: the scores
  // s_j = sum_k q_i k_j prod_{(j, i]} b, with q_i decayed one token further back
  // at each step, then W = sum_j s_j prod_{(j, i]} a * v_j by Horner's rule.
  void diagonal_block(int64_t a, int64_t len, ChunkScratch& w) {
    for (int64_t i = 0; i < len; ++i) {
      w.qg = w.Q.row(a + i).transpose().array();
      w.s(i) = (w.qg * w.K.row(a + i).transpose().array()).sum();
      for (int64_t j = i - 1; j >= 0; --j) {
        w.qg *= w.B.row(a + j + 1).transpose().array();
        w.s(j) = (w.qg * w.K.row(a + j).transpose().array()).sum();
      }
      w.W = w.s(0) * w.V.row(a).transpose().array();
      for (int64_t j = 1; j <= i; ++j)
        w.W = w.W * w.A.row(a + j).transpose().array() + w.s(j) * w.V.row(a + j).transpose().array();
      w.Y.row(a + i).array() += w.W.transpose();
    }
  }

  Variant var_;
  CpuCase c_;
  int64_t C_;
  bool ungated_;  // add: every gate is 1
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
};

}  // namespace

std::unique_ptr<Impl> make_chunked_cpu_impl() { return std::make_unique<ChunkedCpu>(); }

}  // namespace dfw
