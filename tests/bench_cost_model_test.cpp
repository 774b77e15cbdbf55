// The cost model's formulas on cases small enough to count by hand.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "cost_model.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

Shape shape(int64_t B, int64_t H, int64_t T, int64_t dk, int64_t dv) { return Shape{B, H, T, dk, dv}; }

TEST(BenchCostModel, DfwDecodeIsStateReadWritePlusTokenInputs) {
  const Variant dfw = parse_variant("dfw");
  const int64_t B = 3, H = 2, dk = 16, dv = 8, m = 16;
  const Cost c = estimate_cost(dfw, "decode", Mode::decode_step, shape(B, H, 1000, dk, dv), 0, "fp32");
  const double state = 4.0 * dv * m;                      // fp32 (dv, m)
  const double token = 4.0 * (dk + dk + dv + dv + m);     // q, k, v, alpha (dv), beta (m)
  const double out = 4.0 * dv;                            // y
  EXPECT_DOUBLE_EQ(c.bytes, B * H * (2 * state + token + out));
  EXPECT_DOUBLE_EQ(c.state_bytes, B * H * state);
  EXPECT_DOUBLE_EQ(c.flops, B * H * (4.0 + 2.0) * dv * m);  // decay update 4, output 2 per element
  // The state's size, hence the step, does not depend on the context length.
  const Cost longer = estimate_cost(dfw, "decode", Mode::decode_step, shape(B, H, 100000, dk, dv), 0, "fp32");
  EXPECT_DOUBLE_EQ(longer.bytes, c.bytes);
  EXPECT_DOUBLE_EQ(longer.flops, c.flops);
}

TEST(BenchCostModel, HalfPrecisionHalvesTokensNotTheFp32State) {
  const Variant dfw = parse_variant("dfw");
  const Shape s = shape(1, 1, 1, 64, 64);
  const Cost f32 = estimate_cost(dfw, "decode", Mode::decode_step, s, 0, "fp32");
  const Cost f16 = estimate_cost(dfw, "decode", Mode::decode_step, s, 0, "fp16");
  const double state_rw = 2 * 4.0 * 64 * 64;
  EXPECT_DOUBLE_EQ(f16.bytes - state_rw, (f32.bytes - state_rw) / 2);
  EXPECT_DOUBLE_EQ(f16.state_bytes, f32.state_bytes);
}

TEST(BenchCostModel, SoftmaxDecodeGrowsWithTheCache) {
  const Variant sm = parse_variant("softmax");
  const int64_t dk = 64, dv = 64;
  for (int64_t T : {0, 128, 1920}) {
    const Cost c = estimate_cost(sm, "decode", Mode::decode_step, shape(32, 1, T, dk, dv), 0, "fp16");
    const double n = double(T + 1);
    EXPECT_DOUBLE_EQ(c.flops, 32 * 2 * n * (dk + dv));
    EXPECT_DOUBLE_EQ(c.state_bytes, 32 * 2 * n * (dk + dv));  // KV cache in fp16
    EXPECT_DOUBLE_EQ(c.bytes, 32 * 2 * ((2 * dk + dv) + n * (dk + dv) + (dk + dv) + dv));
  }
}

TEST(BenchCostModel, SoftmaxPrefillCountsCausalPairs) {
  const Cost c = estimate_cost(parse_variant("softmax"), "blocked", Mode::sequence, shape(2, 3, 10, 8, 4), 0, "fp32");
  EXPECT_DOUBLE_EQ(c.flops, 6.0 * 10 * 11 * (8 + 4));
  EXPECT_DOUBLE_EQ(c.bytes, 6.0 * 4 * 10 * (2 * 8 + 4 + 4));
}

TEST(BenchCostModel, ChunkedSumsItsChunks) {
  const Variant dfw = parse_variant("dfw");
  const Shape s = shape(1, 1, 100, 8, 8);
  const Cost whole = estimate_cost(dfw, "chunked", Mode::sequence, s, 100, "fp32");
  const double n = 100, m = 8, rows = 8;
  EXPECT_DOUBLE_EQ(whole.flops, n * (n + 1) * m + n * (n + 1) * rows + 4 * n * m * rows + 2 * rows * m);
  // 64 + 36: the short last chunk counts its own length
  const Cost split = estimate_cost(dfw, "chunked", Mode::sequence, s, 64, "fp32");
  auto chunk = [&](double c) { return c * (c + 1) * (m + rows) + 4 * c * m * rows + 2 * rows * m; };
  EXPECT_DOUBLE_EQ(split.flops, chunk(64) + chunk(36));
  // Same bytes whatever the algorithm: inputs once, outputs once, final state once.
  const Cost rec = estimate_cost(dfw, "recurrent", Mode::sequence, s, 0, "fp32");
  EXPECT_DOUBLE_EQ(rec.bytes, split.bytes);
  EXPECT_DOUBLE_EQ(rec.flops, 100 * 6 * rows * m);
  EXPECT_THROW(estimate_cost(dfw, "chunked", Mode::sequence, s, 0, "fp32"), std::invalid_argument);
}

TEST(BenchCostModel, NormalisedStateCarriesZ) {
  const Variant linear = parse_variant("linear");  // add + elu1 + norm: rows = dv + 1
  const Cost c = estimate_cost(linear, "recurrent", Mode::sequence, shape(1, 1, 1, 4, 4), 0, "fp32");
  EXPECT_DOUBLE_EQ(c.state_bytes, 4.0 * 5 * 4);
  EXPECT_DOUBLE_EQ(c.flops, 2 * 4 + (2 + 2) * 5 * 4 + 4);  // 2 phi (elu1: m), update + output, dv divides
}

TEST(BenchCostModel, RefusesUnknownDtypesAndUndefinedVariants) {
  EXPECT_THROW(dtype_bytes("fp8"), std::invalid_argument);
  EXPECT_THROW(estimate_cost(parse_variant("rule=decay,phi=identity,norm=on"), "recurrent", Mode::sequence,
                             shape(1, 1, 1, 4, 4), 0, "fp32"),
               std::invalid_argument);
}

// A rule and a feature map that declare no cost (test-only, never registered).
class CostlessRule final : public RuleOf<CostlessRule> {
 public:
  std::string name() const override { return "costless"; }
  std::string description() const override { return "S += v phi(k)^T, no cost declared"; }
  bool supports_normalisation() const override { return false; }
  unsigned gate_inputs() const override { return kNoGates; }
  template <class R>
  static void step_impl(R*, int64_t, int64_t, const R*, const R*, const TokenGates<R>&) {}
};

class CostlessMap final : public FeatureMapOf<CostlessMap> {
 public:
  std::string name() const override { return "costless"; }
  std::string description() const override { return "phi(x) = x, no cost declared"; }
  int64_t out_dim(int64_t dk, const FeatureConfig&) const override { return dk; }
  bool non_negative() const override { return false; }
  template <class R>
  static void map(ConstMatMap<R> x, const FeatureParams<R>&, MatMap<R> out) {
    out = x;
  }
};

std::string refusal(const Variant& v) {
  try {
    estimate_cost(v, "recurrent", Mode::sequence, shape(1, 1, 8, 4, 4), 0, "fp32");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

// Costs come from the rules and maps themselves; one that declares none is refused
// by name, never given some other rule's cost.
TEST(BenchCostModel, RefusesARuleOrMapThatDeclaresNoCost) {
  const CostlessRule rule;
  const CostlessMap map;
  Variant v = parse_variant("rule=add,phi=identity");
  v.rule = &rule;
  EXPECT_EQ(refusal(v), "rule costless declares no cost (Rule::cost)");
  v = parse_variant("rule=add,phi=identity");
  v.phi = &map;
  EXPECT_EQ(refusal(v), "feature map costless declares no cost (flops_per_row)");
}

TEST(BenchCostModel, EveryRegisteredRuleAndMapDeclaresItsCost) {
  for (const Rule* r : rules()) EXPECT_EQ(r->cost().has_value(), r->stateful()) << r->name();
  for (const FeatureMap* f : feature_maps()) EXPECT_TRUE(f->flops_per_row(16, 16).has_value()) << f->name();
}

// The declared cost is the one used: scalar_decay's update is a S + v k (3 per
// element), its chunk carry a S (1 per element).
TEST(BenchCostModel, ScalarDecayUsesItsDeclaredCost) {
  const Variant ssd = parse_variant("ssd");
  const int64_t dk = 4, dv = 4, m = 4;
  const Cost step = estimate_cost(ssd, "decode", Mode::decode_step, shape(1, 1, 1, dk, dv), 0, "fp32");
  EXPECT_DOUBLE_EQ(step.flops, (3.0 + 2.0) * dv * m);  // identity map: no phi FLOPs
  EXPECT_DOUBLE_EQ(step.bytes, 4.0 * (dk + dk + dv + 1 + dv) + 2 * 4.0 * dv * m);  // one gate value
  const Cost chunk = estimate_cost(ssd, "chunked", Mode::sequence, shape(1, 1, 2, dk, dv), 2, "fp32");
  EXPECT_DOUBLE_EQ(chunk.flops, 2.0 * 3 * m + 2.0 * 3 * dv + 4.0 * 2 * m * dv + 1.0 * dv * m);
}

}  // namespace
}  // namespace dfw
