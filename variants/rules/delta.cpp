// delta: S_t = S_{t-1} + beta_t (v_t - S_{t-1} phi(k_t)) phi(k_t)^T (Schlag et al. 2021).
// Stable only for beta |phi(k)|^2 <= 2: keys are bounded by the inputs (identity)
// or by sum-normalising phi (any other map); see docs/MATH.md.
#include "eigen_types.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

class Delta final : public RuleOf<Delta> {
 public:
  std::string name() const override { return "delta"; }
  std::string description() const override { return "S += beta (v - S phi(k)) phi(k)^T, beta in (0, 1] per token"; }
  bool supports_normalisation() const override { return false; }
  bool needs_bounded_keys() const override { return true; }
  unsigned gate_inputs() const override { return kScalarBeta; }
  // S phi(k) and the rank-1 write: 4; no chunked form, so no carry.
  std::optional<RuleCost> cost() const override { return RuleCost{4, 0}; }

  template <class R>
  static void step_impl(R* S, int64_t rows, int64_t m, const R* fk, const R* v, const TokenGates<R>& g) {
    MatMap<R> s(S, rows, m);
    ConstVecMap<R> k(fk, m);
    // One pass per row: read S once for the prediction, then write the correction.
    for (int64_t r = 0; r < rows; ++r) {
      const R err = g.beta * (v[r] - s.row(r).dot(k.transpose()));
      s.row(r) += err * k.transpose();
    }
  }

  // S_t = S + beta e k^T, e = v - S k. With u = dS k:
  // dS_prev = dS - beta u k^T, dv = beta u, dbeta = u . e, dk = beta (dS^T e - S^T u).
  template <class R>
  static void step_vjp_impl(const R* S_prev, int64_t rows, int64_t m, const R* fk, const R* v,
                            const TokenGates<R>& g, const R* dS, R* dS_prev, R* dfk, R* dv, GateGrads<R>& dg) {
    ConstMatMap<R> s(S_prev, rows, m), ds(dS, rows, m);
    ConstVecMap<R> k(fk, m);
    const Vec<R> u = ds * k;
    const Vec<R> e = ConstVecMap<R>(v, rows) - s * k;
    MatMap<R>(dS_prev, rows, m) = ds - (g.beta * u) * k.transpose();
    VecMap<R>(dv, rows) = g.beta * u;
    dg.beta = u.dot(e);
    VecMap<R>(dfk, m).noalias() = g.beta * (ds.transpose() * e - s.transpose() * u);
  }
};

const RegisterRule<Delta> kRegistered;

}  // namespace
}  // namespace dfw
