// decay: S_t = (alpha_t beta_t^T) * S_{t-1} + v_t phi(k_t)^T (decaying fast weights, Mao 2022).
// alpha_t (dv) and beta_t (m) are gate values in (0, 1], already squashed.
#include <cmath>

#include "eigen_types.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

class Decay final : public RuleOf<Decay> {
 public:
  std::string name() const override { return "decay"; }
  std::string description() const override {
    return "S = (alpha beta^T) * S + v phi(k)^T, alpha (dv), beta (m) in (0, 1] per token";
  }
  bool supports_normalisation() const override { return false; }
  unsigned gate_inputs() const override { return kDecayGates; }
  // (alpha_i beta_j) S_ij + v_i k_j: 4; carry: (alpha_i beta_j) S_ij: 2
  std::optional<RuleCost> cost() const override { return RuleCost{4, 2}; }
  bool is_gated_linear() const override { return true; }
  FactorForm factor_form() const override { return {Factor::gate_rows, Factor::gate_rows, Factor::one}; }
  float gated_linear_factors(const TokenGates<float>& g, int64_t rows, int64_t m, float* a, float* b) const override {
    ArrMap<float>(a, rows) = ConstArrMap<float>(g.a, rows);
    ArrMap<float>(b, m) = ConstArrMap<float>(g.b, m);
    return 1.f;
  }

  template <class R>
  static void step_impl(R* S, int64_t rows, int64_t m, const R* fk, const R* v, const TokenGates<R>& g) {
    ConstArrMap<R> b(g.b, m);
    ConstArrMap<R> k(fk, m);
    for (int64_t r = 0; r < rows; ++r) {
      ArrMap<R> row(S + r * m, m);
      row = row * (g.a[r] * b) + v[r] * k;
    }
  }
};

const RegisterRule<Decay> kRegistered;

}  // namespace
}  // namespace dfw
