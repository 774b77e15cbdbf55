// Out of memory is a result, not a crash: a softmax decode sweep whose last
// point's plan (its inputs and KV cache, about 10 MB) exceeds an imposed
// --memory-limit of 4 MiB ends with exit status 0, every earlier point ok, and
// an oom row for the last with its planned bytes and the reason; --resume
// keeps that row as done and runs nothing again.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "child_run.hpp"
#include "results_row.hpp"
#include "temp_dir.hpp"

namespace dfw {
namespace {

using test::TempDir;

std::string sweep_args(const std::string& dir) {
  return "bench --backend cpu --variants softmax --mode decode --seqlens 64,256,1024,65536 --batch 1 --heads 1 "
         "--dk 8 --dv 8 --repetitions 2 --min-time 0.0005 --warmup 0 --ceilings skip --memory-limit 4M "
         "--out oom --results-dir " + dir;
}

TEST(BenchOom, LastPointPastTheLimitIsAnOomRowAndTheSweepEndsNormally) {
  TempDir dir;
  ASSERT_EQ(test::dfwbench_logged(sweep_args(dir.path()), dir / "log"), 0) << test::read_file(dir / "log");
  const auto rows = test::result_rows(dir / "oom.csv");
  ASSERT_EQ(rows.size(), 4u) << test::read_file(dir / "log");
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].status, "ok") << rows[i].T;
    EXPECT_GT(rows[i].time_median_ms, 0);
    EXPECT_GT(rows[i].planned_bytes, rows[i].peak_host_bytes);  // the plan also holds the untracked inputs
    EXPECT_LE(rows[i].planned_bytes, 4 << 20);
  }
  const ResultRow& last = rows[3];
  EXPECT_EQ(last.T, 65536);
  EXPECT_EQ(last.status, "oom");
  // q, k, v of 65537 tokens (3 x 2.1 MB) and the K and V caches (2 x 2.1 MB).
  EXPECT_GE(last.planned_bytes, 5.0 * 65537 * 8 * 4);
  EXPECT_EQ(last.time_median_ms, 0);
  EXPECT_EQ(last.peak_host_bytes, 0);  // nothing was allocated
  EXPECT_NE(last.note.find("> budget 4.19 MB (--memory-limit 4.19 MB)"), std::string::npos) << last.note;
  const std::string json = test::read_file(dir / "oom.json");
  EXPECT_NE(json.find("\"status\": \"oom\""), std::string::npos);
  EXPECT_NE(json.find("\"note\": \"planned "), std::string::npos);
  const std::string log = test::read_file(dir / "log");
  EXPECT_NE(log.find("T=65536 dk=8 dv=8 m=8"), std::string::npos) << log;
  EXPECT_NE(log.find(" oom: planned "), std::string::npos) << log;
}

TEST(BenchOom, ResumeKeepsTheOomRowAsDone) {
  TempDir dir;
  ASSERT_EQ(test::dfwbench_logged(sweep_args(dir.path()), dir / "log1"), 0) << test::read_file(dir / "log1");
  const std::string first = test::read_file(dir / "oom.csv");
  ASSERT_EQ(test::dfwbench_logged(sweep_args(dir.path()) + " --resume", dir / "log2"), 0) << test::read_file(dir / "log2");
  const std::string log = test::read_file(dir / "log2");
  EXPECT_NE(log.find("resume: 4 of 4 cases already"), std::string::npos) << log;
  EXPECT_EQ(log.find("case "), std::string::npos) << "nothing runs again: " << log;
  EXPECT_EQ(test::read_file(dir / "oom.csv"), first);
}

}  // namespace
}  // namespace dfw
