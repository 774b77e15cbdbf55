// A bench run with measured ceilings: the console and the CSV give the same
// fractions, both against the ceilings measured at the start of the run (the
// context's "ceilings"); the end measurement is recorded beside them
// ("ceilings_end"), with the bounds the run was judged by ("run_quality"), and
// each row names the threads it ran with.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "results_row.hpp"
#include "child_run.hpp"
#include "temp_dir.hpp"

namespace dfw {
namespace {

// What a shell command printed (stdout).
std::string run_shell(const std::string& cmd) { return test::shell(cmd + " 2>/dev/null").output; }

// The first number after "key": in text.
double number_after(const std::string& text, const std::string& key) {
  const auto at = text.find("\"" + key + "\": ");
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + key.size() + 4, nullptr);
}

TEST(BenchCeilings, ConsoleAndCsvReadFractionsAgainstTheStartCeilings) {
  test::TempDir dir;
  const std::string console = run_shell(std::string(DFW_BINARY) +
                                  " bench --backend cpu --variants dfw --mode decode --seqlens 8,16 --batch 64"
                                  " --heads 4 --dk 32 --dv 32 --threads 2 --repetitions 2 --min-time 0.005"
                                  " --results-dir " + dir.path() + " --out c");
  const std::string json = test::read_file(dir / "c.json");
  const double start_gflops = number_after(json, "gemm_gflops");  // "ceilings" comes before "ceilings_end"
  ASSERT_GT(start_gflops, 0) << json;
  const auto end_at = json.find("\"ceilings_end\"");
  ASSERT_NE(end_at, std::string::npos) << json;
  EXPECT_GT(number_after(json.substr(end_at), "gemm_gflops"), 0);
  EXPECT_NE(json.find("\"run_quality\""), std::string::npos);
  EXPECT_NE(json.find("\"max_ceiling_change\": 0.15"), std::string::npos);

  // console: "... ok  TIME ms [P20, P80]  G GFLOP/s ( F%)  B GB/s ( F%)"
  const std::regex line(R"((\d+\.\d+) GFLOP/s \(\s*(\d+\.\d)%\)\s+(\d+\.\d+) GB/s \(\s*(\d+\.\d)%\))");
  std::vector<double> printed;
  for (std::sregex_iterator it(console.begin(), console.end(), line), end; it != end; ++it)
    printed.push_back(std::stod((*it)[2]));
  const std::string csv = test::read_file(dir / "c.csv");
  std::vector<ResultRow> rows;
  std::size_t pos = csv.find('\n') + 1;
  for (int64_t n = 2; pos < csv.size(); ++n) {
    const std::size_t next = csv.find('\n', pos);
    rows.push_back(parse_result_row(csv.substr(pos, next - pos), n));
    pos = next + 1;
  }
  ASSERT_EQ(rows.size(), 2u) << csv;
  ASSERT_EQ(printed.size(), rows.size()) << console;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_NEAR(rows[i].ceiling_gflops, start_gflops, 1e-6 * start_gflops);
    EXPECT_NEAR(rows[i].frac_flops_ceiling, rows[i].gflops / start_gflops, 1e-6);
    EXPECT_NEAR(printed[i], 100 * rows[i].frac_flops_ceiling, 0.051) << console;
    EXPECT_EQ(rows[i].threads, 2);
  }
}

}  // namespace
}  // namespace dfw
