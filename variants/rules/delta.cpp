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
};

const RegisterRule<Delta> kRegistered;

}  // namespace
}  // namespace dfw
