// The OpenMP wait policy dfwbench really runs with (thread_policy.hpp), read from
// libgomp itself: OMP_DISPLAY_ENV=VERBOSE makes libgomp print, as it loads, the
// settings it has read. A dfwbench started without OMP_WAIT_POLICY prints twice:
// first libgomp's default (GOMP_SPINCOUNT 300000: idle threads spin, which
// setting the variable inside main() could not change any more), then, after the
// re-execution, spin count 1000 (idle threads spin for tens of microseconds, then
// sleep). A policy given
// in the environment is kept and recorded as such. A measurement agrees: over a
// run whose second case generates its inputs serially, an OpenMP worker of
// dfwbench is often sampled sleeping (whenever there is no parallel work), while
// under OMP_WAIT_POLICY=ACTIVE it is never asleep: always running or waiting to
// run (spinning). Also: available_cores() follows the affinity mask,
// and the policy reaches the results' context.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "child_run.hpp"
#include "temp_dir.hpp"
#include "thread_policy.hpp"

namespace dfw {
namespace {

// What a shell command printed (stdout and stderr).
std::string run_shell(const std::string& cmd) { return test::shell(cmd + " 2>&1").output; }

// The values of `name` in each of libgomp's display blocks, in order.
std::vector<std::string> displayed(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  const std::string key = name + " = '";
  while (std::getline(in, line)) {
    const auto at = line.find(key);
    if (at == std::string::npos) continue;
    const auto begin = at + key.size();
    out.push_back(line.substr(begin, line.find('\'', begin) - begin));
  }
  return out;
}

// The two tests below read libgomp's OMP_DISPLAY_ENV output; LLVM's libomp (a clang
// build) prints another format. The measured behaviour (the test after them) runs on both.
#ifdef DFW_OPENMP_LIBGOMP
#define DFW_SKIP_UNLESS_LIBGOMP()
#else
#define DFW_SKIP_UNLESS_LIBGOMP() GTEST_SKIP() << "reads libgomp's settings; this build's OpenMP runtime is LLVM's libomp"
#endif

TEST(ThreadPolicy, WithoutAPolicyInTheEnvironmentLibgompRunsPassive) {
  DFW_SKIP_UNLESS_LIBGOMP();
  const std::string out = run_shell("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=VERBOSE " +
                              std::string(DFW_BINARY) + " list");
  const auto spin = displayed(out, "GOMP_SPINCOUNT");
  ASSERT_EQ(spin.size(), 2u) << out;  // the first load, then the re-executed one
  EXPECT_NE(spin[0], "0");            // libgomp's default, fixed before main() runs
  EXPECT_EQ(spin[1], "1000");         // an idle thread spins briefly, then sleeps
  EXPECT_EQ(displayed(out, "OMP_WAIT_POLICY").back(), "PASSIVE");
}

TEST(ThreadPolicy, APolicyFromTheEnvironmentIsKeptAndRecorded) {
  DFW_SKIP_UNLESS_LIBGOMP();
  const std::string out = run_shell("env OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=VERBOSE " + std::string(DFW_BINARY) +
                              " list");
  const auto policy = displayed(out, "OMP_WAIT_POLICY");
  ASSERT_EQ(policy.size(), 1u) << out;  // no re-execution
  EXPECT_EQ(policy[0], "ACTIVE");

  test::TempDir dir;
  const std::string bench = std::string(DFW_BINARY) +
                            " bench --backend cpu --variants dfw --mode decode --seqlens 8 --batch 2 --heads 1"
                            " --dk 8 --dv 8 --threads 1 --ceilings skip --repetitions 2 --min-time 0.001"
                            " --results-dir " + dir.path() + " --out p";
  run_shell("env OMP_WAIT_POLICY=ACTIVE " + bench);
  const std::string active = test::read_file(dir / "p.json");
  EXPECT_NE(active.find("\"omp_wait_policy\": \"ACTIVE (from the environment)\""), std::string::npos) << active;
  run_shell("env -u OMP_WAIT_POLICY " + bench);
  const std::string passive = test::read_file(dir / "p.json");
  EXPECT_NE(passive.find("\"omp_wait_policy\": \"PASSIVE, GOMP_SPINCOUNT=1000 (set by dfwbench)\""), std::string::npos) << passive;
}

// Share of samples (every 10 ms, over a whole bench run) in which dfwbench's
// threads other than the main one were asleep (state S). A spinning thread is
// running or runnable (R) whether or not it holds a core, so load does not hide
// it; how much of the run is parallel work (R either way) depends on the build.
double worker_sleeping_share(const std::string& policy, const std::string& results_dir) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (policy.empty()) unsetenv("OMP_WAIT_POLICY");
    else setenv("OMP_WAIT_POLICY", policy.c_str(), 1);
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    // one tiny case (starts the worker), then a case whose inputs take a while to generate
    execl(DFW_BINARY, DFW_BINARY, "bench", "--backend", "cpu", "--variants", "dfw", "--forms", "recurrent",
          "--seqlens", "64,8192", "--batch", "1", "--heads", "16", "--threads", "2", "--ceilings", "skip",
          "--repetitions", "1", "--min-time", "0.001", "--warmup", "0", "--attempts", "1", "--results-dir",
          results_dir.c_str(), "--out", "spin", nullptr);
    _exit(127);
  }
  int sleeping = 0, samples = 0;
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      if (task.path().filename() == std::to_string(pid)) continue;  // the main thread
      std::ifstream stat(task.path() / "stat");
      std::string id, name, state;
      if (!(stat >> id >> name >> state)) continue;
      ++samples;
      sleeping += state == "S";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return samples ? double(sleeping) / samples : -1;
}

TEST(ThreadPolicy, AnIdleWorkerSleepsUnderDfwbenchsPolicyAndSpinsUnderActive) {
  test::TempDir dir;
  const double passive = worker_sleeping_share("", dir.path());
  const double active = worker_sleeping_share("ACTIVE", dir.path());
  ASSERT_GE(passive, 0) << "no worker thread was sampled";
  ASSERT_GE(active, 0) << "no worker thread was sampled";
  std::printf("worker asleep in %.2f of the samples (dfwbench's policy), %.2f (ACTIVE)\n", passive, active);
  EXPECT_GT(passive, 0.25) << "the worker should sleep while the main thread generates inputs";
  EXPECT_LT(active, 0.05) << "under ACTIVE the worker should spin, never sleep";
}

TEST(ThreadPolicy, AvailableCoresFollowTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(available_cores(), CPU_COUNT(&set));
  // one core only: a child pinned with taskset runs 1 thread and says so in its context
  test::TempDir dir;
  int first = 0;
  while (!CPU_ISSET(first, &set)) ++first;
  run_shell("taskset -c " + std::to_string(first) + " " + std::string(DFW_BINARY) +
      " bench --backend cpu --variants dfw --mode decode --seqlens 8 --batch 2 --heads 1 --dk 8 --dv 8"
      " --ceilings skip --repetitions 2 --min-time 0.001 --results-dir " + dir.path() + " --out one");
  const std::string text = test::read_file(dir / "one.json");
  EXPECT_NE(text.find("\"threads\": 1,\n    \"cores_available\": 1,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"cpu_threads\": 1,"), std::string::npos) << text;
}

}  // namespace
}  // namespace dfw
