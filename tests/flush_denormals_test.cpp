// FlushDenormalsScope (variants/cpu/flush_denormals.hpp): subnormal results are
// flushed to zero while a scope lives, the caller's mode comes back after it, and
// a CPU form leaves the calling thread's mode as it found it.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cpu/flush_denormals.hpp"
#include "test_util.hpp"

namespace dfw {
namespace {

// A product whose exact value (1e-40) is subnormal in fp32; volatile keeps the
// compiler from folding it at compile time.
float subnormal_product() {
  volatile float a = 1e-20f, b = 1e-20f;
  return a * b;
}

TEST(FlushDenormals, SubnormalResultsAreZeroInsideTheScopeOnly) {
  if (!FlushDenormalsScope::supported()) GTEST_SKIP() << "no flush mode on this architecture";
  if (!FlushDenormalsScope::enabled()) GTEST_SKIP() << "DFWBENCH_SUBNORMALS=keep turns flushing off";
  ASSERT_FALSE(FlushDenormalsScope::active()) << "the test process starts in IEEE mode";
  const float outside = subnormal_product();
  EXPECT_GT(outside, 0.f);
  EXPECT_LT(outside, std::numeric_limits<float>::min());  // really subnormal
  {
    FlushDenormalsScope flush;
    EXPECT_TRUE(FlushDenormalsScope::active());
    EXPECT_EQ(subnormal_product(), 0.f);
    volatile float normal = 3e-30f;
    EXPECT_EQ(normal * 2.f, 6e-30f);  // normal numbers are untouched
  }
  EXPECT_FALSE(FlushDenormalsScope::active());
  EXPECT_EQ(subnormal_product(), outside);
}

TEST(FlushDenormals, ACpuFormLeavesTheCallersModeAsItWas) {
  if (!FlushDenormalsScope::supported()) GTEST_SKIP() << "no flush mode on this architecture";
  const Variant v = parse_variant("dfw");
  const Problem p = test::make(v, {1, 2, 40, 16, 16}, GateSet::tiny);
  for (const char* form : {"recurrent", "chunked", "decode"}) {
    ASSERT_FALSE(FlushDenormalsScope::active());
    test::run(form, v, p);
    EXPECT_FALSE(FlushDenormalsScope::active()) << form;
  }
}

TEST(FlushDenormals, TinyGatesStayWithinTheFp32LimitWhenFlushed) {
  // Gates of 1e-6 make products of 1e-36 and below within one token pair: exactly
  // what flushing drops. The outputs must still match float64 to the fp32 limit.
  for (const char* spec : {"dfw", "gated", "rule=decay,phi=elu1"}) {
    const Variant v = parse_variant(spec);
    for (GateSet g : {GateSet::tiny, GateSet::mixed}) {
      const Problem p = test::make(v, {1, 2, 100, 16, 16}, g, true);
      const Output ref = test::run("reference", v, p);
      for (const char* form : {"recurrent", "chunked"}) {
        const CaseErrors e = compare_outputs(test::run(form, v, p), ref);
        EXPECT_TRUE(e.finite()) << spec << " " << form;
        EXPECT_LT(e.y.rel_l2, rel_l2_limit("fp32")) << spec << " " << form << " " << gate_set_name(g);
        EXPECT_LT(e.y.max_abs, 10 * rel_l2_limit("fp32")) << spec << " " << form << " " << gate_set_name(g);
        EXPECT_LT(e.state.rel_l2, rel_l2_limit("fp32")) << spec << " " << form << " " << gate_set_name(g);
        EXPECT_LT(e.state.max_abs, 10 * rel_l2_limit("fp32")) << spec << " " << form << " " << gate_set_name(g);
      }
    }
  }
}

}  // namespace
}  // namespace dfw
