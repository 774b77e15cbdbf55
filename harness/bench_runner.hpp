// Times one BenchCase through Google Benchmark: generate the inputs, prepare the
// form (tracked memory peak reset first; form "best": probe the candidates and
// keep the fastest, form_probe.hpp), warm up, then one registered benchmark
// with manual time, each iteration one Prepared::timed_run_ms(), repeated
// `repetitions` times; median, p20 and p80 over the repetitions. A timing judged
// disturbed is made again on the same inputs and prepared form (Retiming).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "contention.hpp"
#include "impl.hpp"
#include "problem.hpp"

namespace dfw {

struct TimingOptions {
  int repetitions = 5;     // Google Benchmark repetitions (each one a sample)
  double min_time_s = 0.05;  // minimum time per repetition (more iterations when a run is short)
  int warmup_runs = 1;     // untimed runs after prepare
  uint64_t seed = 1234;    // input generator seed
};

struct CaseTiming {
  std::string status = "ok";  // ok | oom | unsupported | error
  std::string message;        // why, when not ok
  std::string form;           // the form timed (for form "best": the one the probe picked)
  std::string note;           // form "best": the probe's times (form_probe.hpp)
  std::vector<double> repetition_ms;  // per-iteration time of each repetition
  double median_ms = 0, p20_ms = 0, p80_ms = 0;
  double peak_host_bytes = 0, peak_device_bytes = 0;
  // CPU: competing work during the timed repetitions (contention.hpp); nullopt
  // on the GPU or when the kernel does not report it.
  std::optional<Contention> contention;
  int attempts = 0;                       // timings made (the last one is reported)
  std::vector<std::string> disturbances;  // why each disturbed timing was, in order
  // Google Benchmark's runs (per repetition, then aggregates) in its JSON entry
  // fields, one object per run, without the case's own fields (see bench_command).
  struct RunEntry {
    std::string name, run_name, run_type, aggregate_name, aggregate_unit;
    int64_t repetitions = 0, repetition_index = 0, threads = 1, iterations = 0;
    double real_time_ms = 0, cpu_time_ms = 0;
    bool error_occurred = false;
    std::string error_message;
  };
  std::vector<RunEntry> runs;
};

// Linear-interpolated quantile q in [0, 1] of the values (0 when empty); the
// same function feeds Google Benchmark's p20 / p80 statistics and the CSV.
double quantile(std::vector<double> values, double q);

// When to time a case again: while `disturbance` names a reason ("" = trusted)
// and fewer than `attempts` timings have been made. Default: one timing.
struct Retiming {
  int attempts = 1;
  std::function<std::string(const CaseTiming&)> disturbance;
};

// Never throws for a failing case: OOM (dfw::OutOfMemory, std::bad_alloc) and
// other exceptions come back as a status with the message.
CaseTiming time_case(const BenchCase& c, const TimingOptions& opts, const Retiming& retiming = {});

// The steps of time_case for a case with a named form (not "best"), for callers that
// time prepared cases themselves (paired_ratio.hpp): why it cannot run ("" when it
// can), its seeded inputs, and the form prepared on them (for a backward case, the
// forward form if a training step, the backward form and dy); the problem must
// outlive the prepared form.
std::string named_form_unsupported(const BenchCase& c);
std::unique_ptr<Problem> generate_case_problem(const BenchCase& c, const TimingOptions& opts);
RunOptions case_run_options(const BenchCase& c);
std::unique_ptr<Prepared> prepare_named_form(const BenchCase& c, const Problem& problem, const TimingOptions& opts);

}  // namespace dfw
