// dfwbench bench results files: the exact CSV header, row round trips, JSON
// quoting and --resume merging (SIGKILL mid-sweep: bench_crash_test.cpp).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "results_json.hpp"
#include "results_row.hpp"
#include "results_store.hpp"

namespace dfw {
namespace {

TEST(BenchResults, CsvHeaderIsExactlyTheAgreedColumns) {
  EXPECT_EQ(results_csv_header(),
            "preset,variant,spec,form,backend,dtype,mode,B,H,T,dk,dv,m,chunk,status,time_median_ms,time_p20_ms,"
            "time_p80_ms,repetitions,tokens_per_s,flops,bytes,gflops,gbps,ceiling_gflops,ceiling_gbps,"
            "frac_flops_ceiling,frac_bw_ceiling,peak_host_bytes,peak_device_bytes,state_bytes,machine,commit,threads,"
            "disturbed,planned_bytes,note,gates,roofline_ms");
}

TEST(BenchResults, RowRoundTripsThroughCsvWithQuotedSpec) {
  ResultRow r;
  r.preset = "grid";
  r.variant = "rule=decay,phi=elu1,norm=off";
  r.spec = r.variant;
  r.form = "chunked";
  r.backend = "cpu";
  r.dtype = "fp32";
  r.mode = "prefill";
  r.B = 4; r.H = 8; r.T = 1024; r.dk = 64; r.dv = 64; r.m = 64; r.chunk = 64;
  r.status = "ok";
  r.time_median_ms = 1.25; r.time_p20_ms = 1.2; r.time_p80_ms = 1.3;
  r.repetitions = 5;
  r.flops = 123456789; r.bytes = 4096; r.gflops = 98.7654321;
  r.machine = "CPU \"model\", 2 cores";
  r.commit = "abc1234-dirty";
  r.threads = 2;
  r.disturbed = true;
  r.note = "disturbed: p80/p20 = 1.41 > 1.25 after 3 timings, threads waited";
  r.gates = "tiny";
  const std::string line = r.to_csv_line();
  EXPECT_EQ(split_csv_line(line).size(), results_csv_columns().size());
  const ResultRow back = parse_result_row(line, 2);
  EXPECT_EQ(back.to_csv_line(), line);
  EXPECT_EQ(back.variant, r.variant);
  EXPECT_EQ(back.machine, r.machine);
  EXPECT_EQ(back.key(), r.key());
  EXPECT_EQ(back.gates, "tiny");
  ResultRow uniform = back;
  uniform.gates = "uniform";
  EXPECT_NE(uniform.key(), back.key());  // the gate set tells cases apart
  EXPECT_TRUE(back.disturbed);
  EXPECT_EQ(back.threads, 2);
  EXPECT_EQ(back.note, r.note);
  EXPECT_DOUBLE_EQ(back.time_median_ms, 1.25);
  EXPECT_DOUBLE_EQ(back.flops, 123456789);
  EXPECT_THROW(parse_result_row("a,b,c", 3), std::invalid_argument);
}

TEST(BenchResults, JsonStringsEscapeAndReadBack) {
  JsonObject o;
  o.add("case_key", std::string("a|\"b\"\\c\nd")).add("x", 1.5);
  const std::string line = o.str();
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(json_string_member(line, "case_key"), "a|\"b\"\\c\nd");
  EXPECT_EQ(json_number(0.1), "0.1");
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

// Case keys of a results CSV, in file order.
std::vector<std::string> csv_keys(const std::string& path) {
  std::vector<std::string> keys;
  const auto lines = lines_of(path);
  EXPECT_FALSE(lines.empty()) << path;
  if (lines.empty()) return keys;
  EXPECT_EQ(lines[0], results_csv_header());
  for (std::size_t i = 1; i < lines.size(); ++i) keys.push_back(parse_result_row(lines[i], int64_t(i + 1)).key());
  return keys;
}

int bench(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return run_bench(int(argv.size()), argv.data());
}

std::vector<std::string> tiny(const std::string& dir, const std::string& out, const std::string& seqlens) {
  return {"--backend", "cpu", "--variants", "softmax,dfw,delta", "--forms", "best", "--batch", "2", "--heads", "2",
          "--dk", "8", "--dv", "8", "--seqlens", seqlens, "--repetitions", "1", "--min-time", "0.001",
          "--warmup", "0", "--ceilings", "skip", "--results-dir", dir, "--out", out};
}

TEST(BenchResume, SecondRunOnlyAddsMissingCasesAndMatchesAFullRun) {
  const std::string dir = ::testing::TempDir() + "dfw_bench_resume";
  ASSERT_EQ(bench(tiny(dir, "full", "16,32")), 0);
  ASSERT_EQ(bench(tiny(dir, "part", "16")), 0);
  const auto first = lines_of(dir + "/part.csv");
  auto args = tiny(dir, "part", "16,32");
  args.push_back("--resume");
  ASSERT_EQ(bench(args), 0);

  const auto full = csv_keys(dir + "/full.csv");
  EXPECT_EQ(full.size(), 6u);
  EXPECT_EQ(csv_keys(dir + "/part.csv"), full);
  const auto merged = lines_of(dir + "/part.csv");
  for (std::size_t i = 1; i < first.size(); ++i) EXPECT_EQ(merged[i], first[i]) << "a finished case was re-run";

  // The JSON holds Google Benchmark's entries of every case, earlier ones kept.
  ResultsStore json_view(dir, "part");
  json_view.load();
  EXPECT_EQ(json_view.size(), 6u);
  std::ifstream in(dir + "/part.json");
  std::stringstream all;
  all << in.rdbuf();
  for (const auto& key : full) EXPECT_NE(all.str().find("\"case_key\": \"" + key + "\""), std::string::npos) << key;
  EXPECT_NE(all.str().find("\"benchmarks\": ["), std::string::npos);
  EXPECT_NE(all.str().find("\"run_type\": \"iteration\""), std::string::npos);
}

TEST(BenchResume, AFileFromBeforeTheRooflineColumnResumes) {
  const std::string dir = ::testing::TempDir() + "dfw_bench_resume_old";
  ASSERT_EQ(bench(tiny(dir, "old", "16")), 0);
  auto lines = lines_of(dir + "/old.csv");
  const std::string suffix = ",roofline_ms";
  ASSERT_EQ(lines[0].substr(lines[0].size() - suffix.size()), suffix);
  {
    std::ofstream out(dir + "/old.csv");  // as written before the column existed: one field fewer
    for (const std::string& l : lines) out << l.substr(0, l.size() - (&l == &lines[0] ? suffix.size() : 1)) << "\n";
  }
  ResultsStore store(dir, "old");
  store.load();
  EXPECT_EQ(store.size(), 3u);
  auto args = tiny(dir, "old", "16,32");
  args.push_back("--resume");
  ASSERT_EQ(bench(args), 0);
  EXPECT_EQ(csv_keys(dir + "/old.csv").size(), 6u);
}

TEST(BenchResume, UnsupportedCasesAreRecordedNotFatal) {
  const std::string dir = ::testing::TempDir() + "dfw_bench_unsupported";
  auto args = tiny(dir, "u", "8");
  args[3] = "softmax";  // --variants
  args[5] = "chunked";  // --forms: softmax has no chunked form
  EXPECT_EQ(bench(args), 0);
  const auto lines = lines_of(dir + "/u.csv");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(parse_result_row(lines[1], 2).status, "unsupported");
}


}  // namespace
}  // namespace dfw
