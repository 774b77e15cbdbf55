// The CUDA kernel a rule gets is chosen by what its gated-linear factors are
// (kernel_kinds.hpp), never by its name: test-only rules under new names get the
// kernel their factors call for, and a rule whose factors no kernel takes gets none.
#include <gtest/gtest.h>

#include <string>

#include "eigen_types.hpp"
#include "kernel_kinds.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

// A gated-linear rule under a name no kernel knows, with the given factor form.
// Its factors and step are scalar_decay's; only factor_form() differs between tests.
class Renamed final : public RuleOf<Renamed> {
 public:
  Renamed(FactorForm form, bool normalisable) : form_(form), normalisable_(normalisable) {}
  std::string name() const override { return "renamed"; }
  std::string description() const override { return "test-only"; }
  bool supports_normalisation() const override { return normalisable_; }
  unsigned gate_inputs() const override { return kScalarGate; }
  bool is_gated_linear() const override { return true; }
  FactorForm factor_form() const override { return form_; }
  float gated_linear_factors(const TokenGates<float>& g, int64_t rows, int64_t m, float* a, float* b) const override {
    ArrMap<float>(a, rows).setConstant(g.g);
    ArrMap<float>(b, m).setOnes();
    return 1.f;
  }
  template <class R>
  static void step_impl(R*, int64_t, int64_t, const R*, const R*, const TokenGates<R>&) {}

 private:
  FactorForm form_;
  bool normalisable_;
};

Variant with_rule(const Rule& r, bool normalise = false) {
  Variant v = parse_variant("rule=add,phi=identity");
  v.rule = &r;
  v.normalise = normalise;
  return v;
}

TEST(CudaKernelChoice, BuiltInRules) {
  EXPECT_EQ(cuda_rule_kind(parse_variant("linear")), RuleKind::add);
  EXPECT_EQ(cuda_rule_kind(parse_variant("gated")), RuleKind::gated);
  EXPECT_EQ(cuda_rule_kind(parse_variant("dfw")), RuleKind::decay);
  EXPECT_EQ(cuda_rule_kind(parse_variant("delta")), RuleKind::delta);
  EXPECT_EQ(cuda_rule_kind(parse_variant("softmax")), std::nullopt);
  // scalar_decay: a = g on every row, b = 1, c = 1: the decay kernels on rows made on the host
  EXPECT_EQ(cuda_rule_kind(parse_variant("ssd")), RuleKind::decay);
  EXPECT_TRUE(cuda_gate_rows_from_factors(parse_variant("ssd")));
  EXPECT_FALSE(cuda_gate_rows_from_factors(parse_variant("dfw")));
  EXPECT_FALSE(cuda_gate_rows_from_factors(parse_variant("gated")));
}

TEST(CudaKernelChoice, ByFactorsNotByName) {
  const Renamed ones({Factor::one, Factor::one, Factor::one}, true);
  const Renamed retain({Factor::gate, Factor::one, Factor::one_minus_gate}, true);
  const Renamed rows({Factor::gate_rows, Factor::gate_rows, Factor::one}, false);
  const Renamed leak({Factor::computed, Factor::computed, Factor::one}, true);
  const Renamed scaled({Factor::computed, Factor::one, Factor::computed}, false);
  EXPECT_EQ(cuda_rule_kind(with_rule(ones)), RuleKind::add);
  EXPECT_EQ(cuda_rule_kind(with_rule(retain, true)), RuleKind::gated);
  EXPECT_EQ(cuda_rule_kind(with_rule(rows)), RuleKind::decay);
  EXPECT_FALSE(cuda_gate_rows_from_factors(with_rule(rows)));
  EXPECT_EQ(cuda_rule_kind(with_rule(leak)), RuleKind::decay);  // c = 1: gate rows from the factors
  EXPECT_TRUE(cuda_gate_rows_from_factors(with_rule(leak)));
  // the decay kernels leave z's row undecayed: a normalised one has no kernel
  EXPECT_EQ(cuda_rule_kind(with_rule(leak, true)), std::nullopt);
  EXPECT_EQ(cuda_rule_kind(with_rule(scaled)), std::nullopt);  // c computed: no kernel takes it
}

}  // namespace
}  // namespace dfw
