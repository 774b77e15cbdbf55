// The cpu-targets verdicts (bench_targets.hpp): each ratio comes from the rows
// it names, limits are applied in the right direction, a missing or failed row
// is MISSING (never PASS), and the chunked bound is t(recurrent) over the time
// of 4 dv m FLOPs per token at the row's ceiling.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench_targets.hpp"
#include "results_row.hpp"

namespace dfw {
namespace {

ResultRow row(const std::string& variant, const std::string& form, const std::string& mode, int64_t B, int64_t H,
              int64_t T, int64_t d, double ms) {
  ResultRow r;
  r.variant = variant;
  r.form = form;
  r.mode = mode;
  r.backend = "cpu";
  r.status = "ok";
  r.B = B;
  r.H = H;
  r.T = T;
  r.dk = r.dv = r.m = d;
  r.time_median_ms = ms;
  r.ceiling_gflops = 100;
  return r;
}

// Every row the targets read, with ratios chosen so each target's verdict is known.
std::vector<ResultRow> target_rows() {
  std::vector<ResultRow> rows;
  rows.push_back(row("dfw", "decode", "decode", 32, 12, 128, 64, 1.0));
  rows.push_back(row("dfw", "decode", "decode", 32, 12, 16384, 64, 1.1));     // 1.1 <= 1.2: PASS
  rows.push_back(row("softmax", "decode", "decode", 32, 12, 128, 64, 1.0));
  rows.push_back(row("softmax", "decode", "decode", 32, 12, 16384, 64, 10));  // 10 < 20: MISS
  rows.push_back(row("dfw", "decode", "decode", 64, 16, 128, 128, 1.0));
  rows.back().frac_bw_ceiling = 0.5;                                          // >= 0.4: PASS
  rows.push_back(row("dfw", "chunked", "prefill", 1, 12, 4096, 64, 4.0));
  rows.back().frac_flops_ceiling = 0.25;                                      // < 0.3: MISS
  rows.push_back(row("dfw", "recurrent", "prefill", 1, 12, 4096, 64, 16.0));  // 16 / 4 = 4 >= 3: PASS
  rows.push_back(row("softmax", "blocked", "prefill", 1, 12, 4096, 64, 1.0));
  rows.back().frac_flops_ceiling = 0.3;                                       // >= 0.3: PASS
  return rows;
}

TEST(CpuTargets, RatiosComeFromTheNamedRowsAndLimitsApplyInTheirDirection) {
  const std::vector<TargetResult> t = evaluate_cpu_targets(target_rows());
  ASSERT_EQ(t.size(), 7u);
  const double expected[] = {1.1, 10, 0.5, 0.25, 4.0};
  const bool pass[] = {true, false, true, false, true};
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(t[i].found) << t[i].name;
    EXPECT_NEAR(t[i].measured, expected[i], 1e-12) << t[i].name;
    EXPECT_EQ(t[i].pass, pass[i]) << t[i].name;
    EXPECT_FALSE(t[i].bound);
  }
  EXPECT_TRUE(t[6].pass);
  EXPECT_NE(format_targets(t).find("MISS"), std::string::npos);
}

TEST(CpuTargets, ChunkedBoundIsRecurrentTimeOverTheMinimumFlopsAtTheCeiling) {
  const std::vector<TargetResult> t = evaluate_cpu_targets(target_rows());
  const TargetResult& bound = t[5];
  ASSERT_TRUE(bound.bound);
  ASSERT_TRUE(bound.found);
  // 4 * 64 * 64 * (1 * 12 * 4096) FLOPs at 100 GFLOP/s = 8.05306368 ms; recurrent 16 ms.
  EXPECT_NEAR(bound.measured, 16.0 / 8.05306368, 1e-9);
  EXPECT_FALSE(bound.pass);  // never judged
  EXPECT_NE(format_targets(t).find("upper bound, not a target"), std::string::npos);
  EXPECT_NE(targets_json(t).find("\"result\": \"bound\""), std::string::npos);
}

TEST(CpuTargets, MissingOrFailedRowsAreMissingNotPass) {
  std::vector<ResultRow> rows = target_rows();
  rows[6].status = "error";  // the recurrent row
  const std::vector<TargetResult> t = evaluate_cpu_targets(rows);
  EXPECT_FALSE(t[4].found);
  EXPECT_FALSE(t[4].pass);
  EXPECT_FALSE(t[5].found);
  EXPECT_NE(format_targets(t).find("MISSING"), std::string::npos);
  EXPECT_NE(targets_json(t).find("\"result\": \"MISSING\""), std::string::npos);
  EXPECT_EQ(evaluate_cpu_targets({}).size(), 7u);
  for (const auto& x : evaluate_cpu_targets({})) EXPECT_FALSE(x.found);
}

}  // namespace
}  // namespace dfw
