// --filter REGEX of check and bench: only the cases whose name matches run; a
// pattern that is not a regular expression is refused with exit 2.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "child_run.hpp"

namespace dfw {
namespace {

// The lines of `out` that contain `part`.
int lines_with(const std::string& out, const std::string& part) {
  std::istringstream in(out);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(part) != std::string::npos;
  return n;
}

TEST(CaseFilter, CheckRunsOnlyTheMatchingRows) {
  const test::ChildRun all = test::dfwbench("check --variants 'ssd;dfw' --quick --no-distance");
  ASSERT_EQ(all.exit_code, 0) << all.output;
  const test::ChildRun some =
      test::dfwbench("check --variants 'ssd;dfw' --quick --no-distance --filter '^ssd chunked/cpu/fp32 .* C=16$'");
  ASSERT_EQ(some.exit_code, 0) << some.output;
  EXPECT_GE(lines_with(some.output, " PASS"), 2) << some.output;  // the two quick shapes at least
  EXPECT_EQ(lines_with(some.output, " C=16 "), lines_with(some.output, " PASS")) << some.output;
  EXPECT_EQ(lines_with(some.output, "dfw "), 0) << some.output;
  EXPECT_EQ(lines_with(some.output, "recurrent/"), 0) << some.output;
  EXPECT_GT(lines_with(all.output, " PASS"), lines_with(some.output, " PASS"));
  const test::ChildRun none = test::dfwbench("check --variants ssd --quick --no-distance --filter nothing-matches");
  EXPECT_EQ(none.exit_code, 2) << none.output;
}

TEST(CaseFilter, BenchKeepsOnlyTheMatchingCases) {
  const std::string sweep = "bench --variants 'ssd;dfw' --forms recurrent,chunked --seqlens 64,128 --batch 1 --list";
  const test::ChildRun all = test::dfwbench(sweep);
  ASSERT_EQ(all.exit_code, 0) << all.output;
  EXPECT_NE(all.output.find("8 cases"), std::string::npos) << all.output;
  const test::ChildRun some = test::dfwbench(sweep + " --filter '^ssd recurrent/.* T=128 '");
  ASSERT_EQ(some.exit_code, 0) << some.output;
  EXPECT_NE(some.output.find("1 cases"), std::string::npos) << some.output;
  EXPECT_EQ(lines_with(some.output, "ssd recurrent/cpu/fp32 prefill B=1 H=1 T=128 "), 1) << some.output;
  const test::ChildRun none = test::dfwbench(sweep + " --filter nothing-matches");
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("the sweep has no case"), std::string::npos) << none.output;
}

TEST(CaseFilter, ABadPatternIsRefused) {
  for (const char* cmd : {"check --quick --no-distance", "bench --list"}) {
    const test::ChildRun r = test::dfwbench(std::string(cmd) + " --filter '(unclosed'");
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("--filter: '(unclosed' is not a regular expression"), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace dfw
