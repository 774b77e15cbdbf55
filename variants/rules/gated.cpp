// gated: S_t = g_t S_{t-1} + (1 - g_t) v_t phi(k_t)^T (gated rule of RFA, Peng et al. 2021).
#include <cmath>

#include "eigen_types.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

class Gated final : public RuleOf<Gated> {
 public:
  std::string name() const override { return "gated"; }
  std::string description() const override { return "S = g S + (1 - g) v phi(k)^T, g in (0, 1] per token"; }
  bool supports_normalisation() const override { return true; }
  unsigned gate_inputs() const override { return kScalarGate; }
  std::optional<RuleCost> cost() const override { return RuleCost{3, 1}; }  // g S + w k; carry: g S
  bool is_gated_linear() const override { return true; }
  FactorForm factor_form() const override { return {Factor::gate, Factor::one, Factor::one_minus_gate}; }
  float gated_linear_factors(const TokenGates<float>& g, int64_t rows, int64_t m, float* a, float* b) const override {
    ArrMap<float>(a, rows).setConstant(g.g);
    ArrMap<float>(b, m).setOnes();
    return 1.f - g.g;
  }

  template <class R>
  static void step_impl(R* S, int64_t rows, int64_t m, const R* fk, const R* v, const TokenGates<R>& g) {
    MatMap<R> s(S, rows, m);
    s *= g.g;
    s.noalias() += ((R(1) - g.g) * ConstVecMap<R>(v, rows)) * ConstVecMap<R>(fk, m).transpose();
  }
};

const RegisterRule<Gated> kRegistered;

}  // namespace
}  // namespace dfw
