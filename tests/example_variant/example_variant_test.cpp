// dfw_example_tests: README "Adding a variant" followed to the letter. example_rule.cpp
// and example_map.cpp, written from its steps alone, are compiled beside the built-in
// rules and maps with no other edit; their registrars must put them in the registry,
// and `check` must pass them in every CPU form.
#include <gtest/gtest.h>

#include <string>

#include "commands.hpp"
#include "cost_model.hpp"
#include "registry.hpp"
#include "variant.hpp"

namespace dfw {
namespace {

const char* const kSpec = "rule=example_leak,phi=example_square";

TEST(ExampleVariant, IsRegisteredBesideTheBuiltIns) {
  ASSERT_NE(find_rule("example_leak"), nullptr);
  ASSERT_NE(find_feature_map("example_square"), nullptr);
  EXPECT_NE(find_rule("decay"), nullptr);
  EXPECT_NE(find_feature_map("identity"), nullptr);
  int listed = 0;
  for (const Variant& v : all_combinations()) listed += v.spec() == std::string(kSpec) + ",norm=off";
  EXPECT_EQ(listed, 1);
  const Variant v = parse_variant(kSpec);
  EXPECT_TRUE(v.defined()) << v.undefined_reason;
  EXPECT_GT(estimate_cost(v, "chunked", Mode::sequence, {1, 2, 64, 16, 16}, 16, "fp32").flops, 0);
}

// `dfwbench check --variants <example> --backend cpu`, in process.
TEST(ExampleVariant, PassesCheckInEveryCpuForm) {
  const char* args[] = {"--variants", kSpec, "--backend", "cpu", "--no-distance"};
  testing::internal::CaptureStdout();
  const int rc = run_check(5, const_cast<char**>(args));
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
  for (const char* form : {"recurrent/cpu/fp32", "chunked/cpu/fp32", "decode/cpu/fp32"}) {
    bool passed = false;
    for (std::size_t at = out.find(form); at != std::string::npos; at = out.find(form, at + 1)) {
      const std::string line = out.substr(at, out.find('\n', at) - at);
      passed = passed || line.find("PASS") != std::string::npos;
    }
    EXPECT_TRUE(passed) << form << " has no PASS row:\n" << out;
  }
}

}  // namespace
}  // namespace dfw
