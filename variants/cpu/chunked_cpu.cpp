// chunked/cpu/fp32 for the gated-linear family (add, gated, decay):
//   S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T,  y_t = S_t phi(q_t).
// Chunks of C tokens carry the state forward; inside a chunk, sub-chunks of
// c = min(16, C) tokens (GLA's two-level scheme, Yang et al. 2023):
//   - incoming state:     Y_i  = (Q_i * e^{CB_i}) S^T * e^{CA_i}
//   - earlier sub-chunks: Y_I += ((Q_I * e^{PB_I + midB}) (K_J * e^{SB_J})^T) (V_J * e^{SA_J}) * e^{PA_I + midA}
//   - own sub-chunk:      pairwise, with running products of the gate values
//   - state out:          S = e^{totA} S e^{totB} + (V * e^{XA})^T (K * e^{XB})
// Every exponent is a sum of log gates (<= 0) over its own span: prefix (P) and
// suffix (S) sums inside a sub-chunk, totals of whole sub-chunks (mid, C, X), so
// nothing overflows for gates near 0 and no long cumulative sums are subtracted.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "../eigen_types.hpp"
#include "../impl.hpp"
#include "cpu_case.hpp"
#include "threading.hpp"
#include "features.hpp"

namespace dfw {
namespace {

constexpr int64_t kSubChunk = 16;

using ArrayXf = Eigen::Array<float, Eigen::Dynamic, 1>;
using RowArr = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Per-thread scratch for one chunk of at most C tokens; nothing is allocated
// while a chunk runs.
struct ChunkScratch {
  ChunkScratch(int64_t C, int64_t rows, int64_t m)
      : Q(C, m), K(C, m), V(C, rows), A(C, rows), B(C, m), LA(C, rows), LB(C, m), EPA(C, rows), EPB(C, m), ESA(C, rows),
        ESB(C, m), QP(C, m), KS(C, m), VS(C, rows), Y(C, rows), tmp(kSubChunk, rows), P(kSubChunk, kSubChunk), qs(C, m),
        qj(kSubChunk, m), TA(sub_chunks(C), rows), TB(sub_chunks(C), m), eBeforeA(sub_chunks(C), rows), sumA(rows),
        sumB(m), midA(rows), midB(m), eA(rows), eB(m), ga(rows), gb(m) {}
  static int64_t sub_chunks(int64_t n) { return (n + kSubChunk - 1) / kSubChunk; }
  RowMat<float> Q, K, V;   // (n, m) phi(q); (n, m) c_t phi(k); (n, rows) v with a 1 appended for z
  RowArr A, B;             // (n, rows), (n, m) gate values
  RowArr LA, LB;           // their logs
  RowArr EPA, EPB;         // e^{prefix log gate inside the sub-chunk, inclusive}
  RowArr ESA, ESB;         // e^{suffix log gate inside the sub-chunk, after the token}
  RowMat<float> QP;        // (n, m)    Q * e^{PB}: decayed from the sub-chunk start
  RowMat<float> KS, VS;    // (n, m), (n, rows) K * e^{SB}, V * e^{SA}: decayed to the sub-chunk end
  RowMat<float> Y;         // (n, rows) outputs (numerator; last column z.phi(q))
  RowMat<float> tmp;
  RowMat<float> P;
  RowMat<float> qs;        // (n, m) phi(q) decayed from the chunk start
  RowMat<float> qj;        // (c, m) phi(q) decayed to the end of an earlier sub-chunk
  RowArr TA, TB;           // (ns, rows), (ns, m) log totals of whole sub-chunks
  RowArr eBeforeA;         // (ns, rows) e^{log total of the chunk's earlier sub-chunks}
  ArrayXf sumA, sumB;      // running sums of sub-chunk totals (before / after a sub-chunk)
  ArrayXf midA, midB;      // sums of the totals strictly between two sub-chunks
  ArrayXf eA, eB;          // exponentials of the above
  ArrayXf ga, gb;          // running gate products (diagonal block); running sums (sub_chunk_sums)
};

class ChunkedPrepared final : public Prepared {
 public:
  ChunkedPrepared(const Variant& v, const Problem& p, int64_t chunk)
      : var_(v), c_(v, p), C_(std::max<int64_t>(1, chunk)) {
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
    for (int64_t t0 = 0; t0 < h.T; t0 += C_) run_chunk(h, t0, std::min(C_, h.T - t0), S, c_.y_of(bh), w);
  }

  void load_chunk(const HeadView& h, int64_t t0, int64_t n, ChunkScratch& w) {
    const int64_t m = h.m, dv = h.dv, rows = c_.rows;
    compute_features(var_, h.features, h.q + t0 * h.dk, n, h.dk, m, w.Q.data());
    compute_features(var_, h.features, h.k + t0 * h.dk, n, h.dk, m, w.K.data());
    for (int64_t i = 0; i < n; ++i) {
      const float c = var_.rule->gated_linear_factors(h.gates_at(t0 + i), rows, m, &w.A(i, 0), &w.B(i, 0));
      if (c != 1.f) w.K.row(i) *= c;
      w.V.row(i).head(dv) = ConstVecMap<float>(h.v + (t0 + i) * dv, dv).transpose();
      if (c_.normalise) w.V(i, dv) = 1.f;
    }
    w.LA.topRows(n) = w.A.topRows(n).log();
    w.LB.topRows(n) = w.B.topRows(n).log();
  }

  // Prefix / suffix exponentials inside each sub-chunk, and each sub-chunk's log
  // total; run is scratch of the row width.
  static void sub_chunk_sums(const RowArr& L, RowArr& EP, RowArr& ES, int64_t n, RowArr& totals, ArrayXf& run) {
    const int64_t ns = ChunkScratch::sub_chunks(n);
    for (int64_t s = 0; s < ns; ++s) {
      const int64_t a = s * kSubChunk, e = std::min(n, a + kSubChunk);
      run.setZero();
      for (int64_t i = a; i < e; ++i) {
        run += L.row(i).transpose();
        EP.row(i) = run.exp().transpose();
      }
      totals.row(s) = run.transpose();
      run.setZero();
      for (int64_t i = e - 1; i >= a; --i) {
        ES.row(i) = run.exp().transpose();
        run += L.row(i).transpose();
      }
    }
  }

  void run_chunk(const HeadView& h, int64_t t0, int64_t n, MatMap<float>& S, float* y, ChunkScratch& w) {
    const int64_t dv = h.dv, ns = ChunkScratch::sub_chunks(n);
    load_chunk(h, t0, n, w);
    sub_chunk_sums(w.LA, w.EPA, w.ESA, n, w.TA, w.ga);
    sub_chunk_sums(w.LB, w.EPB, w.ESB, n, w.TB, w.gb);
    w.QP.topRows(n) = (w.Q.topRows(n).array() * w.EPB.topRows(n)).matrix();
    w.KS.topRows(n) = (w.K.topRows(n).array() * w.ESB.topRows(n)).matrix();
    w.VS.topRows(n) = (w.V.topRows(n).array() * w.ESA.topRows(n)).matrix();

    // Incoming state, decayed to each token (exponents beforeX + PX_i), as one GEMM
    // over the chunk: Y = (Q * e^{PB} * e^{beforeB}) S^T, then * e^{beforeA} per sub-chunk.
    w.sumA.setZero();
    w.sumB.setZero();
    for (int64_t I = 0; I < ns; ++I) {
      const int64_t a = I * kSubChunk, len = std::min(n, a + kSubChunk) - a;
      w.eB = w.sumB.exp();
      w.eBeforeA.row(I) = w.sumA.exp().transpose();
      w.qs.middleRows(a, len) = w.QP.middleRows(a, len) * w.eB.matrix().asDiagonal();
      w.sumA += w.TA.row(I).transpose();
      w.sumB += w.TB.row(I).transpose();
    }
    w.Y.topRows(n).noalias() = w.qs.topRows(n) * S.transpose();
    for (int64_t I = 0; I < ns; ++I) {
      const int64_t a = I * kSubChunk, len = std::min(n, a + kSubChunk) - a;
      auto Y = w.Y.middleRows(a, len);
      Y.array().rowwise() *= w.eBeforeA.row(I);
      // Earlier sub-chunks J of this chunk: exponents midX (totals strictly between J and I).
      w.midA.setZero();
      w.midB.setZero();
      for (int64_t J = I - 1; J >= 0; --J) {
        const int64_t b = J * kSubChunk;
        w.eA = w.midA.exp();
        w.eB = w.midB.exp();
        w.qj.topRows(len) = w.QP.middleRows(a, len) * w.eB.matrix().asDiagonal();
        w.P.topLeftCorner(len, kSubChunk).noalias() = w.qj.topRows(len) * w.KS.middleRows(b, kSubChunk).transpose();
        w.tmp.topRows(len).noalias() = w.P.topLeftCorner(len, kSubChunk) * w.VS.middleRows(b, kSubChunk);
        Y.noalias() += w.tmp.topRows(len) * w.eA.matrix().asDiagonal();
        w.midA += w.TA.row(J).transpose();
        w.midB += w.TB.row(J).transpose();
      }
      Y.array() *= w.EPA.middleRows(a, len);
      diagonal_block(a, len, w);
    }
    // Outputs.
    for (int64_t i = 0; i < n; ++i) {
      float* yi = y + (t0 + i) * dv;
      const float denom = c_.normalise ? w.Y(i, dv) + float(kNormEps) : 1.f;
      for (int64_t r = 0; r < dv; ++r) yi[r] = w.Y(i, r) / denom;
    }
    // State out: decay by the chunk's total, add each token decayed by what follows it.
    w.sumA.setZero();
    w.sumB.setZero();
    for (int64_t I = ns - 1; I >= 0; --I) {
      const int64_t a = I * kSubChunk, len = std::min(n, a + kSubChunk) - a;
      w.eA = w.sumA.exp();
      w.eB = w.sumB.exp();
      w.VS.middleRows(a, len).array().rowwise() *= w.eA.transpose();
      w.KS.middleRows(a, len).array().rowwise() *= w.eB.transpose();
      w.sumA += w.TA.row(I).transpose();
      w.sumB += w.TB.row(I).transpose();
    }
    w.eA = w.sumA.exp();
    w.eB = w.sumB.exp();
    S.array().colwise() *= w.eA;
    S.array().rowwise() *= w.eB.transpose();
    S.noalias() += w.VS.topRows(n).transpose() * w.KS.topRows(n);
  }

  // Pairs i >= j inside one sub-chunk: the gate products over (j, i] as running
  // products of gate values (all <= 1), added to Y.
  void diagonal_block(int64_t a, int64_t len, ChunkScratch& w) {
    const auto A = w.A.middleRows(a, len);  // gate values (len, rows)
    const auto B = w.B.middleRows(a, len);  // (len, m)
    for (int64_t j = 0; j < len; ++j) {
      w.ga.setOnes();
      w.gb.setOnes();
      const auto kj = w.K.row(a + j).array().transpose();
      const auto vj = w.V.row(a + j).array().transpose();
      for (int64_t i = j; i < len; ++i) {
        if (i > j) {
          w.ga *= A.row(i).transpose();
          w.gb *= B.row(i).transpose();
        }
        const float s = (w.Q.row(a + i).array().transpose() * kj * w.gb).sum();
        w.Y.row(a + i).array() += (s * w.ga * vj).transpose();
      }
    }
  }

  Variant var_;
  CpuCase c_;
  int64_t C_;
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
