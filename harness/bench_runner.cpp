// time_case: one case through Google Benchmark with manual time (bench_runner.hpp).
#include "bench_runner.hpp"

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <new>
#include <stdexcept>

#include "backward_impl.hpp"
#include "form_probe.hpp"
#include "contention.hpp"
#include "generator.hpp"
#include "memory_tracker.hpp"
#include "nvtx.hpp"

namespace dfw {
namespace {

double p20_statistic(const std::vector<double>& v) { return quantile(v, 0.2); }
double p80_statistic(const std::vector<double>& v) { return quantile(v, 0.8); }

// Keeps every run Google Benchmark reports, as RunEntry values.
class CollectingReporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      CaseTiming::RunEntry e;
      e.name = r.benchmark_name();
      e.run_name = r.run_name.str();
      e.run_type = r.run_type == Run::RT_Aggregate ? "aggregate" : "iteration";
      if (r.run_type == Run::RT_Aggregate) {
        e.aggregate_name = r.aggregate_name;
        e.aggregate_unit = r.aggregate_unit == benchmark::kPercentage ? "percentage" : "time";
      }
      e.repetitions = r.repetitions;
      e.repetition_index = r.repetition_index;
      e.threads = r.threads;
      e.iterations = r.iterations;
      e.real_time_ms = r.GetAdjustedRealTime();
      e.cpu_time_ms = r.GetAdjustedCPUTime();
      e.error_occurred = r.error_occurred;
      e.error_message = r.error_message;
      runs_.push_back(std::move(e));
    }
  }
  std::vector<CaseTiming::RunEntry>& runs() { return runs_; }

 private:
  std::vector<CaseTiming::RunEntry> runs_;
};

CaseTiming failed(const std::string& status, const std::string& message) {
  CaseTiming t;
  t.status = status;
  t.message = message;
  return t;
}

// Registers the case, runs it, and clears the registry again.
void run_with_google_benchmark(const BenchCase& c, const TimingOptions& opts, Prepared& prepared, CaseTiming& out) {
  std::string failure_status, failure_message;
  auto body = [&](benchmark::State& state) {
    for (auto _ : state) {
      try {
        state.SetIterationTime(prepared.timed_run_ms() / 1e3);
      } catch (const OutOfMemory& e) {
        failure_status = "oom";
        failure_message = e.what();
      } catch (const std::bad_alloc&) {
        failure_status = "oom";
        failure_message = "out of memory during run";
      } catch (const std::exception& e) {
        failure_status = "error";
        failure_message = e.what();
      }
      if (!failure_status.empty()) {
        state.SkipWithError(failure_message.c_str());
        break;
      }
    }
  };
  benchmark::ClearRegisteredBenchmarks();
  benchmark::RegisterBenchmark(c.benchmark_name().c_str(), body)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Repetitions(opts.repetitions)
      ->MinTime(opts.min_time_s)
      ->ComputeStatistics("p20", p20_statistic)
      ->ComputeStatistics("p80", p80_statistic);
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::ClearRegisteredBenchmarks();

  out.runs = std::move(reporter.runs());
  if (!failure_status.empty()) {
    out.status = failure_status;
    out.message = failure_message;
    return;
  }
  for (const auto& r : out.runs)
    if (r.run_type == "iteration" && !r.error_occurred) out.repetition_ms.push_back(r.real_time_ms);
  if (out.repetition_ms.empty()) {
    out.status = "error";
    out.message = "Google Benchmark reported no repetition";
    return;
  }
  out.median_ms = quantile(out.repetition_ms, 0.5);
  out.p20_ms = quantile(out.repetition_ms, 0.2);
  out.p80_ms = quantile(out.repetition_ms, 0.8);
}

// A backward case as the timing loop sees it: run() = the forward form's run
// (fwdbwd only), then the backward form's (which recomputes what it needs of the
// forward from the inputs); a timed run is the sum of the two on their backend's
// clock (on a GPU each starts from a flushed L2). Owns dy, the loss gradient
// (B, H, T, dv), seeded normal.
class BackwardCase final : public Prepared {
 public:
  BackwardCase(const BenchCase& c, const Problem& p, const RunOptions& opts, uint64_t seed) {
    const BackwardImpl* bwd = find_backward_impl(c.form, c.backend, c.dtype);
    dy_ = generate_dy(p, seed);
    if (c.mode == BenchMode::training) forward_ = find_impl(c.form, c.backend, c.dtype)->prepare(c.variant, p, opts);
    backward_ = bwd->prepare(c.variant, p, dy_, opts);
  }
  void run() override {
    if (forward_) {
      forward_->run();
      forward_->synchronize();
    }
    backward_->run();
  }
  void synchronize() override { backward_->synchronize(); }
  double timed_run_ms() override { return (forward_ ? forward_->timed_run_ms() : 0.0) + backward_->timed_run_ms(); }
  Output output() const override { return forward_ ? forward_->output() : Output{}; }

 private:
  std::vector<float> dy_;
  std::unique_ptr<Prepared> forward_;
  std::unique_ptr<PreparedBackward> backward_;
};

// Empty when the backward case can run; otherwise why not.
std::string backward_unsupported(const BenchCase& c) {
  if (c.form == "best") return "form best picks among forward forms only; name the backward form";
  const BackwardImpl* bwd = find_backward_impl(c.form, c.backend, c.dtype);
  if (!bwd) return "no " + c.form + "/" + c.backend + "/" + c.dtype + " backward form in this build";
  if (std::string why = bwd->unsupported_reason(c.variant); !why.empty()) return why;
  if (c.mode == BenchMode::training) {
    const Impl* fwd = find_impl(c.form, c.backend, c.dtype);
    if (!fwd) return "no " + c.form + "/" + c.backend + "/" + c.dtype + " forward form in this build";
    return fwd->unsupported_reason(c.variant, Mode::sequence);
  }
  return "";
}

}  // namespace

std::string named_form_unsupported(const BenchCase& c) {
  if (!c.variant.defined()) return c.variant.undefined_reason;
  if (is_backward(c.mode)) return backward_unsupported(c);
  const Impl* impl = find_impl(c.form, c.backend, c.dtype);
  if (!impl) return "no " + c.form + "/" + c.backend + "/" + c.dtype + " implementation in this build";
  return impl->unsupported_reason(c.variant, run_mode(c.mode));
}

std::unique_ptr<Problem> generate_case_problem(const BenchCase& c, const TimingOptions& opts) {
  GeneratorOptions gen;
  gen.seed = opts.seed;
  gen.with_initial_state = c.mode == BenchMode::decode && c.variant.rule->stateful();
  gen.gates = c.gates;
  harness::NvtxRange range("generate");
  return std::make_unique<Problem>(generate_problem(c.variant, c.problem_shape(), gen));
}

RunOptions case_run_options(const BenchCase& c) {
  RunOptions o;
  o.mode = run_mode(c.mode);
  o.chunk = c.chunk > 0 ? c.chunk : o.chunk;
  return o;
}

std::unique_ptr<Prepared> prepare_named_form(const BenchCase& c, const Problem& problem, const TimingOptions& opts) {
  harness::NvtxRange range("prepare");
  if (is_backward(c.mode)) return std::make_unique<BackwardCase>(c, problem, case_run_options(c), opts.seed);
  return find_impl(c.form, c.backend, c.dtype)->prepare(c.variant, problem, case_run_options(c));
}

namespace {

CaseTiming time_prepared_case(const BenchCase& c, const TimingOptions& opts, const Retiming& retiming) {
  const bool best = c.form == "best";
  if (!best)
    if (const std::string why = named_form_unsupported(c); !why.empty()) return failed("unsupported", why);
  if (best && !c.variant.defined()) return failed("unsupported", c.variant.undefined_reason);
  std::vector<const Impl*> candidates;  // form best: every supported form, for the probe
  if (best)
    for (const std::string& form : best_candidates(c.variant, c.mode, c.backend, c.dtype))
      candidates.push_back(find_impl(form, c.backend, c.dtype));
  if (best && candidates.empty())
    return failed("unsupported", "no " + c.backend + "/" + c.dtype + " form supports this variant");
  const std::unique_ptr<Problem> problem = generate_case_problem(c, opts);

  CaseTiming out;
  out.form = c.form;
  MemoryTracker::host().reset_peak();
  MemoryTracker::device().reset_peak();
  std::unique_ptr<Prepared> prepared;
  if (best) {
    harness::NvtxRange range("probe");
    ProbeResult probe = probe_fastest_form(c, candidates, *problem, case_run_options(c));
    prepared = std::move(probe.prepared);
    out.form = probe.form;
    out.note = probe.note;
    MemoryTracker::host().reset_peak();  // the row's peak is the picked form's, not the probe's
    MemoryTracker::device().reset_peak();
  } else {
    prepared = prepare_named_form(c, *problem, opts);
  }
  {
    harness::NvtxRange range("warm-up");
    for (int i = best ? 1 : 0; i < opts.warmup_runs; ++i) {  // the probe has run the winner once at least
      prepared->run();
      prepared->synchronize();
    }
  }
  {
    harness::NvtxRange range("timing");
    BenchCase timed = c;  // named after the form it runs
    timed.form = out.form;
    timed.chunk = out.form == "chunked" ? c.chunk : 0;
    for (;;) {
      out.runs.clear();
      out.repetition_ms.clear();
      const ContentionWindow contention;
      run_with_google_benchmark(timed, opts, *prepared, out);
      if (c.backend == "cpu") out.contention = contention.measure(omp_get_max_threads());
      ++out.attempts;
      if (out.status != "ok" || !retiming.disturbance) break;
      const std::string why = retiming.disturbance(out);
      if (why.empty()) break;
      out.disturbances.push_back(why);
      if (out.attempts >= retiming.attempts) break;
      std::cerr << "  disturbed (" << why << "): timing again" << std::endl;
    }
  }
  out.peak_host_bytes = double(MemoryTracker::host().peak());
  out.peak_device_bytes = double(MemoryTracker::device().peak());
  return out;
}

}  // namespace

double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = std::clamp(q, 0.0, 1.0) * double(values.size() - 1);
  const std::size_t lo = std::size_t(pos);
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - double(lo)) * (values[hi] - values[lo]);
}

CaseTiming time_case(const BenchCase& c, const TimingOptions& opts, const Retiming& retiming) {
  harness::NvtxRange range("case " + c.label());
  try {
    return time_prepared_case(c, opts, retiming);
  } catch (const OutOfMemory& e) {
    return failed("oom", e.what());
  } catch (const std::bad_alloc&) {
    return failed("oom", "out of host memory");
  } catch (const std::exception& e) {
    return failed("error", e.what());
  }
}

}  // namespace dfw
