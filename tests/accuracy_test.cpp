// The accuracy metric (accuracy.hpp, docs/MATH.md "Accuracy") on vectors whose
// relative L2 and max-abs errors are known in closed form: a dropped square
// root, a max taken over the wrong vector, a missing normalisation or a lost
// non-finite flag each changes one of these numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "accuracy.hpp"

namespace dfw {
namespace {

TEST(Accuracy, RelativeL2IsTheRatioOfNormsNotOfSquaredNorms) {
  // |ref| = 5, |x - ref| = |(0.3, 0.4)| = 0.5: relative L2 0.1 (its square is 0.01).
  const ErrorStats e = compare({3.3, 4.4}, {3, 4});
  EXPECT_NEAR(e.rel_l2, 0.1, 1e-12);
  // max |x - ref| = 0.4 over max |ref| = 4.
  EXPECT_NEAR(e.max_abs, 0.1, 1e-12);
  EXPECT_TRUE(e.finite);
}

TEST(Accuracy, MaxAbsIsTheLargestDifferenceOverTheLargestReference) {
  // Differences (0, 2, 0.5) against references (10, -1, 0): max-abs 2 / 10;
  // relative L2 sqrt(4.25 / 101).
  const ErrorStats e = compare({10, 1, 0.5}, {10, -1, 0});
  EXPECT_NEAR(e.max_abs, 0.2, 1e-12);
  EXPECT_NEAR(e.rel_l2, std::sqrt(4.25 / 101), 1e-12);
}

TEST(Accuracy, AZeroReferenceGivesAbsoluteErrors) {
  const ErrorStats e = compare({0.3, -0.4}, {0, 0});
  EXPECT_NEAR(e.rel_l2, 0.5, 1e-12);
  EXPECT_NEAR(e.max_abs, 0.4, 1e-12);
  const ErrorStats same = compare({1, 2, 3}, {1, 2, 3});
  EXPECT_EQ(same.rel_l2, 0);
  EXPECT_EQ(same.max_abs, 0);
}

TEST(Accuracy, NonFiniteOrMismatchedOutputsAreInfinitelyWrong) {
  for (double bad : {NAN, INFINITY, -INFINITY}) {
    const ErrorStats e = compare({1, bad}, {1, 2});
    EXPECT_FALSE(e.finite) << bad;
    EXPECT_EQ(e.rel_l2, INFINITY) << bad;
    EXPECT_EQ(e.max_abs, INFINITY) << bad;
  }
  const ErrorStats e = compare({1, 2}, {1, 2, 3});
  EXPECT_FALSE(e.finite);
  EXPECT_EQ(e.rel_l2, INFINITY);
}

TEST(Accuracy, StateAndNormaliserCompareAsOneTensorAndTheWorstIsTaken) {
  Output ref, x;
  ref.y = x.y = {1, 1};
  ref.state = {3, 0};
  ref.z = {4};
  x.state = {3, 0};
  x.z = {4.5};  // |(0, 0, 0.5)| / |(3, 0, 4)| = 0.1
  const CaseErrors c = compare_outputs(x, ref);
  EXPECT_EQ(c.y.rel_l2, 0);
  EXPECT_NEAR(c.state.rel_l2, 0.1, 1e-12);
  EXPECT_NEAR(c.state.max_abs, 0.5 / 4, 1e-12);
  EXPECT_NEAR(c.worst_rel_l2(), 0.1, 1e-12);
  x.y = {1, 2};  // |(0, 1)| / |(1, 1)|
  EXPECT_NEAR(compare_outputs(x, ref).worst_rel_l2(), 1 / std::sqrt(2.0), 1e-12);
  x.state = {NAN, 0};
  EXPECT_FALSE(compare_outputs(x, ref).finite());
}

// The limits are the ones docs/MATH.md section 10 states (scripts/report.py reads
// them from the same line).
TEST(Accuracy, LimitsAreTheOnesDocsMathStates) {
  std::ifstream f(std::string(DFW_SOURCE_DIR) + "/docs/MATH.md");
  std::stringstream text;
  text << f.rdbuf();
  const std::regex line("relative L2 limits: fp32 `([0-9.e-]+)`, fp16 `([0-9.e-]+)`, bf16 `([0-9.e-]+)`");
  std::smatch m;
  const std::string doc = text.str();
  ASSERT_TRUE(std::regex_search(doc, m, line)) << "docs/MATH.md no longer states the limits in one line";
  EXPECT_EQ(rel_l2_limit("fp32"), std::stod(m[1]));
  EXPECT_EQ(rel_l2_limit("fp64"), std::stod(m[1]));
  EXPECT_EQ(rel_l2_limit("fp16"), std::stod(m[2]));
  EXPECT_EQ(rel_l2_limit("bf16"), std::stod(m[3]));
  for (const char* dtype : {"fp32", "fp16", "bf16"}) EXPECT_EQ(max_abs_limit(dtype), 10 * rel_l2_limit(dtype));
  EXPECT_THROW(rel_l2_limit("int8"), std::invalid_argument);
}

// A half-precision form receives q, k, v rounded to its dtype: 1 + 2^-12 is between
// fp16 neighbours (spacing 2^-10 above 1) and bf16 ones (2^-7); gates and s0 stay fp32.
TEST(Accuracy, RoundedInputsAreWhatAHalfPrecisionFormReceives) {
  Problem p;
  p.q = {1.0f + 0x1p-12f, 3.0f};
  p.k = {-1.0f - 0x1p-12f};
  p.v = {0x1p-20f};
  p.gate = {1.0f - 0x1p-20f};
  const Problem h = with_qkv_rounded_to(p, "fp16");
  EXPECT_EQ(h.q, (std::vector<float>{1.0f, 3.0f}));
  EXPECT_EQ(h.k, (std::vector<float>{-1.0f}));
  EXPECT_EQ(h.v, (std::vector<float>{0x1p-20f}));  // an fp16 subnormal, kept exactly
  EXPECT_EQ(h.gate, p.gate);
  EXPECT_EQ(with_qkv_rounded_to(p, "bf16").q, (std::vector<float>{1.0f, 3.0f}));
  EXPECT_EQ(with_qkv_rounded_to(p, "fp32").q, p.q);
  EXPECT_THROW(with_qkv_rounded_to(p, "int8"), std::invalid_argument);
}

// Only a signed map's normaliser, and only in fp16 / bf16, compares on rounded inputs.
TEST(Accuracy, OnlyHalfPrecisionRowsOfASignedNormaliserCompareOnRoundedInputs) {
  const Variant signed_norm = parse_variant("rule=add,phi=identity,norm=on");
  EXPECT_TRUE(compares_on_rounded_inputs(signed_norm, "fp16"));
  EXPECT_TRUE(compares_on_rounded_inputs(signed_norm, "bf16"));
  EXPECT_FALSE(compares_on_rounded_inputs(signed_norm, "fp32"));
  for (const char* other : {"linear", "dfw", "rule=add,phi=identity,norm=off", "softmax"})
    EXPECT_FALSE(compares_on_rounded_inputs(parse_variant(other), "fp16")) << other;
}

}  // namespace
}  // namespace dfw
