// The float64 reference gradient (docs/MATH.md "Gradients"): stateful variants by
// the reverse-time recurrence over every stored state (RecurrentBackward<double>
// with a checkpoint at every token), softmax by the exact all-pairs backward.
// Slow on purpose; every backward form is checked against it, and it is itself
// checked against central finite differences (tests/gradients_test.cpp).
#include <algorithm>
#include <cmath>
#include <vector>

#include "reference_backward.hpp"

#include "backward_impl.hpp"
#include "causal_softmax.hpp"
#include "cpu/recurrent_backward.hpp"

namespace dfw {

// Exact causal softmax backward, one (b, h): P = softmax(s q k^T), y = P v;
// dv_j = sum_t P_tj dy_t, dP = dy v^T, dS = P * (dP - dy_t . y_t), dq = s dS k, dk = s dS^T q.
void softmax_backward_head(int64_t T, int64_t dk, int64_t dv, const double* q, const double* k, const double* v,
                           const double* dy, double* dq, double* dkk, double* dvv) {
  const double scale = 1.0 / std::sqrt(double(dk));
  std::fill(dq, dq + T * dk, 0.0);
  std::fill(dkk, dkk + T * dk, 0.0);
  std::fill(dvv, dvv + T * dv, 0.0);
  std::vector<double> p(T), y(dv);
  for (int64_t t = 0; t < T; ++t) {
    causal_softmax_row(q, k, t, dk, p.data());
    std::fill(y.begin(), y.end(), 0.0);
    for (int64_t j = 0; j <= t; ++j)
      for (int64_t r = 0; r < dv; ++r) y[r] += p[j] * v[j * dv + r];
    double dy_y = 0;
    for (int64_t r = 0; r < dv; ++r) dy_y += dy[t * dv + r] * y[r];
    for (int64_t j = 0; j <= t; ++j) {
      double dp = 0;
      for (int64_t r = 0; r < dv; ++r) {
        dp += dy[t * dv + r] * v[j * dv + r];
        dvv[j * dv + r] += p[j] * dy[t * dv + r];
      }
      const double ds = p[j] * (dp - dy_y) * scale;
      for (int64_t c = 0; c < dk; ++c) {
        dq[t * dk + c] += ds * k[j * dk + c];
        dkk[j * dk + c] += ds * q[t * dk + c];
      }
    }
  }
}

namespace {

std::vector<double> widen(const float* p, int64_t n) {
  return p ? std::vector<double>(p, p + n) : std::vector<double>();
}
const double* ptr(const std::vector<double>& v) { return v.empty() ? nullptr : v.data(); }

class ReferenceBackwardPrepared final : public PreparedBackward {
 public:
  ReferenceBackwardPrepared(const Variant& v, const Problem& p, const std::vector<float>& dy)
      : var_(v), p_(p), dy_(dy) {}

  void run() override {
    const Shape& s = p_.shape;
    const int64_t BH = s.B * s.H, T = s.T, m = p_.m;
    auto like = [](const std::vector<float>& in) { return std::vector<double>(in.size(), 0.0); };
    g_ = Gradients{};
    g_.q = like(p_.q);
    g_.k = like(p_.k);
    g_.v = like(p_.v);
    if (!var_.rule->stateful()) {
#pragma omp parallel for schedule(dynamic)
      for (int64_t bh = 0; bh < BH; ++bh) {
        const auto q = widen(p_.q.data() + bh * T * s.dk, T * s.dk), k = widen(p_.k.data() + bh * T * s.dk, T * s.dk);
        const auto v = widen(p_.v.data() + bh * T * s.dv, T * s.dv), dy = widen(dy_.data() + bh * T * s.dv, T * s.dv);
        softmax_backward_head(T, s.dk, s.dv, q.data(), k.data(), v.data(), dy.data(), g_.q.data() + bh * T * s.dk,
                              g_.k.data() + bh * T * s.dk, g_.v.data() + bh * T * s.dv);
      }
      return;
    }
    g_.gate = like(p_.gate);
    g_.beta = like(p_.beta);
    g_.gate_v = like(p_.gate_v);
    g_.gate_k = like(p_.gate_k);
    g_.s0 = like(p_.s0);
    // w, b per (b, h), summed over the batch below.
    std::vector<double> dw_bh(p_.w.empty() ? 0 : BH * m * s.dk), db_bh(p_.b.empty() ? 0 : BH * m);
    const int64_t rows = s.dv + (var_.normalise ? 1 : 0);
#pragma omp parallel for schedule(dynamic)
    for (int64_t bh = 0; bh < BH; ++bh) {
      const HeadView h = p_.head(bh);
      const auto q = widen(h.q, T * s.dk), k = widen(h.k, T * s.dk), v = widen(h.v, T * s.dv);
      const auto gate = widen(h.gate, T), beta = widen(h.beta, T), gate_v = widen(h.gate_v, T * s.dv),
                 gate_k = widen(h.gate_k, T * m), s0 = widen(h.s0, s.dv * m), w = widen(h.features.w, m * s.dk),
                 b = widen(h.features.b, m), omega = widen(h.features.omega, m * s.dk),
                 dy = widen(dy_.data() + bh * T * s.dv, T * s.dv);
      const HeadInput<double> in{T, s.dk, s.dv, m, ptr(q), ptr(k), ptr(v), ptr(gate), ptr(beta), ptr(gate_v),
                                 ptr(gate_k), ptr(s0), {ptr(w), ptr(b), ptr(omega)}};
      auto at = [](std::vector<double>& t, int64_t offset) { return t.empty() ? nullptr : t.data() + offset; };
      const HeadGrads<double> out{at(g_.q, bh * T * s.dk), at(g_.k, bh * T * s.dk), at(g_.v, bh * T * s.dv),
                                  at(g_.gate, bh * T), at(g_.beta, bh * T), at(g_.gate_v, bh * T * s.dv),
                                  at(g_.gate_k, bh * T * m), at(g_.s0, bh * s.dv * m),
                                  {at(dw_bh, bh * m * s.dk), at(db_bh, bh * m)}};
      std::vector<double> work(recurrent_backward_workspace(T, m, rows, 1));
      RecurrentBackward<double> backward(var_, T, s.dv, m, 1, work.data());
      backward.run(in, dy.data(), out, nullptr);
#pragma omp critical(dfw_reference_conditioning)
      {
        g_.normaliser_conditioning = std::max(g_.normaliser_conditioning, backward.normaliser_conditioning());
        g_.gate_conditioning = std::max(g_.gate_conditioning, backward.gate_conditioning());
      }
    }
    g_.w = sum_over_batch(dw_bh.empty() ? nullptr : dw_bh.data(), s.B, s.H, m * s.dk);
    g_.b = sum_over_batch(db_bh.empty() ? nullptr : db_bh.data(), s.B, s.H, m);
  }

  Gradients gradients() const override { return g_; }

 private:
  Variant var_;
  const Problem& p_;
  const std::vector<float>& dy_;
  Gradients g_;
};

class ReferenceBackward final : public BackwardImpl {
 public:
  FormKey key() const override { return {"reference", "cpu", "fp64"}; }
  std::string unsupported_reason(const Variant& v) const override {
    if (!v.defined()) return v.undefined_reason;
    return v.rule->stateful() ? stateful_backward_unsupported_reason(v) : "";
  }
  std::unique_ptr<PreparedBackward> prepare(const Variant& v, const Problem& p, const std::vector<float>& dy,
                                            const RunOptions&) const override {
    return std::make_unique<ReferenceBackwardPrepared>(v, p, dy);
  }
};

}  // namespace

std::unique_ptr<BackwardImpl> make_reference_backward_impl() { return std::make_unique<ReferenceBackward>(); }

}  // namespace dfw
