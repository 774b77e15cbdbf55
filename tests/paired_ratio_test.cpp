// measure_paired_ratio (paired_ratio.hpp) and the presets' paired ratios
// (bench_targets.hpp): each spec names two cases its preset runs; a case against
// itself measures about 1 (its spread is the machine's, not a drift between the
// two sides); a case that cannot run comes back with the reason, not a number;
// the JSON lists each ratio's median and spread.
#include <algorithm>
#include <functional>

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
  for (const std::string preset : {"training", "cpu-targets", "gpu-targets"}) {
    const std::vector<PairedRatioSpec> specs = paired_ratio_specs(preset);
    // cpu-targets: the 6 time-ratio targets, and 3 sets against the uniform gates for each
    // of the 2 gate-set spreads; gpu-targets: its one time ratio (recurrent / chunked) and
    // softmax blocked / cudnn (information)
    EXPECT_EQ(specs.size(), preset == "training" ? 2u : preset == "gpu-targets" ? 2u : 12u) << preset;
    const std::vector<BenchCase> cases =
        expand_bench_cases(preset_sweep(preset, preset == "gpu-targets" ? "cuda" : "cpu"));
    for (const PairedRatioSpec& s : specs)
      for (const TargetRow* want : {&s.numerator, &s.denominator}) {
        int matches = 0;
        for (const BenchCase& c : cases) matches += same_case(*want, c) ? 1 : 0;
        EXPECT_EQ(matches, 1) << preset << ": " << s.name;
      }
  }
  EXPECT_TRUE(paired_ratio_specs("paper").empty());
}

// Paired ratios for every cpu-targets spec: `value(spec)` as the median, p20 and p80
// at 0.95 and 1.05 of it.
std::vector<PairedRatio> pairs_for(const std::function<double(const PairedRatioSpec&)>& value) {
  std::vector<PairedRatio> out;
  for (const PairedRatioSpec& spec : paired_ratio_specs("cpu-targets")) {
    PairedRatio r;
    r.name = spec.name;
    r.pairs = 15;
    r.median = value(spec);
    r.p20 = 0.95 * r.median;
    r.p80 = 1.05 * r.median;
    out.push_back(r);
  }
  return out;
}

// A value that meets the target's relation ("<= x" or ">= x"), or misses it.
double meeting(const TargetResult& t, bool meets) {
  const double limit = std::stod(t.relation.substr(3));
  const bool at_most = t.relation.rfind("<=", 0) == 0;
  return at_most == meets ? 0.9 * limit : 1.1 * limit;
}

TEST(PairedRatio, TimeRatioTargetsAreJudgedFromThePairs) {
  std::vector<TargetResult> targets = evaluate_cpu_targets({});  // no rows: every target MISSING
  const auto by_name = [&](const std::string& name) {
    return *std::find_if(targets.begin(), targets.end(), [&](const TargetResult& t) { return t.name == name; });
  };
  judge_from_pairs(targets, pairs_for([&](const PairedRatioSpec& spec) {
                     return spec.name == spec.target ? meeting(by_name(spec.target), true) : 1.0;
                   }),
                   1.25);
  int paired = 0;
  for (const TargetResult& t : targets) {
    if (!t.in_pairs) {  // the fractions of a ceiling and the bound stay with the rows
      EXPECT_EQ(t.verdict, Verdict::missing) << t.name;
      continue;
    }
    ++paired;
    EXPECT_EQ(t.verdict, Verdict::pass) << t.name;
    EXPECT_EQ(t.row_measured, 0) << t.name;  // no row measured it
  }
  EXPECT_EQ(paired, 8);  // 6 time ratios, 2 spreads
  const std::string json = targets_json(targets);
  EXPECT_NE(json.find("\"measured_in\": \"pairs\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"measured_in\": \"rows\""), std::string::npos) << json;
}

TEST(PairedRatio, ASpreadIsTheWidestOfTheSetsAgainstUniformAndOneWidePairIsInconclusive) {
  const std::string dfw_spread = "dfw chunked prefill B1 H12 T4096 d64, gates uniform / tiny / mixed / ones: "
                                 "t(slowest) / t(fastest)";
  std::vector<TargetResult> targets = evaluate_cpu_targets({});
  // tiny 1.2x the uniform gates, mixed 0.9x: 1.2 / 0.9 = 1.33 > 1.3
  std::vector<PairedRatio> pairs = pairs_for([](const PairedRatioSpec& spec) {
    if (spec.name == "dfw chunked prefill, gates tiny / gates uniform") return 1.2;
    if (spec.name == "dfw chunked prefill, gates mixed / gates uniform") return 0.9;
    return 1.0;
  });
  judge_from_pairs(targets, pairs, 1.25);
  const auto find = [&](const std::string& name) {
    return *std::find_if(targets.begin(), targets.end(), [&](const TargetResult& t) { return t.name == name; });
  };
  EXPECT_NEAR(find(dfw_spread).measured, 1.2 / 0.9, 1e-12);
  EXPECT_EQ(find(dfw_spread).verdict, Verdict::miss);

  // One of its pairs spread past the bound: the machine changed within the pairs.
  for (PairedRatio& p : pairs)
    if (p.name == "dfw chunked prefill, gates ones / gates uniform") p.p80 = 1.5 * p.p20;
  targets = evaluate_cpu_targets({});
  judge_from_pairs(targets, pairs, 1.25);
  EXPECT_EQ(find(dfw_spread).verdict, Verdict::inconclusive);
  EXPECT_NE(find(dfw_spread).why.find("gates ones / gates uniform"), std::string::npos) << find(dfw_spread).why;

  // A pair that did not run leaves the target to its rows.
  pairs.erase(std::remove_if(pairs.begin(), pairs.end(),
                             [](const PairedRatio& p) { return p.name == "dfw chunked prefill, gates ones / gates uniform"; }),
              pairs.end());
  targets = evaluate_cpu_targets({});
  judge_from_pairs(targets, pairs, 1.25);
  EXPECT_FALSE(find(dfw_spread).in_pairs);
  EXPECT_EQ(find(dfw_spread).verdict, Verdict::missing);
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
