// Crash safety of `dfwbench bench`: a small CPU sweep is started as a child
// process and SIGKILLed at several moments (before its first write, and right
// after it has written k cases, where the next write is in flight); after every
// kill each results file is absent or complete (CSV: dfwbench's header, every row
// the header's column count and parseable; JSON: parses, and holds every case
// the CSV holds). Then --resume finishes the sweep, and the merged case list
// equals the one of an uninterrupted run of the same sweep.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include "results_row.hpp"

namespace dfw {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using test::TempDir;

// 3 variants x 16 sequence lengths = 48 short cases, one results write after each.
std::vector<std::string> sweep_args(const std::string& results_dir, bool resume) {
  std::vector<std::string> a = {DFW_BINARY, "bench", "--backend", "cpu", "--variants", "dfw,delta,softmax",
                                "--seqlens", "8:128:8", "--batch", "1", "--heads", "1", "--dk", "8", "--dv", "8",
                                "--repetitions", "2", "--min-time", "0.0005", "--warmup", "0", "--ceilings", "skip",
                                "--results-dir", results_dir, "--out", "sweep"};
  if (resume) a.push_back("--resume");
  return a;
}

// The child's pid; its stdout and stderr go to /dev/null.
pid_t spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Exit code, or -signal when killed.
int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Rows in the CSV (0 when absent).
std::size_t csv_rows(const std::string& path) {
  const auto lines = lines_of(path);
  return lines.empty() ? 0 : lines.size() - 1;
}

// Case keys of a complete CSV, in file order; fails the test on a torn file.
std::vector<std::string> checked_csv_keys(const std::string& path) {
  std::vector<std::string> keys;
  if (!fs::exists(path)) return keys;
  const auto lines = lines_of(path);
  EXPECT_FALSE(lines.empty()) << path << " exists but is empty";
  if (lines.empty()) return keys;
  EXPECT_EQ(lines[0], results_csv_header()) << path;
  const std::size_t columns = results_csv_columns().size();
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(split_csv_line(lines[i]).size(), columns) << path << " line " << i + 1 << ": " << lines[i];
    try {
      keys.push_back(parse_result_row(lines[i], int64_t(i + 1)).key());
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << ": " << e.what();
    }
  }
  return keys;
}

// Case keys in the JSON (parsed by Python's json module, an independent parser);
// fails the test when the file does not parse.
std::set<std::string> checked_json_keys(const std::string& path) {
  std::set<std::string> keys;
  if (!fs::exists(path)) return keys;
  const std::string cmd = "/usr/bin/python3 -c \"import json,sys; d=json.load(open(sys.argv[1])); "
                          "print('\\n'.join(sorted({b['case_key'] for b in d['benchmarks']})))\" '" +
                          path + "' 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << path << " does not parse as JSON: " << out;
  std::size_t start = 0;
  while (start < out.size()) {
    const auto end = out.find('\n', start);
    keys.insert(out.substr(start, end - start));
    start = end == std::string::npos ? out.size() : end + 1;
  }
  return keys;
}

// Both files absent or complete, and the JSON holding every case of the CSV
// (the JSON is written first, so it may hold one case more).
void expect_consistent(const std::string& dir, const std::string& when) {
  SCOPED_TRACE(when);
  const auto csv = checked_csv_keys(dir + "/sweep.csv");
  const auto json = checked_json_keys(dir + "/sweep.json");
  for (const auto& k : csv) EXPECT_TRUE(json.count(k)) << "case in the CSV but not the JSON: " << k;
  EXPECT_LE(json.size(), csv.size() + 1);
}

TEST(BenchCrashSafety, KilledSweepLeavesCompleteFilesAndResumesToTheSameCases) {
  TempDir ref_dir;
  const auto t0 = Clock::now();
  ASSERT_EQ(wait_for(spawn(sweep_args(ref_dir.path(), false))), 0);
  const double full_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const auto reference = checked_csv_keys(ref_dir.path() + "/sweep.csv");
  ASSERT_EQ(reference.size(), 48u);

  TempDir dir;
  const std::string csv = dir.path() + "/sweep.csv";
  std::mt19937 rng(7);
  int killed = 0, killed_mid_sweep = 0;
  std::string rows_after_kills;
  // Kill 1: early (a random moment in the first tenth of a full run), likely
  // before any file exists. Kills 2..7: right after the CSV reaches k more rows,
  // plus a random 0-3 ms, which lands inside the next case or its write.
  for (int attempt = 0; attempt < 7; ++attempt) {
    const std::size_t before = csv_rows(csv);
    const pid_t pid = spawn(sweep_args(dir.path(), true));
    if (attempt == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(int(rng() % int(full_ms * 100 + 1))));
    } else {
      const std::size_t target = before + 1 + rng() % 4;
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      while (csv_rows(csv) < target && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    }
    kill(pid, SIGKILL);  // the child is not reaped before this, so pid is still ours
    const int code = wait_for(pid);
    if (code == -SIGKILL) {
      ++killed;
      if (csv_rows(csv) < reference.size()) ++killed_mid_sweep;
    }
    rows_after_kills += " " + std::to_string(csv_rows(csv)) + (code == -SIGKILL ? "" : "(exited)");
    expect_consistent(dir.path(), "after kill " + std::to_string(attempt + 1));
  }
  std::printf("full run %.0f ms; CSV rows after each kill:%s of %zu\n", full_ms, rows_after_kills.c_str(),
              reference.size());
  EXPECT_GE(killed_mid_sweep, 3) << "too few kills landed inside the sweep (" << killed << " killed)";

  ASSERT_EQ(wait_for(spawn(sweep_args(dir.path(), true))), 0);
  expect_consistent(dir.path(), "after the final --resume");
  EXPECT_EQ(checked_csv_keys(csv), reference);
  std::set<std::string> ref_set(reference.begin(), reference.end());
  EXPECT_EQ(checked_json_keys(dir.path() + "/sweep.json"), ref_set);
}

}  // namespace
}  // namespace dfw
