// The float64 reference form: docs/MATH.md's definitions, token by token (softmax: all
// pairs with an exact max-shifted softmax). Slow on purpose; everything else is
// checked against it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/features.hpp"
#include "impl.hpp"

namespace dfw {
namespace {

std::vector<double> widen(const float* p, int64_t n) {
  return p ? std::vector<double>(p, p + n) : std::vector<double>();
}

// One (b, h): y (T, dv), state (dv, m), z (m).
void reference_head(const Variant& var, const HeadView& h, double* y, double* state, double* z) {
  const int64_t T = h.T, dk = h.dk, dv = h.dv, m = h.m;
  const auto q = widen(h.q, T * dk), k = widen(h.k, T * dk), v = widen(h.v, T * dv);
  if (!var.rule->stateful()) {
    const double scale = 1.0 / std::sqrt(double(dk));
    std::vector<double> score(T);
    for (int64_t t = 0; t < T; ++t) {
      double mx = -INFINITY;
      for (int64_t j = 0; j <= t; ++j) {
        double s = 0;
        for (int64_t c = 0; c < dk; ++c) s += q[t * dk + c] * k[j * dk + c];
        score[j] = s * scale;
        mx = std::max(mx, score[j]);
      }
      double denom = 0;
      for (int64_t j = 0; j <= t; ++j) denom += (score[j] = std::exp(score[j] - mx));
      for (int64_t r = 0; r < dv; ++r) {
        double acc = 0;
        for (int64_t j = 0; j <= t; ++j) acc += score[j] * v[j * dv + r];
        y[t * dv + r] = acc / denom;
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
