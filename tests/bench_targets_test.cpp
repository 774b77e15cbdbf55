// The cpu-targets and gpu-targets verdicts (bench_targets.hpp). For every target: a row set where
// it holds (PASS), one where it fails (MISS), one where a row it reads is
// disturbed (inconclusive, never PASS or MISS) and one where a row it reads is
// absent or not ok (MISSING, never PASS); a zero or NaN time or ceiling never
// passes; the chunked bound is t(recurrent) over the time of 4 dv m FLOPs per
// token at the row's ceiling; and the preset runs exactly the rows the targets read.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "bench_targets.hpp"
#include "generator.hpp"
#include "paired_ratio.hpp"
#include "results_row.hpp"
#include "variant.hpp"

namespace dfw {
namespace {

using Rows = std::vector<ResultRow>;

ResultRow row(const std::string& variant, const std::string& form, const std::string& mode, int64_t B, int64_t H,
              int64_t T, int64_t d, double ms, const std::string& gates = "uniform") {
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
  r.gates = gates;
  r.time_median_ms = ms;
  r.ceiling_gflops = 100;
  r.ceiling_gbps = 40;
  return r;
}

ResultRow& find(Rows& rows, const std::string& variant, const std::string& form, int64_t T, int64_t d,
                const std::string& gates = "uniform") {
  for (auto& r : rows)
    if (r.variant == variant && r.form == form && r.T == T && r.dk == d && r.gates == gates) return r;
  throw std::logic_error("no such test row " + variant + " " + form);
}

// 4 * 64 * 64 * (1 * 12 * 4096) FLOPs = 805306368; at 100 GFLOP/s: 8.05306368 ms.
constexpr double kFloorMs = 8.05306368;

// Every row the targets read, with times for which every target holds.
Rows quiet_rows() {
  Rows rows;
  rows.push_back(row("dfw", "decode", "decode", 32, 12, 128, 64, 1.0));
  rows.push_back(row("dfw", "decode", "decode", 32, 12, 16384, 64, 1.1));      // 1.1 <= 1.2
  rows.push_back(row("softmax", "decode", "decode", 32, 12, 128, 64, 1.0));
  rows.push_back(row("softmax", "decode", "decode", 32, 12, 16384, 64, 30));   // 30 >= 20
  rows.push_back(row("dfw", "decode", "decode", 64, 16, 128, 128, 1.0));
  rows.back().gbps = 20;                                                       // 20 / 40 >= 0.4
  for (const char* g : {"uniform", "tiny"}) {
    rows.push_back(row("dfw", "recurrent", "prefill", 1, 12, 4096, 64, 20, g));  // 20 / 16 >= 1.0
    rows.push_back(row("dfw", "recurrent", "prefill", 1, 16, 4096, 128, 60, g)); // 60 / 20 >= 2.5
    rows.push_back(row("dfw", "chunked", "prefill", 1, 16, 4096, 128, 20, g));
  }
  const double dfw_chunked[] = {16, 16, 18, 14}, gated_chunked[] = {10, 11, 12, 10};  // 18/14, 12/10 <= 1.3
  int i = 0;
  for (const char* g : {"uniform", "tiny", "mixed", "ones"}) {
    rows.push_back(row("dfw", "chunked", "prefill", 1, 12, 4096, 64, dfw_chunked[i], g));  // floor: 8.05 / 16 >= 0.3
    rows.push_back(row("gated", "chunked", "prefill", 1, 12, 4096, 64, gated_chunked[i], g));
    ++i;
  }
  rows.push_back(row("softmax", "blocked", "prefill", 1, 12, 4096, 64, 5));
  rows.back().gflops = 70;                                                     // 70 / 100 >= 0.6
  return rows;
}

// One target as the test sees it: its position, the value on quiet_rows(), a change
// that makes it fail (and the value then), and the rows it reads.
struct Expectation {
  std::string name_start;
  double quiet, failing;
  std::function<void(Rows&)> fail;
  std::function<std::vector<ResultRow*>(Rows&)> reads;
};

std::vector<Expectation> expectations() {
  std::vector<Expectation> e;
  e.push_back({"dfw decode B32 H12 d64", 1.1, 1.5,
               [](Rows& r) { find(r, "dfw", "decode", 16384, 64).time_median_ms = 1.5; },
               [](Rows& r) { return std::vector<ResultRow*>{&find(r, "dfw", "decode", 16384, 64),
                                                            &find(r, "dfw", "decode", 128, 64)}; }});
  e.push_back({"softmax decode B32 H12 d64", 30, 10,
               [](Rows& r) { find(r, "softmax", "decode", 16384, 64).time_median_ms = 10; },
               [](Rows& r) { return std::vector<ResultRow*>{&find(r, "softmax", "decode", 16384, 64),
                                                            &find(r, "softmax", "decode", 128, 64)}; }});
  e.push_back({"dfw decode H16 d=m=128, state >= 4x LLC: fraction of copy bandwidth", 0.5, 0.25,
               [](Rows& r) { find(r, "dfw", "decode", 128, 128).gbps = 10; },
               [](Rows& r) { return std::vector<ResultRow*>{&find(r, "dfw", "decode", 128, 128)}; }});
  e.push_back({"dfw chunked prefill B1 H12 T4096 d64: 4 dv m FLOPs", kFloorMs / 16, kFloorMs / 40,
               [](Rows& r) { find(r, "dfw", "chunked", 4096, 64).time_median_ms = 40; },
               [](Rows& r) { return std::vector<ResultRow*>{&find(r, "dfw", "chunked", 4096, 64)}; }});
  for (const std::string g : {"uniform", "tiny"}) {
    e.push_back({"dfw prefill B1 H12 T4096 d64, gates " + g, 20.0 / 16, 0.5,
                 [g](Rows& r) { find(r, "dfw", "recurrent", 4096, 64, g).time_median_ms = 8; },
                 [g](Rows& r) { return std::vector<ResultRow*>{&find(r, "dfw", "recurrent", 4096, 64, g),
                                                               &find(r, "dfw", "chunked", 4096, 64, g)}; }});
  }
  for (const std::string g : {"uniform", "tiny"}) {
    e.push_back({"dfw prefill B1 H16 T4096 d128, gates " + g, 3.0, 2.0,
                 [g](Rows& r) { find(r, "dfw", "chunked", 4096, 128, g).time_median_ms = 30; },
                 [g](Rows& r) { return std::vector<ResultRow*>{&find(r, "dfw", "recurrent", 4096, 128, g),
                                                               &find(r, "dfw", "chunked", 4096, 128, g)}; }});
  }
  e.push_back({"softmax blocked prefill B1 H12 T4096 d64", 0.7, 0.5,
               [](Rows& r) { find(r, "softmax", "blocked", 4096, 64).gflops = 50; },
               [](Rows& r) { return std::vector<ResultRow*>{&find(r, "softmax", "blocked", 4096, 64)}; }});
  const std::pair<std::string, double> spreads[] = {{"dfw", 18.0 / 14}, {"gated", 12.0 / 10}};
  for (const auto& [variant, quiet] : spreads) {
    e.push_back({variant + " chunked prefill B1 H12 T4096 d64, gates uniform / tiny / mixed / ones", quiet, 2.0,
                 [variant = variant](Rows& r) {
                   auto& ones = find(r, variant, "chunked", 4096, 64, "ones");
                   find(r, variant, "chunked", 4096, 64, "mixed").time_median_ms = 2 * ones.time_median_ms;
                 },
                 [variant = variant](Rows& r) {
                   std::vector<ResultRow*> out;
                   for (const char* g : {"uniform", "tiny", "mixed", "ones"})
                     out.push_back(&find(r, variant, "chunked", 4096, 64, g));
                   return out;
                 }});
  }
  return e;
}

std::size_t rows_read(const Expectation& e) {
  Rows rows = quiet_rows();
  return e.reads(rows).size();
}

TargetResult named(const std::vector<TargetResult>& t, const std::string& start) {
  for (const auto& x : t)
    if (x.name.rfind(start, 0) == 0 && x.verdict != Verdict::bound) return x;
  throw std::logic_error("no target named " + start);
}

TEST(CpuTargets, EveryTargetHoldsOnTheQuietSetAndTheBoundIsNotJudged) {
  const auto t = evaluate_cpu_targets(quiet_rows());
  ASSERT_EQ(t.size(), expectations().size() + 2);  // + the bounds at d = 64 and d = 128
  for (const auto& e : expectations()) {
    const TargetResult x = named(t, e.name_start);
    EXPECT_EQ(x.verdict, Verdict::pass) << x.name << ": " << x.why;
    EXPECT_NEAR(x.measured, e.quiet, 1e-9) << x.name;
  }
  EXPECT_EQ(std::count_if(t.begin(), t.end(), [](const auto& x) { return x.verdict == Verdict::bound; }), 2);
}

TEST(CpuTargets, EveryTargetMissesWhenItsRatioFails) {
  for (const auto& e : expectations()) {
    Rows rows = quiet_rows();
    e.fail(rows);
    const TargetResult x = named(evaluate_cpu_targets(rows), e.name_start);
    EXPECT_EQ(x.verdict, Verdict::miss) << x.name;
    EXPECT_NEAR(x.measured, e.failing, 1e-9) << x.name;
  }
  Rows rows = quiet_rows();
  expectations()[1].fail(rows);
  EXPECT_NE(format_targets(evaluate_cpu_targets(rows)).find("MISS"), std::string::npos);
}

TEST(CpuTargets, ADisturbedRowMakesEveryTargetThatReadsItInconclusivePassingOrNot) {
  for (const auto& e : expectations())
    for (bool failing : {false, true}) {
      const std::size_t n = rows_read(e);
      for (std::size_t i = 0; i < n; ++i) {
        Rows rows = quiet_rows();
        if (failing) e.fail(rows);
        ResultRow* r = e.reads(rows)[i];
        r->disturbed = true;
        r->note = "disturbed: p80/p20 = 1.5 > 1.25 after 3 timings";
        const TargetResult x = named(evaluate_cpu_targets(rows), e.name_start);
        EXPECT_EQ(x.verdict, Verdict::inconclusive) << x.name << " row " << i;
        EXPECT_NE(x.why.find("disturbed row"), std::string::npos) << x.why;
      }
    }
  // A disturbed row that a target does not read leaves its verdict alone.
  Rows rows = quiet_rows();
  find(rows, "softmax", "blocked", 4096, 64).disturbed = true;
  EXPECT_EQ(named(evaluate_cpu_targets(rows), "dfw decode B32 H12 d64").verdict, Verdict::pass);
  const std::string text = format_targets(evaluate_cpu_targets(rows));
  EXPECT_NE(text.find("inconclusive (disturbed run)"), std::string::npos);
  EXPECT_NE(targets_json(evaluate_cpu_targets(rows)).find("\"result\": \"inconclusive (disturbed run)\""),
            std::string::npos);
  EXPECT_NE(targets_json(evaluate_cpu_targets(rows)).find("\"disturbed\": true"), std::string::npos);
}

TEST(CpuTargets, AnAbsentOrFailedRowMakesEveryTargetThatReadsItMissing) {
  for (const auto& e : expectations()) {
    const std::size_t n = rows_read(e);
    for (std::size_t i = 0; i < n; ++i)
      for (const char* status : {"absent", "error", "oom", "unsupported"}) {
        Rows rows = quiet_rows();
        ResultRow* r = e.reads(rows)[i];
        if (std::string(status) == "absent") r->variant = "gone";
        else r->status = status;
        const TargetResult x = named(evaluate_cpu_targets(rows), e.name_start);
        EXPECT_EQ(x.verdict, Verdict::missing) << x.name << " row " << i << " " << status;
        EXPECT_FALSE(x.found());
        EXPECT_NE(x.why.find("not measured"), std::string::npos) << x.why;
      }
  }
  for (const auto& x : evaluate_cpu_targets({})) EXPECT_EQ(x.verdict, Verdict::missing) << x.name;
  EXPECT_NE(targets_json(evaluate_cpu_targets({})).find("\"result\": \"MISSING\""), std::string::npos);
  EXPECT_NE(format_targets(evaluate_cpu_targets({})).find("MISSING (not measured"), std::string::npos);
}

// --resume keeps rows of earlier runs in the results file; the verdicts read only
// the rows timed in this run (against its own ceilings).
TEST(CpuTargets, RowsKeptByResumeFromAnEarlierRunAreNotRead) {
  const Rows rows = quiet_rows();
  std::vector<std::string> all;
  for (const ResultRow& r : rows) all.push_back(r.key());
  const auto every = evaluate_cpu_targets(rows, all);
  for (const auto& e : expectations()) EXPECT_EQ(named(every, e.name_start).verdict, Verdict::pass) << e.name_start;
  for (const auto& e : expectations()) {
    Rows copy = rows;
    const std::string kept = e.reads(copy).back()->key();
    std::vector<std::string> run = all;
    run.erase(std::find(run.begin(), run.end(), kept));
    const TargetResult x = named(evaluate_cpu_targets(rows, run), e.name_start);
    EXPECT_EQ(x.verdict, Verdict::missing) << x.name;
    EXPECT_NE(x.why.find("--resume kept row"), std::string::npos) << x.why;
  }
  for (const auto& x : evaluate_cpu_targets(rows, {})) EXPECT_FALSE(x.verdict == Verdict::pass) << x.name;
}

TEST(CpuTargets, AZeroOrNanTimeOrCeilingNeverPasses) {
  for (const auto& e : expectations()) {
    const std::size_t n = rows_read(e);
    for (std::size_t i = 0; i < n; ++i)
      for (int how = 0; how < 4; ++how) {
        Rows rows = quiet_rows();
        ResultRow* r = e.reads(rows)[i];
        if (how == 0) r->time_median_ms = 0;
        if (how == 1) r->time_median_ms = NAN;
        if (how == 2) r->ceiling_gflops = r->ceiling_gbps = 0;
        if (how == 3) r->ceiling_gflops = r->ceiling_gbps = NAN;
        const TargetResult x = named(evaluate_cpu_targets(rows), e.name_start);
        // a ceiling only matters to the targets that are fractions of one
        const bool reads_ceiling = x.name.find("fraction") != std::string::npos;
        EXPECT_EQ(x.verdict, how < 2 || reads_ceiling ? Verdict::missing : Verdict::pass)
            << x.name << " row " << i << " case " << how;
      }
  }
}

TEST(CpuTargets, ChunkedBoundIsRecurrentTimeOverTheFloorFlopsAtTheCeiling) {
  Rows rows = quiet_rows();
  auto t = evaluate_cpu_targets(rows);
  auto d64_bound = [](const auto& x) {
    return x.name.find("H12") != std::string::npos && x.name.find("any chunked form") != std::string::npos;
  };
  const auto bound = std::find_if(t.begin(), t.end(), d64_bound);
  ASSERT_NE(bound, t.end());
  EXPECT_EQ(bound->verdict, Verdict::bound);
  EXPECT_NEAR(bound->measured, 20.0 / kFloorMs, 1e-9);  // recurrent, uniform gates, H12 d64
  EXPECT_NE(format_targets(t).find("upper bound, not a target"), std::string::npos);
  EXPECT_NE(targets_json(t).find("\"result\": \"bound\""), std::string::npos);
  find(rows, "dfw", "recurrent", 4096, 64).disturbed = true;
  t = evaluate_cpu_targets(rows);
  EXPECT_EQ(std::find_if(t.begin(), t.end(), d64_bound)->verdict, Verdict::inconclusive);
  EXPECT_EQ(std::count_if(t.begin(), t.end(), [](const auto& x) { return x.verdict == Verdict::bound; }), 1);
}

TEST(CpuTargets, TheRowsAreListedOnceAndCoverEveryGateSetOfTheSubnormalTargets) {
  std::set<std::string> seen;
  std::set<std::string> gates_of_gated;
  for (const TargetRow& r : cpu_target_rows()) {
    const std::string id = r.variant + r.form + bench_mode_name(r.mode) + r.shape.str() + gate_set_name(r.gates);
    EXPECT_TRUE(seen.insert(id).second) << id;
    if (r.variant == "gated") gates_of_gated.insert(gate_set_name(r.gates));
  }
  EXPECT_EQ(gates_of_gated, (std::set<std::string>{"uniform", "tiny", "mixed", "ones"}));
  EXPECT_EQ(seen.size(), quiet_rows().size());
}

// The subnormal targets are named after the `tiny` gates because, of the
// generator's sets, they are the ones whose running gate products pass below
// FLT_MIN (subnormal, not yet 0) in every 64-token chunk, for every dimension;
// the uniform set (values in [1/n, 1 - 1/n]) almost never does at this width.
TEST(CpuTargets, TheTinyGateSetMakesSubnormalRunningProductsInEveryChunk) {
  auto subnormal_share = [](const char* variant, GateSet set) {
    GeneratorOptions o;
    o.gates = set;
    const Problem p = generate_problem(parse_variant(variant), Shape{1, 2, 256, 64, 64}, o);
    const std::vector<float>& g = p.gate_v.empty() ? p.gate : p.gate_v;
    const int64_t width = p.gate_v.empty() ? 1 : 64, T = 256;
    int64_t runs = 0, with_subnormal = 0;
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t c = 0; c < T; c += 64)
        for (int64_t i = 0; i < width; ++i) {
          float product = 1.f;
          bool seen = false;
          for (int64_t t = c; t < c + 64; ++t) {
            product *= g[(h * T + t) * width + i];
            seen = seen || (product > 0.f && product < FLT_MIN);
          }
          ++runs;
          with_subnormal += seen;
        }
    return double(with_subnormal) / double(runs);
  };
  for (const char* variant : {"dfw", "gated"}) {
    EXPECT_EQ(subnormal_share(variant, GateSet::tiny), 1.0) << variant;
    EXPECT_EQ(subnormal_share(variant, GateSet::mixed), 1.0) << variant;
    EXPECT_LT(subnormal_share(variant, GateSet::uniform_init), 0.01) << variant;
    EXPECT_EQ(subnormal_share(variant, GateSet::ones), 0.0) << variant;
  }
}

// ---- gpu-targets (G1-G4): the same judging on cuda rows ---------------------------

// A cuda bf16 row at H 16, d = m = 128, against a cuBLAS rate of 600 TFLOP/s and a copy
// bandwidth of 4 TB/s.
ResultRow cuda_row(const std::string& variant, const std::string& form, const std::string& mode, int64_t B, int64_t T,
                   double ms) {
  ResultRow r = row(variant, form, mode, B, 16, T, 128, ms);
  r.backend = "cuda";
  r.dtype = "bf16";
  r.ceiling_gflops = 600e3;
  r.ceiling_gbps = 4000;
  return r;
}

// Every row the GPU targets read, with rates for which each holds: chunked at 30% and
// flash at 40% of the GEMM rate, recurrent 12x the chunked time, decode at 70% of the
// copy bandwidth.
Rows gpu_quiet_rows() {
  Rows rows{cuda_row("dfw", "chunked", "prefill", 8, 16384, 10), cuda_row("dfw", "recurrent", "prefill", 8, 16384, 120),
            cuda_row("softmax", "blocked", "prefill", 8, 16384, 50), cuda_row("dfw", "decode", "decode", 256, 128, 1)};
  rows[0].gflops = 0.30 * rows[0].ceiling_gflops;
  rows[2].gflops = 0.40 * rows[2].ceiling_gflops;
  rows[3].gbps = 0.70 * rows[3].ceiling_gbps;
  return rows;
}

std::vector<Verdict> gpu_verdicts(const Rows& rows) {
  std::vector<Verdict> out;
  for (const TargetResult& t : evaluate_targets("gpu-targets", rows)) out.push_back(t.verdict);
  return out;
}

TEST(GpuTargets, EachTargetPassesWhenMetAndMissesWhenNot) {
  const std::vector<TargetResult> quiet = evaluate_targets("gpu-targets", gpu_quiet_rows());
  ASSERT_EQ(quiet.size(), 4u);
  const double want[] = {0.30, 12.0, 0.40, 0.70};
  for (std::size_t i = 0; i < quiet.size(); ++i) {
    EXPECT_EQ(quiet[i].verdict, Verdict::pass) << quiet[i].name << ": " << quiet[i].why;
    EXPECT_NEAR(quiet[i].measured, want[i], 1e-9) << quiet[i].name;
  }
  Rows slow = gpu_quiet_rows();
  slow[0].gflops = 0.20 * slow[0].ceiling_gflops;  // G1: 20% < 25%
  slow[1].time_median_ms = 90;                       // G2: 9x < 10x
  slow[2].gflops = 0.30 * slow[2].ceiling_gflops;  // G3: 30% < 35%
  slow[3].gbps = 0.50 * slow[3].ceiling_gbps;      // G4: 50% < 60%
  EXPECT_EQ(gpu_verdicts(slow), std::vector<Verdict>(4, Verdict::miss));
}

TEST(GpuTargets, OnlyCudaRowsAreRead) {
  Rows rows = gpu_quiet_rows();
  for (ResultRow& r : rows) r.backend = "cpu";
  EXPECT_EQ(gpu_verdicts(rows), std::vector<Verdict>(4, Verdict::missing));
  EXPECT_TRUE(evaluate_targets("paper", gpu_quiet_rows()).empty());  // a preset without targets
}

TEST(GpuTargets, ADisturbedRowIsInconclusiveAndAnAbsentOneMissing) {
  Rows rows = gpu_quiet_rows();
  rows[0].disturbed = true;  // the chunked row: read by G1 and G2
  EXPECT_EQ(gpu_verdicts(rows), (std::vector<Verdict>{Verdict::inconclusive, Verdict::inconclusive, Verdict::pass,
                                                  Verdict::pass}));
  rows = gpu_quiet_rows();
  rows.pop_back();  // no decode row
  EXPECT_EQ(gpu_verdicts(rows).back(), Verdict::missing);
}

TEST(GpuTargets, TheTimeRatioIsJudgedAgainFromThePairs) {
  const std::vector<PairedRatioSpec> specs = paired_ratio_specs("gpu-targets");
  ASSERT_EQ(specs.size(), 2u);  // the target's, then softmax blocked / cudnn (information, no target)
  EXPECT_EQ(specs[1].target, "");
  auto judged = [&](double median) {
    std::vector<TargetResult> t = evaluate_targets("gpu-targets", gpu_quiet_rows());
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
