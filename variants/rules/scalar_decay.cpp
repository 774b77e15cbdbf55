// scalar_decay: S_t = a_t S_{t-1} + v_t phi(k_t)^T, one gate a_t in (0, 1] per
// (b, h, t) read from the scalar gate input (RetNet's decay, Mamba-2's SSD).
#include "eigen_types.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

class ScalarDecay final : public RuleOf<ScalarDecay> {
 public:
  std::string name() const override { return "scalar_decay"; }
  std::string description() const override { return "S = a S + v phi(k)^T, a in (0, 1] per token"; }
  bool supports_normalisation() const override { return false; }
  unsigned gate_inputs() const override { return kScalarGate; }
  std::optional<RuleCost> cost() const override { return RuleCost{3, 1}; }  // a S + v k; carry: a S
  bool is_gated_linear() const override { return true; }
  FactorForm factor_form() const override { return {Factor::gate, Factor::one, Factor::one}; }
  float gated_linear_factors(const TokenGates<float>& g, int64_t rows, int64_t m, float* a, float* b) const override {
    ArrMap<float>(a, rows).setConstant(g.g);
    ArrMap<float>(b, m).setOnes();
    return 1.f;
  }

  template <class R>
  static void step_impl(R* S, int64_t rows, int64_t m, const R* fk, const R* v, const TokenGates<R>& g) {
    MatMap<R> s(S, rows, m);
    s *= g.g;
    s.noalias() += ConstVecMap<R>(v, rows) * ConstVecMap<R>(fk, m).transpose();
  }
};

const RegisterRule<ScalarDecay> kRegistered;

}  // namespace
}  // namespace dfw
