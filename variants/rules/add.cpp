// add: S_t = S_{t-1} + v_t phi(k_t)^T (linear attention).
#include "eigen_types.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

class Add final : public RuleOf<Add> {
 public:
  std::string name() const override { return "add"; }
  std::string description() const override { return "S += v phi(k)^T (linear attention)"; }
  bool supports_normalisation() const override { return true; }
  unsigned gate_inputs() const override { return kNoGates; }
  std::optional<RuleCost> cost() const override { return RuleCost{2, 0}; }  // S += v k: 2; no decay
  bool is_gated_linear() const override { return true; }
  FactorForm factor_form() const override { return {Factor::one, Factor::one, Factor::one}; }
  float gated_linear_factors(const TokenGates<float>&, int64_t rows, int64_t m, float* a, float* b) const override {
    ArrMap<float>(a, rows).setOnes();
    ArrMap<float>(b, m).setOnes();
    return 1.f;
  }

  template <class R>
  static void step_impl(R* S, int64_t rows, int64_t m, const R* fk, const R* v, const TokenGates<R>&) {
    MatMap<R>(S, rows, m).noalias() += ConstVecMap<R>(v, rows) * ConstVecMap<R>(fk, m).transpose();
  }
};

const RegisterRule<Add> kRegistered;

}  // namespace
}  // namespace dfw
