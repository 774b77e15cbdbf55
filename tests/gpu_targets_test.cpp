// The gpu-targets verdicts (bench_targets.hpp, G1-G4) from cuda rows made up here:
// each target passes on rows that meet it and misses on rows that do not, reads only
// cuda rows (a cpu row of the same shape is not its row), turns inconclusive on a
// disturbed row and MISSING on an absent one, and its time ratio is judged again
// from the pairs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench_targets.hpp"
#include "paired_ratio.hpp"
#include "results_row.hpp"

namespace dfw {
namespace {

using Rows = std::vector<ResultRow>;

ResultRow cuda_row(const std::string& variant, const std::string& form, const std::string& mode, int64_t B, int64_t T,
                   double ms) {
  ResultRow r;
  r.variant = variant;
  r.form = form;
  r.mode = mode;
  r.backend = "cuda";
  r.dtype = "bf16";
  r.status = "ok";
  r.B = B;
  r.H = 16;
  r.T = T;
  r.dk = r.dv = r.m = 128;
  r.gates = "uniform";
  r.time_median_ms = ms;
  r.ceiling_gflops = 600e3;  // a cuBLAS bf16 rate of 600 TFLOP/s
  r.ceiling_gbps = 4000;
  return r;
}

// Every row the GPU targets read, with rates for which each holds: chunked at 30% and
// flash at 40% of the GEMM rate, recurrent 12x the chunked time, decode at 70% of the
// copy bandwidth.
Rows quiet_rows() {
  Rows rows{cuda_row("dfw", "chunked", "prefill", 8, 16384, 10), cuda_row("dfw", "recurrent", "prefill", 8, 16384, 120),
            cuda_row("softmax", "blocked", "prefill", 8, 16384, 50), cuda_row("dfw", "decode", "decode", 256, 128, 1)};
  rows[0].gflops = 0.30 * rows[0].ceiling_gflops;
  rows[2].gflops = 0.40 * rows[2].ceiling_gflops;
  rows[3].gbps = 0.70 * rows[3].ceiling_gbps;
  return rows;
}

std::vector<Verdict> verdicts(const Rows& rows) {
  std::vector<Verdict> out;
  for (const TargetResult& t : evaluate_targets("gpu-targets", rows)) out.push_back(t.verdict);
  return out;
}

TEST(GpuTargets, EachTargetPassesWhenMetAndMissesWhenNot) {
  const std::vector<TargetResult> quiet = evaluate_targets("gpu-targets", quiet_rows());
  ASSERT_EQ(quiet.size(), 4u);
  const double want[] = {0.30, 12.0, 0.40, 0.70};
  for (std::size_t i = 0; i < quiet.size(); ++i) {
    EXPECT_EQ(quiet[i].verdict, Verdict::pass) << quiet[i].name << ": " << quiet[i].why;
    EXPECT_NEAR(quiet[i].measured, want[i], 1e-9) << quiet[i].name;
  }
  Rows slow = quiet_rows();
  slow[0].gflops = 0.20 * slow[0].ceiling_gflops;  // G1: 20% < 25%
  slow[1].time_median_ms = 90;                       // G2: 9x < 10x
  slow[2].gflops = 0.30 * slow[2].ceiling_gflops;  // G3: 30% < 35%
  slow[3].gbps = 0.50 * slow[3].ceiling_gbps;      // G4: 50% < 60%
  EXPECT_EQ(verdicts(slow), std::vector<Verdict>(4, Verdict::miss));
}

TEST(GpuTargets, OnlyCudaRowsAreRead) {
  Rows rows = quiet_rows();
  for (ResultRow& r : rows) r.backend = "cpu";
  EXPECT_EQ(verdicts(rows), std::vector<Verdict>(4, Verdict::missing));
  EXPECT_TRUE(evaluate_targets("paper", quiet_rows()).empty());  // a preset without targets
}

TEST(GpuTargets, ADisturbedRowIsInconclusiveAndAnAbsentOneMissing) {
  Rows rows = quiet_rows();
  rows[0].disturbed = true;  // the chunked row: read by G1 and G2
  EXPECT_EQ(verdicts(rows), (std::vector<Verdict>{Verdict::inconclusive, Verdict::inconclusive, Verdict::pass,
                                                  Verdict::pass}));
  rows = quiet_rows();
  rows.pop_back();  // no decode row
  EXPECT_EQ(verdicts(rows).back(), Verdict::missing);
}

TEST(GpuTargets, TheTimeRatioIsJudgedAgainFromThePairs) {
  const std::vector<PairedRatioSpec> specs = paired_ratio_specs("gpu-targets");
  ASSERT_EQ(specs.size(), 1u);
  auto judged = [&](double median) {
    std::vector<TargetResult> t = evaluate_targets("gpu-targets", quiet_rows());
    PairedRatio p;
    p.name = specs[0].name;
    p.pairs = 15;
    p.median = median;
    p.p20 = 0.97 * median;
    p.p80 = 1.03 * median;
    judge_from_pairs(t, {p}, 1.25, "gpu-targets");
    return t[1];
  };
  EXPECT_EQ(judged(11).verdict, Verdict::pass);
  EXPECT_TRUE(judged(11).in_pairs);
  EXPECT_EQ(judged(9).verdict, Verdict::miss);  // the rows said 12x; the pairs decide
  EXPECT_NEAR(judged(9).row_measured, 12.0, 1e-9);
}

}  // namespace
}  // namespace dfw
