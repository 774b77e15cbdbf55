// The float64 reference form: docs/MATH.md's definitions. Gated-linear rules by
// their parallel form from the rule's factors (gated_linear_factors(), never its
// step, so a wrong step cannot pass its own check); delta token by token through
// its step; softmax all pairs with an exact max-shifted softmax. Slow on purpose;
// everything else is checked against it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "causal_softmax.hpp"
#include "cpu/features.hpp"
#include "impl.hpp"

namespace dfw {
namespace {

std::vector<double> widen(const float* p, int64_t n) {
  return p ? std::vector<double>(p, p + n) : std::vector<double>();
}

// The gated-linear family in parallel form (docs/MATH.md section 3), one (b, h),
// tokens 0..T-1 after the initial state S0:
//   S_t = D_t * S0 + sum_{j<=t} c_j D_{t,j} * (v_j phi(k_j)^T),  y_t = S_t phi(q_t),
//   D_{t,j} = (prod_{(j,t]} a)(prod_{(j,t]} b)^T,  D_t = the same over [0, t],
// the products built over j downwards. rows = dv (+ 1: z, fed v = 1, starting at 0).
// fq, fk (T, m); v (T, dv); y (T, dv), state (dv, m), z (m).
void parallel_head(const Variant& var, const HeadView& h, const std::vector<double>& fq,
                   const std::vector<double>& fk, const std::vector<double>& v, double* y, double* state, double* z) {
  const int64_t T = h.T, dv = h.dv, m = h.m, rows = dv + (var.normalise ? 1 : 0);
  std::vector<double> a(T * rows), b(T * m), c(T), vr(T * rows, 1.0);  // factors (T, rows), (T, m), (T); values
  std::vector<float> af(rows), bf(m);
  for (int64_t t = 0; t < T; ++t) {
    c[t] = var.rule->gated_linear_factors(h.gates_at(t), rows, m, af.data(), bf.data());
    std::copy(af.begin(), af.end(), a.begin() + t * rows);
    std::copy(bf.begin(), bf.end(), b.begin() + t * m);
    std::copy(v.begin() + t * dv, v.begin() + (t + 1) * dv, vr.begin() + t * rows);
  }
  std::vector<double> A(rows), B(m), out(rows);  // A, B: products over (j, t]
  // S0's share of S_t at (r, col), once A, B hold the products over [0, t].
  auto fold_s0 = [&](int64_t r, int64_t col) { return h.s0 && r < dv ? A[r] * B[col] * h.s0[r * m + col] : 0.0; };
  for (int64_t t = 0; t < T; ++t) {
    std::fill(A.begin(), A.end(), 1.0);
    std::fill(B.begin(), B.end(), 1.0);
    std::fill(out.begin(), out.end(), 0.0);
    const double* qt = fq.data() + t * m;
    for (int64_t j = t; j >= 0; --j) {
      double score = 0;  // (B_{t,j} * phi(k_j)) . phi(q_t)
      for (int64_t col = 0; col < m; ++col) score += B[col] * fk[j * m + col] * qt[col];
      for (int64_t r = 0; r < rows; ++r) out[r] += c[j] * A[r] * vr[j * rows + r] * score;
      for (int64_t r = 0; r < rows; ++r) A[r] *= a[j * rows + r];
      for (int64_t col = 0; col < m; ++col) B[col] *= b[j * m + col];
    }
    for (int64_t r = 0; r < dv; ++r)
      for (int64_t col = 0; col < m; ++col) out[r] += fold_s0(r, col) * qt[col];
    const double denom = var.normalise ? kNormEps + out[dv] : 1.0;
    for (int64_t r = 0; r < dv; ++r) y[t * dv + r] = out[r] / denom;
  }
  // The final state, the same sum without phi(q): (rows, m).
  std::vector<double> S(rows * m, 0.0);
  std::fill(A.begin(), A.end(), 1.0);
  std::fill(B.begin(), B.end(), 1.0);
  for (int64_t j = T - 1; j >= 0; --j) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t col = 0; col < m; ++col)
        S[r * m + col] += c[j] * A[r] * vr[j * rows + r] * B[col] * fk[j * m + col];
    for (int64_t r = 0; r < rows; ++r) A[r] *= a[j * rows + r];
    for (int64_t col = 0; col < m; ++col) B[col] *= b[j * m + col];
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t col = 0; col < m; ++col) S[r * m + col] += fold_s0(r, col);
  std::copy(S.begin(), S.begin() + dv * m, state);
  if (var.normalise) std::copy(S.begin() + dv * m, S.end(), z);
}

// One (b, h): y (T, dv), state (dv, m), z (m).
void reference_head(const Variant& var, const HeadView& h, double* y, double* state, double* z) {
  const int64_t T = h.T, dk = h.dk, dv = h.dv, m = h.m;
  const auto q = widen(h.q, T * dk), k = widen(h.k, T * dk), v = widen(h.v, T * dv);
  if (!var.rule->stateful()) {
    std::vector<double> p(T);
    for (int64_t t = 0; t < T; ++t) {
      causal_softmax_row(q.data(), k.data(), t, dk, p.data());
      for (int64_t r = 0; r < dv; ++r) {
        double acc = 0;
        for (int64_t j = 0; j <= t; ++j) acc += p[j] * v[j * dv + r];
        y[t * dv + r] = acc;
      }
    }
    return;
  }
  const auto w = widen(h.features.w, m * dk), b = widen(h.features.b, m), om = widen(h.features.omega, m * dk);
  FeatureParams<double> fp{w.empty() ? nullptr : w.data(), b.empty() ? nullptr : b.data(),
                           om.empty() ? nullptr : om.data()};
  std::vector<double> fq(T * m), fk(T * m);
  compute_features(var, fp, q.data(), T, dk, m, fq.data());
  compute_features(var, fp, k.data(), T, dk, m, fk.data());
  if (var.rule->is_gated_linear()) {
    parallel_head(var, h, fq, fk, v, y, state, z);
    return;
  }
  const auto gate = widen(h.gate, T), beta = widen(h.beta, T), ga = widen(h.gate_v, T * dv),
             gb = widen(h.gate_k, T * m);

  const int64_t rows = dv + (var.normalise ? 1 : 0);
  std::vector<double> S(rows * m, 0.0), vt(rows, 1.0);  // last row of S is z when normalised
  if (h.s0) std::copy(h.s0, h.s0 + dv * m, S.begin());
  for (int64_t t = 0; t < T; ++t) {
    TokenGates<double> g;
    if (h.gate) g.g = gate[t];
    if (h.beta) g.beta = beta[t];
    if (h.gate_v) g.a = ga.data() + t * dv;
    if (h.gate_k) g.b = gb.data() + t * m;
    std::copy(v.begin() + t * dv, v.begin() + (t + 1) * dv, vt.begin());
    var.rule->step(S.data(), rows, m, fk.data() + t * m, vt.data(), g);
    const double* qt = fq.data() + t * m;
    double denom = 1.0;
    if (var.normalise) {
      denom = kNormEps;
      for (int64_t c = 0; c < m; ++c) denom += S[dv * m + c] * qt[c];
    }
    for (int64_t r = 0; r < dv; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < m; ++c) acc += S[r * m + c] * qt[c];
      y[t * dv + r] = acc / denom;
    }
  }
  std::copy(S.begin(), S.begin() + dv * m, state);
  if (var.normalise) std::copy(S.begin() + dv * m, S.end(), z);
}

class ReferencePrepared final : public Prepared {
 public:
  ReferencePrepared(const Variant& v, const Problem& p, Mode mode) : var_(v), p_(p), mode_(mode) {}

  void run() override {
    const Shape& s = p_.shape;
    const int64_t BH = s.B * s.H;
    out_ = Output{};
    out_.y.resize(BH * s.T * s.dv);
    if (var_.rule->stateful()) out_.state.resize(BH * s.dv * p_.m);
    if (var_.normalise) out_.z.resize(BH * p_.m);
#pragma omp parallel for schedule(dynamic)
    for (int64_t bh = 0; bh < BH; ++bh)
      reference_head(var_, p_.head(bh), out_.y.data() + bh * s.T * s.dv,
                     out_.state.empty() ? nullptr : out_.state.data() + bh * s.dv * p_.m,
                     out_.z.empty() ? nullptr : out_.z.data() + bh * p_.m);
    if (mode_ == Mode::decode_step) {  // keep the last token's output only
      std::vector<double> last(BH * s.dv);
      for (int64_t bh = 0; bh < BH; ++bh)
        std::copy_n(out_.y.begin() + (bh * s.T + s.T - 1) * s.dv, s.dv, last.begin() + bh * s.dv);
      out_.y = std::move(last);
    }
  }
  Output output() const override { return out_; }

 private:
  Variant var_;
  const Problem& p_;
  Mode mode_;
  Output out_;
};

class ReferenceImpl final : public Impl {
 public:
  FormKey key() const override { return {"reference", "cpu", "fp64"}; }
  std::string unsupported_reason(const Variant& v, Mode) const override { return v.undefined_reason; }
  std::unique_ptr<Prepared> prepare(const Variant& v, const Problem& p, const RunOptions& o) const override {
    return std::make_unique<ReferencePrepared>(v, p, o.mode);
  }
};

}  // namespace

std::unique_ptr<Impl> make_reference_impl() { return std::make_unique<ReferenceImpl>(); }

}  // namespace dfw
