// example_leak: S_t = 0.9 S_{t-1} + v_t phi(k_t)^T, a constant leak. Written only
// from README "Adding a variant" (an update rule); dfw_example_tests compiles it
// as if it were a file of variants/rules/ and checks it (example_variant_test.cpp).
#include "eigen_types.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

constexpr float kLeak = 0.9f;

class ExampleLeak final : public RuleOf<ExampleLeak> {
 public:
  std::string name() const override { return "example_leak"; }
  std::string description() const override { return "S = 0.9 S + v phi(k)^T (README example)"; }
  bool supports_normalisation() const override { return false; }
  unsigned gate_inputs() const override { return kNoGates; }
  std::optional<RuleCost> cost() const override { return RuleCost{3, 1}; }  // 0.9 S + v k; carry: 0.9 S
  bool is_gated_linear() const override { return true; }
  FactorForm factor_form() const override { return {Factor::computed, Factor::one, Factor::one}; }
  float gated_linear_factors(const TokenGates<float>&, int64_t rows, int64_t m, float* a, float* b) const override {
    ArrMap<float>(a, rows).setConstant(kLeak);
    ArrMap<float>(b, m).setOnes();
    return 1.f;
  }

  template <class R>
  static void step_impl(R* S, int64_t rows, int64_t m, const R* fk, const R* v, const TokenGates<R>&) {
    MatMap<R> s(S, rows, m);
    s *= R(kLeak);
    s.noalias() += ConstVecMap<R>(v, rows) * ConstVecMap<R>(fk, m).transpose();
  }
};

const RegisterRule<ExampleLeak> kRegistered;

}  // namespace
}  // namespace dfw
