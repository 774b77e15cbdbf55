// The disturbance checks of a bench run (run_quality.hpp): the spread bound, the
// contention bound (run delay AND preemptions), the ceilings' start/end agreement,
// and the row marking; plus contention.hpp measuring this process for real.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "bench_case_util.hpp"
#include "bench_cases.hpp"
#include "bench_runner.hpp"
#include "contention.hpp"
#include "run_quality.hpp"

namespace dfw {
namespace {

CaseTiming timing(double p20, double p80) {
  CaseTiming t;
  t.median_ms = (p20 + p80) / 2;
  t.p20_ms = p20;
  t.p80_ms = p80;
  return t;
}

Ceilings ceilings(double gflops, double single, double gbps) {
  Ceilings c;
  c.backend = "cpu";
  c.gflops = gflops;
  c.gflops_single = single;
  c.gbps = gbps;
  return c;
}

TEST(RunQuality, ASpreadBeyondTheBoundDisturbsACase) {
  const QualityLimits q;
  EXPECT_EQ(timing_disturbance(timing(1.0, 1.25), q), "");
  EXPECT_EQ(timing_disturbance(timing(1.0, 1.26), q), "p80/p20 = 1.26 > 1.25");
  EXPECT_NE(timing_disturbance(timing(0.0, 1.0), q), "");  // no valid p20: not trusted
  CaseTiming failed = timing(1.0, 9.0);
  failed.status = "oom";
  EXPECT_EQ(timing_disturbance(failed, q), "");  // no timing to doubt
}

TEST(RunQuality, ContentionNeedsBothRunDelayAndPreemptions) {
  const QualityLimits q;
  CaseTiming t = timing(1.0, 1.0);
  t.contention = Contention{0.30, 100};  // a hog: waits and preemptions
  EXPECT_NE(timing_disturbance(t, q).find("threads waited for a core 30% of the time"), std::string::npos);
  t.contention = Contention{0.30, 5};    // wake-up latency of sleeping threads only
  EXPECT_EQ(timing_disturbance(t, q), "");
  t.contention = Contention{0.01, 500};  // preempted, but at no cost worth naming
  EXPECT_EQ(timing_disturbance(t, q), "");
  t = timing(1.0, 2.0);
  t.contention = Contention{0.5, 200};
  const std::string both = timing_disturbance(t, q);
  EXPECT_NE(both.find("p80/p20"), std::string::npos);
  EXPECT_NE(both.find("preempted 200 times/s"), std::string::npos);
}

TEST(RunQuality, CeilingsThatChangeMoreThan15PercentDisturbTheRun) {
  const QualityLimits q;
  EXPECT_EQ(ceilings_disturbance(ceilings(100, 50, 40), ceilings(114, 57, 35), q), "");
  // issue 11: 67.2 GFLOP/s at the start, 318 at the end
  const std::string why = ceilings_disturbance(ceilings(67.2, 50, 40), ceilings(318, 50, 40), q);
  EXPECT_NE(why.find("GEMM 67.2 GFLOP/s at the start, 318 at the end"), std::string::npos) << why;
  EXPECT_NE(ceilings_disturbance(ceilings(100, 50, 40), ceilings(100, 40, 40), q), "");  // one thread
  EXPECT_NE(ceilings_disturbance(ceilings(100, 50, 40), ceilings(100, 50, 30), q), "");  // copy
  EXPECT_NE(ceilings_disturbance(ceilings(100, 50, 40), ceilings(0, 50, 40), q), "");    // lost at the end
  EXPECT_EQ(ceilings_disturbance(ceilings(0, 0, 0), ceilings(0, 0, 0), q), "");        // not measured
  Ceilings busy = ceilings(100, 50, 40);
  busy.contention = Contention{0.4, 150};
  EXPECT_NE(ceilings_disturbance(busy, ceilings(100, 50, 40), q).find("at the start"), std::string::npos);
  EXPECT_NE(ceilings_disturbance(ceilings(100, 50, 40), busy, q).find("at the end"), std::string::npos);
}

TEST(RunQuality, MarkingARowKeepsEveryReason) {
  ResultRow r;
  add_note(r, "quiet at timing 2 (timing 1: p80/p20 = 1.4 > 1.25)");
  mark_disturbed(r, "ceilings changed");
  EXPECT_TRUE(r.disturbed);
  EXPECT_EQ(r.note, "quiet at timing 2 (timing 1: p80/p20 = 1.4 > 1.25); disturbed: ceilings changed");
}

TEST(Contention, ASleepingProcessIsNotContendedAndTheWindowMeasuresWallTime) {
  if (!process_run_delay_s()) GTEST_SKIP() << "the kernel reports no schedstat run delay";
  const ContentionWindow w;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto c = w.measure(1);
  ASSERT_TRUE(c);
  EXPECT_GE(c->run_delay, 0.0);
  EXPECT_LT(c->run_delay, 0.5);  // asleep, not waiting to run: at most the wake-up
  EXPECT_GE(c->preemptions_per_s, 0.0);
}

// A disturbed timing is made again, up to the bound, and the reasons are kept.
TEST(RunQuality, ADisturbedTimingIsRetimedUpToTheBound) {
  const BenchCase c = test::cpu_case("dfw", "decode", BenchMode::decode, Shape{2, 1, 8, 8, 8});
  TimingOptions opts;
  opts.repetitions = 2;
  opts.min_time_s = 0.001;
  Retiming always;
  always.attempts = 3;
  always.disturbance = [](const CaseTiming&) { return std::string("always"); };
  const CaseTiming stuck = time_case(c, opts, always);
  EXPECT_EQ(stuck.status, "ok");
  EXPECT_EQ(stuck.attempts, 3);
  EXPECT_EQ(stuck.disturbances, (std::vector<std::string>{"always", "always", "always"}));
  EXPECT_EQ(stuck.repetition_ms.size(), 2u);  // the last timing's repetitions only
  int calls = 0;
  Retiming once = always;
  once.disturbance = [&calls](const CaseTiming&) { return ++calls == 1 ? std::string("first") : std::string(); };
  const CaseTiming settled = time_case(c, opts, once);
  EXPECT_EQ(settled.attempts, 2);
  EXPECT_EQ(settled.disturbances, std::vector<std::string>{"first"});
  EXPECT_EQ(time_case(c, opts).attempts, 1);  // no judge: one timing
}

// Two busy threads of this process on one core: each waits for the other about
// half of the time, and the scheduler switches between them at every time slice.
TEST(Contention, TwoBusyThreadsOnOneCoreAreSeenWaitingAndPreempted) {
  if (!process_run_delay_s()) GTEST_SKIP() << "the kernel reports no schedstat run delay";
  cpu_set_t mask;
  CPU_ZERO(&mask);
  ASSERT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  const cpu_set_t original = mask;
  int core = 0;
  while (!CPU_ISSET(core, &mask)) ++core;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(core, &one);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
  std::atomic<bool> stop{false};
  std::thread rival([&] {
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  const ContentionWindow w;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  while (std::chrono::steady_clock::now() < until) {
  }
  const auto c = w.measure(2);
  stop = true;
  rival.join();
  pthread_setaffinity_np(pthread_self(), sizeof original, &original);
  ASSERT_TRUE(c);
  const QualityLimits q;
  EXPECT_GT(c->run_delay, q.max_run_delay);
  EXPECT_GT(c->preemptions_per_s, q.max_preemptions_per_s);
}

}  // namespace
}  // namespace dfw
