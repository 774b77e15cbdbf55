// The variant model: presets, spec strings, undefined combinations, feature maps.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include "eigen_types.hpp"
#include "registry.hpp"
#include "variant.hpp"

namespace dfw {
namespace {

TEST(Variant, PresetsResolveAsSpecSays) {
  EXPECT_EQ(parse_variant("dfw").spec(), "rule=decay,phi=identity,norm=off");
  EXPECT_EQ(parse_variant("linear").spec(), "rule=add,phi=elu1,norm=on");
  EXPECT_EQ(parse_variant("gated").spec(), "rule=gated,phi=relu_proj,m=dk,norm=on");
  EXPECT_TRUE(parse_variant("fwp").sum_normalise);
  EXPECT_FALSE(parse_variant("delta").sum_normalise);
  for (const auto& n : preset_names()) EXPECT_TRUE(parse_variant(n).defined()) << n;
}

TEST(Variant, SpecStringsSetWidths) {
  const Variant v = parse_variant("rule=decay,phi=favor,m=128");
  EXPECT_EQ(v.m(64), 128);
  EXPECT_EQ(parse_variant("rule=add,phi=dpfp,nu=3").m(16), 2 * 16 * 3);
  EXPECT_EQ(parse_variant("rule=add,phi=elu1,m=7").m(16), 16);  // m only widens projections
}

TEST(Variant, UndefinedCombinationsCarryAReason) {
  EXPECT_FALSE(parse_variant("rule=decay,phi=identity,norm=on").defined());
  EXPECT_FALSE(parse_variant("rule=delta,phi=elu1,norm=on").defined());
  EXPECT_FALSE(parse_variant("rule=softmax,phi=elu1").defined());
  EXPECT_NE(parse_variant("rule=softmax,phi=elu1").undefined_reason.find("feature map"), std::string::npos);
}

TEST(Variant, BadSpecsThrowWithTheReason) {
  auto message = [](const std::string& s) {
    try {
      parse_variant(s);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("bogus").find("unknown variant"), std::string::npos);
  EXPECT_NE(message("rule=nope").find("unknown rule"), std::string::npos);
  EXPECT_NE(message("rule=add,phi=nope").find("unknown feature map"), std::string::npos);
  EXPECT_NE(message("rule=add,phi").find("malformed"), std::string::npos);
  EXPECT_NE(message("rule=add,m=0").find("integer"), std::string::npos);
  EXPECT_NE(message("rule=add,x=1").find("unknown spec key"), std::string::npos);
  EXPECT_NE(message("phi=elu1").find("names no rule"), std::string::npos);
}

// Counted from the registry, so a new rule or map file changes no number here.
TEST(Variant, AllCombinationsCoverEveryRuleAndMap) {
  std::size_t expected = 0, defined_expected = 0;
  for (const Rule* r : rules()) {
    if (!r->stateful()) {  // alone, and with a map (undefined)
      expected += 2;
      defined_expected += 1;
      continue;
    }
    expected += 2 * feature_maps().size();  // norm off and on
    for (const FeatureMap* f : feature_maps()) {
      const bool keys_bounded = !r->needs_bounded_keys() || f->is_identity() || f->non_negative();
      if (keys_bounded) defined_expected += r->supports_normalisation() ? 2 : 1;
    }
  }
  const auto all = all_combinations();
  EXPECT_EQ(all.size(), expected);
  std::size_t defined = 0;
  for (const auto& v : all) defined += v.defined();
  EXPECT_EQ(defined, defined_expected);
  EXPECT_GE(rules().size(), 6u);  // softmax, add, gated, delta, decay, scalar_decay at least
  EXPECT_GE(feature_maps().size(), 5u);
}

TEST(Registry, ListsAreSortedAndLookupsFindEveryEntry) {
  for (std::size_t i = 1; i < rules().size(); ++i) EXPECT_LT(rules()[i - 1]->name(), rules()[i]->name());
  for (std::size_t i = 1; i < feature_maps().size(); ++i)
    EXPECT_LT(feature_maps()[i - 1]->name(), feature_maps()[i]->name());
  for (const Rule* r : rules()) EXPECT_EQ(find_rule(r->name()), r);
  for (const FeatureMap* f : feature_maps()) EXPECT_EQ(find_feature_map(f->name()), f);
  EXPECT_EQ(find_rule("nope"), nullptr);
}

// A rule registered after the lists were built would be missed; it is refused.
class LateRule final : public RuleOf<LateRule> {
 public:
  std::string name() const override { return "late"; }
  std::string description() const override { return "registered too late"; }
  bool supports_normalisation() const override { return false; }
  unsigned gate_inputs() const override { return kNoGates; }
  template <class R>
  static void step_impl(R*, int64_t, int64_t, const R*, const R*, const TokenGates<R>&) {}
};

TEST(Registry, RegisteringAfterALookupIsRefused) {
  ASSERT_FALSE(rules().empty());
  EXPECT_THROW(register_rule(std::make_unique<LateRule>()), std::logic_error);
  EXPECT_EQ(find_rule("late"), nullptr);
}

// The gated-linear factors a rule returns for one token with known gate inputs.
struct FactorsOfOneToken {
  static constexpr int64_t kRows = 5, kM = 3;
  static constexpr float kGate = 0.5f;
  const std::vector<float> av = {0.5f, 0.25f, 0.125f, 0.75f, 0.9f}, bv = {0.3f, 0.6f, 0.2f};
  std::vector<float> a = std::vector<float>(kRows, -1.f), b = std::vector<float>(kM, -1.f);
  float c = 0;
  explicit FactorsOfOneToken(const Rule& r) {
    TokenGates<float> g;
    g.g = kGate;
    g.beta = 0.25f;
    g.a = av.data();
    g.b = bv.data();
    c = r.gated_linear_factors(g, kRows, kM, a.data(), b.data());
  }
};

// What factor_form() says (the CUDA kernels are chosen by it; the chunked form skips
// ones and reads gate rows in place by it) is what gated_linear_factors() returns.
bool factor_matches(Factor f, const std::vector<float>& got, const std::vector<float>& rows) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    const float want = f == Factor::one ? 1.f : f == Factor::gate ? FactorsOfOneToken::kGate : rows[i];
    if (got[i] != want) return false;
  }
  return f == Factor::one || f == Factor::gate || f == Factor::gate_rows;
}

TEST(Rules, FactorFormMatchesTheFactors) {
  int declared = 0;
  for (const Rule* r : rules()) {
    const FactorForm form = r->factor_form();
    if (!r->is_gated_linear()) {
      EXPECT_FALSE(r->gates_are_ones() || r->factors_are_gate_rows()) << r->name();
      continue;
    }
    const FactorsOfOneToken f(*r);
    EXPECT_TRUE(form.a == Factor::computed || factor_matches(form.a, f.a, f.av)) << r->name() << " a";
    EXPECT_TRUE(form.b == Factor::computed || factor_matches(form.b, f.b, f.bv)) << r->name() << " b";
    EXPECT_TRUE(form.c != Factor::one || f.c == 1.f) << r->name() << " c";
    EXPECT_TRUE(form.c != Factor::one_minus_gate || f.c == 1.f - FactorsOfOneToken::kGate) << r->name() << " c";
    declared += form.a != Factor::computed && form.b != Factor::computed && form.c != Factor::computed;
  }
  EXPECT_EQ(find_rule("add")->gates_are_ones(), true);
  EXPECT_EQ(find_rule("decay")->factors_are_gate_rows(), true);
  EXPECT_EQ(find_rule("scalar_decay")->factors_are_gate_rows(), false);
  EXPECT_GE(declared, 4);  // add, gated, decay, scalar_decay
}

TEST(FeatureMaps, MatchTheirDefinitions) {
  RowMat<double> x(1, 3);
  x << 0.5, -1.0, 2.0;
  RowMat<double> out(1, 3);
  find_feature_map("elu1")->apply(ConstMatMap<double>(x.data(), 1, 3), {}, MatMap<double>(out.data(), 1, 3));
  EXPECT_DOUBLE_EQ(out(0, 0), 1.5);
  EXPECT_DOUBLE_EQ(out(0, 1), std::exp(-1.0));
  RowMat<double> xd(1, 3);
  xd << 0.5, 1.0, -2.0;
  RowMat<double> d(1, 6);
  find_feature_map("dpfp")->apply(ConstMatMap<double>(xd.data(), 1, 3), {}, MatMap<double>(d.data(), 1, 6));
  // r = [0.5, 1, 0, 0, 0, 2]; roll(r, 1) = [2, 0.5, 1, 0, 0, 0]; r * roll(r, 1) = [1, 0.5, 0, 0, 0, 0]
  // (rolled the other way, [0.5, 0, 0, 0, 0, 1]).
  const double want[] = {1, 0.5, 0, 0, 0, 0};
  for (int i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(d(0, i), want[i]) << i;
  RowMat<double> y(1, 2);
  y << 1.0, 2.0;
  RowMat<double> e(1, 4);
  find_feature_map("dpfp")->apply(ConstMatMap<double>(y.data(), 1, 2), {}, MatMap<double>(e.data(), 1, 4));
  // r = [1, 2, 0, 0]; roll(r, 1) = [0, 1, 2, 0] -> [0, 2, 0, 0]
  EXPECT_DOUBLE_EQ(e(0, 1), 2.0);
  EXPECT_DOUBLE_EQ(e(0, 0) + e(0, 2) + e(0, 3), 0.0);
}

// Favor+ on one row, against its formula written out: dk = 4, so x' = x / sqrt(2).
TEST(FeatureMaps, FavorMatchesItsFormula) {
  RowMat<double> x(1, 4), omega(2, 4), out(1, 2);
  x << 1.0, -2.0, 0.5, 3.0;
  omega << 0.2, 0.4, -1.0, 0.3, -0.5, 0.1, 0.7, -0.2;
  FeatureParams<double> p;
  p.omega = omega.data();
  find_feature_map("favor")->apply(ConstMatMap<double>(x.data(), 1, 4), p, MatMap<double>(out.data(), 1, 2));
  const double x_sq = 1 + 4 + 0.25 + 9;  // |x|^2; |x'|^2 = x_sq / 2
  for (int i = 0; i < 2; ++i) {
    const double wx = omega.row(i).dot(x.row(0)) / std::sqrt(2.0);
    EXPECT_NEAR(out(0, i), std::exp(wx - x_sq / 4) / std::sqrt(2.0), 1e-12) << i;
  }
}

TEST(FeatureMaps, FavorIsAnUnbiasedSoftmaxKernelEstimate) {
  // E[phi(q).phi(k)] = exp(q.k / sqrt(dk)): average over many random feature rows.
  const int dk = 4, m = 20000;
  RowMat<double> omega(m, dk);
  std::srand(3);
  for (int i = 0; i < omega.size(); ++i) {
    const double u1 = (std::rand() + 1.0) / (RAND_MAX + 2.0), u2 = (std::rand() + 1.0) / (RAND_MAX + 2.0);
    omega.data()[i] = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }
  RowMat<double> q(1, dk), k(1, dk), fq(1, m), fk(1, m);
  q << 0.3, -0.2, 0.5, 0.1;
  k << -0.1, 0.4, 0.2, 0.3;
  FeatureParams<double> p;
  p.omega = omega.data();
  const FeatureMap& f = *find_feature_map("favor");
  f.apply(ConstMatMap<double>(q.data(), 1, dk), p, MatMap<double>(fq.data(), 1, m));
  f.apply(ConstMatMap<double>(k.data(), 1, dk), p, MatMap<double>(fk.data(), 1, m));
  EXPECT_NEAR(fq.row(0).dot(fk.row(0)), std::exp(q.row(0).dot(k.row(0)) / 2.0), 0.02);
}

}  // namespace
}  // namespace dfw
