// measure_paired_ratio (paired_ratio.hpp) and the presets' paired ratios
// (bench_targets.hpp): each spec names two cases its preset runs; a case against
// itself measures about 1 (its spread is the machine's, not a drift between the
// two sides); a case that cannot run comes back with the reason, not a number;
// the JSON lists each ratio's median and spread.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench_case_util.hpp"
#include "bench_cases.hpp"
#include "bench_targets.hpp"
#include "paired_ratio.hpp"
#include "variant.hpp"

namespace dfw {
namespace {

BenchCase small_case(const std::string& variant, const std::string& form, BenchMode mode) {
  return test::cpu_case(variant, form, mode, Shape{1, 2, 64, 16, 16}, form == "chunked" ? 16 : 0);
}

TEST(PairedRatio, EverySpecNamesTwoCasesOfItsPreset) {
  for (const std::string preset : {"training", "cpu-targets"}) {
    const std::vector<PairedRatioSpec> specs = paired_ratio_specs(preset);
    EXPECT_EQ(specs.size(), 2u) << preset;
    const std::vector<BenchCase> cases = expand_bench_cases(preset_sweep(preset, "cpu"));
    for (const PairedRatioSpec& s : specs)
      for (const TargetRow* want : {&s.numerator, &s.denominator}) {
        int matches = 0;
        for (const BenchCase& c : cases) matches += same_case(*want, c) ? 1 : 0;
        EXPECT_EQ(matches, 1) << preset << ": " << s.name;
      }
  }
  EXPECT_TRUE(paired_ratio_specs("paper").empty());
}

TEST(PairedRatio, ACaseAgainstItselfIsAboutOne) {
  TimingOptions opts;
  opts.min_time_s = 0.002;
  const BenchCase c = small_case("dfw", "chunked", BenchMode::backward);
  const PairedRatio r = measure_paired_ratio("self", c, c, opts, 9);
  ASSERT_EQ(r.status, "ok") << r.message;
  EXPECT_EQ(r.pairs, 9);
  EXPECT_GT(r.median, 0.5);
  EXPECT_LT(r.median, 2.0);
  EXPECT_LE(r.p20, r.median);
  EXPECT_GE(r.p80, r.median);
  EXPECT_GT(r.numerator_ms, 0);
  EXPECT_GT(r.denominator_ms, 0);
}

TEST(PairedRatio, ACaseThatCannotRunGivesItsReason) {
  const PairedRatio r = measure_paired_ratio("delta chunked", small_case("delta", "chunked", BenchMode::backward),
                                             small_case("dfw", "chunked", BenchMode::prefill), TimingOptions{}, 3);
  EXPECT_EQ(r.status, "unsupported");
  EXPECT_NE(r.message.find("gated-linear"), std::string::npos) << r.message;
  const std::string json = paired_ratios_json({r});
  EXPECT_NE(json.find("\"status\": \"unsupported\""), std::string::npos) << json;
  EXPECT_EQ(json.find("median"), std::string::npos) << json;
}

}  // namespace
}  // namespace dfw
