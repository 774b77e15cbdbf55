// The cost model's formulas on cases small enough to count by hand.
#include <gtest/gtest.h>

#include "cost_model.hpp"

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

}  // namespace
}  // namespace dfw
