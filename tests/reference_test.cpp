// The float64 reference of a gated-linear rule is its parallel form built from the
// rule's factors, not from its step: a rule whose step is wrong but whose factors
// are right must fail check's comparison in the forms run by the step (recurrent,
// decode) and pass in the chunked form (run by the factors).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "accuracy.hpp"
#include "check_cases.hpp"
#include "eigen_types.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

// scalar_decay with the gate dropped from its step (test-only, never registered).
class DropsTheGate final : public RuleOf<DropsTheGate> {
 public:
  std::string name() const override { return "drops_the_gate"; }
  std::string description() const override { return "S += v phi(k)^T, claiming S = a S + v phi(k)^T"; }
  bool supports_normalisation() const override { return false; }
  unsigned gate_inputs() const override { return kScalarGate; }
  std::optional<RuleCost> cost() const override { return RuleCost{3, 1}; }
  bool is_gated_linear() const override { return true; }
  FactorForm factor_form() const override { return {Factor::gate, Factor::one, Factor::one}; }
  float gated_linear_factors(const TokenGates<float>& g, int64_t rows, int64_t m, float* a, float* b) const override {
    ArrMap<float>(a, rows).setConstant(g.g);
    ArrMap<float>(b, m).setOnes();
    return 1.f;
  }
  template <class R>
  static void step_impl(R* S, int64_t rows, int64_t m, const R* fk, const R* v, const TokenGates<R>&) {
    MatMap<R>(S, rows, m).noalias() += ConstVecMap<R>(v, rows) * ConstVecMap<R>(fk, m).transpose();
  }
};

// check's cases and verdicts for one variant, counted per CPU form: {passed, failed}.
std::map<std::string, std::pair<int, int>> check_verdicts(const Variant& v) {
  std::map<std::string, std::pair<int, int>> out;
  const Impl& ref = *find_impl("reference", "cpu", "fp64");
  for (const CheckCase& c : expand_check_cases({v}, /*quick=*/false, 1234)) {
    const Problem p = make_check_problem(c);
    const Output expected = run_once(ref, v, p, {c.mode, 64});
    for (const char* form : {"recurrent", "chunked", "decode"}) {
      const Impl& impl = *find_impl(form, "cpu", "fp32");
      if (!impl.unsupported_reason(v, c.mode).empty()) continue;
      const CaseErrors e = compare_outputs(run_once(impl, v, p, {c.mode, 16}), expected);
      auto& tally = out[form];
      (within_limits(e, "fp32", v.tolerance_factor()) ? tally.first : tally.second) += 1;
    }
  }
  return out;
}

TEST(Reference, AWrongStepFailsTheFormsRunByIt) {
  const DropsTheGate wrong;
  Variant v = parse_variant("ssd");
  v.rule = &wrong;
  v.name = "drops_the_gate";
  auto verdicts = check_verdicts(v);
  EXPECT_GT(verdicts["recurrent"].second, 0);
  EXPECT_GT(verdicts["decode"].second, 0);
  EXPECT_EQ(verdicts["chunked"].second, 0);
  EXPECT_GT(verdicts["chunked"].first, 0);
}

TEST(Reference, TheRightStepPassesEveryForm) {
  for (const auto& [form, tally] : check_verdicts(parse_variant("ssd"))) {
    EXPECT_EQ(tally.second, 0) << form;
    EXPECT_GT(tally.first, 0) << form;
  }
}

}  // namespace
}  // namespace dfw
