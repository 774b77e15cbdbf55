// `dfwbench bench --preset cpu-targets --resume` over a results file that already
// holds every row of the preset, from an earlier run: nothing is timed, and no
// target reads PASS or MISS from those rows (they were timed against another
// run's ceilings): every target is MISSING and names the row --resume kept.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "child_run.hpp"
#include "results_store.hpp"
#include "stream_sizing.hpp"
#include "temp_dir.hpp"

namespace dfw {
namespace {

// An ok row of case c, timed 1 ms, with ceilings: every ratio target measures.
ResultRow earlier_row(const BenchCase& c) {
  ResultRow r = c.identity_row(c.form);
  r.status = "ok";
  r.time_median_ms = r.time_p20_ms = r.time_p80_ms = 1.0;
  r.gflops = r.ceiling_gflops = 100;
  r.gbps = r.ceiling_gbps = 40;
  return r;
}

TEST(CpuTargetsResume, RowsOfAnEarlierRunAreNeverJudged) {
  test::TempDir dir;
  // The preset as the child sizes it: the streaming row's batch from this machine's
  // LLC (the memory budget only caps it, far above here).
  StreamSizing sizing;
  sizing.llc_bytes = last_level_cache_bytes();
  const std::vector<BenchCase> cases = expand_bench_cases(preset_sweep("cpu-targets", "cpu", sizing));
  ResultsStore store(dir.path(), "cpu-targets-cpu");
  std::vector<std::string> order;
  for (const BenchCase& c : cases) {
    store.put(earlier_row(c), {});
    order.push_back(c.key());
  }
  store.write(order, "{}");

  const test::ChildRun run =
      test::dfwbench("bench --preset cpu-targets --backend cpu --resume --ceilings skip --results-dir " + dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string n = std::to_string(cases.size());
  ASSERT_NE(run.output.find("resume: " + n + " of " + n + " cases already"), std::string::npos) << run.output;
  const std::string json = test::read_file(dir / "cpu-targets-cpu.json");
  ASSERT_NE(json.find("\"cpu_targets\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"result\": \"PASS\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"result\": \"MISS\""), std::string::npos) << json;
  EXPECT_NE(json.find("--resume kept row"), std::string::npos) << json;
  EXPECT_EQ(run.output.find("  PASS\n"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace dfw
