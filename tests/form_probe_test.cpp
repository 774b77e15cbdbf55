// `--forms best` (form_probe.hpp): the probe picks the faster of two forms
// whatever their order, stops timing a form that cannot win, does not time a
// single candidate, and says what it measured; a bench sweep with --forms best
// records the picked form and the probe's note, and --resume keeps that row.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_case_util.hpp"
#include "bench_cases.hpp"
#include "form_probe.hpp"
#include "generator.hpp"
#include "child_run.hpp"
#include "results_row.hpp"
#include "temp_dir.hpp"

namespace dfw {
namespace {

using test::TempDir;

// A form whose run() sleeps a fixed time and counts its calls.
class SleepyPrepared final : public Prepared {
 public:
  SleepyPrepared(int ms, int* runs) : ms_(ms), runs_(runs) {}
  void run() override {
    ++*runs_;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms_));
  }
  Output output() const override { return {}; }

 private:
  int ms_;
  int* runs_;
};

class SleepyImpl final : public Impl {
 public:
  SleepyImpl(std::string form, int ms) : form_(std::move(form)), ms_(ms) {}
  FormKey key() const override { return {form_, "cpu", "fp32"}; }
  std::string unsupported_reason(const Variant&, Mode) const override { return ""; }
  std::unique_ptr<Prepared> prepare(const Variant&, const Problem&, const RunOptions&) const override {
    return std::make_unique<SleepyPrepared>(ms_, &runs);
  }
  mutable int runs = 0;

 private:
  std::string form_;
  int ms_;
};

BenchCase dfw_case() { return test::cpu_case("dfw", "best", BenchMode::prefill, Shape{1, 1, 8, 4, 4}); }

// The milliseconds the note gives a form ("..., slow 40.1 ms, ..."); -1 when absent.
double ms_in_note(const std::string& note, const std::string& form) {
  const auto at = note.find(form + " ");
  double ms = -1;
  if (at != std::string::npos) std::sscanf(note.c_str() + at + form.size() + 1, "%lf ms", &ms);
  return ms;
}

TEST(FormProbe, PicksTheFasterFormInEitherOrder) {
  const BenchCase c = dfw_case();
  const Problem p = generate_problem(c.variant, c.problem_shape(), {});
  for (const bool slow_first : {true, false}) {
    SleepyImpl slow("slow", 40), fast("fast", 2);
    const std::vector<const Impl*> order =
        slow_first ? std::vector<const Impl*>{&slow, &fast} : std::vector<const Impl*>{&fast, &slow};
    const ProbeResult r = probe_fastest_form(c, order, p, {});
    EXPECT_EQ(r.form, "fast");
    ASSERT_TRUE(r.prepared);
    EXPECT_EQ(r.note.rfind("best of ", 0), 0u) << r.note;
    EXPECT_GE(ms_in_note(r.note, "slow"), 40) << r.note;  // "slow 40.1 ms" (a sleep can overshoot)
    EXPECT_GE(ms_in_note(r.note, "fast"), 2) << r.note;
    EXPECT_LT(ms_in_note(r.note, "fast"), ms_in_note(r.note, "slow")) << r.note;
    EXPECT_NE(r.note.find("(probe "), std::string::npos) << r.note;
    // Warm-up + kProbeRuns for a form that may win; after a probe that has a much
    // faster form, the slow one stops after its first timed run.
    EXPECT_EQ(fast.runs, 1 + kProbeRuns);
    EXPECT_EQ(slow.runs, slow_first ? 1 + kProbeRuns : 2);
    // The bound of form_probe.hpp: (1 + kProbeRuns) x the sum of the run times, plus scheduling.
    EXPECT_LT(r.cost_s, (1 + kProbeRuns) * 0.042 + 0.5);
  }
}

TEST(FormProbe, ASingleCandidateIsNotTimed) {
  const BenchCase c = dfw_case();
  const Problem p = generate_problem(c.variant, c.problem_shape(), {});
  SleepyImpl only("decode", 1);
  const ProbeResult r = probe_fastest_form(c, {&only}, p, {});
  EXPECT_EQ(r.form, "decode");
  EXPECT_EQ(only.runs, 1);  // the warm-up only
  EXPECT_EQ(r.note, "best of decode (the only form)");
  EXPECT_THROW(probe_fastest_form(c, {}, p, {}), std::invalid_argument);
}

TEST(FormProbe, BenchRecordsThePickedFormAndResumeKeepsIt) {
  TempDir dir;
  const std::string args = "bench --backend cpu --variants dfw --forms best --seqlens 64 --batch 1 --heads 1 --dk 8 "
                           "--dv 8 --repetitions 2 --min-time 0.0005 --ceilings skip --out best --results-dir " +
                           dir.path();
  ASSERT_EQ(test::dfwbench_logged(args, dir / "log1"), 0) << test::read_file(dir / "log1");
  const auto rows = test::result_rows(dir / "best.csv");
  ASSERT_EQ(rows.size(), 1u);
  const ResultRow& r = rows[0];
  EXPECT_EQ(r.status, "ok");
  EXPECT_TRUE(r.form == "recurrent" || r.form == "chunked") << r.form;
  EXPECT_EQ(r.chunk, r.form == "chunked" ? 64 : 0);
  EXPECT_EQ(r.note.rfind("best of recurrent ", 0), 0u) << r.note;
  EXPECT_NE(r.note.find(", chunked "), std::string::npos) << r.note;
  EXPECT_EQ(r.key().find("dfw|rule=decay"), 0u);
  EXPECT_NE(r.key().find("|best|"), std::string::npos) << r.key();

  const std::string before = test::read_file(dir / "best.csv");
  ASSERT_EQ(test::dfwbench_logged(args + " --resume", dir / "log2"), 0) << test::read_file(dir / "log2");
  EXPECT_NE(test::read_file(dir / "log2").find("resume: 1 of 1 cases already"), std::string::npos)
      << test::read_file(dir / "log2");
  EXPECT_EQ(test::read_file(dir / "best.csv"), before);
}

}  // namespace
}  // namespace dfw
