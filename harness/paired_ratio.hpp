// The ratio of two cases' times measured in pairs: both cases prepared once, then
// timed alternately (A B, B A, A B, ...) and each pair's ratio taken, so what
// changes on the machine during the run (another tenant's load, a clock) moves
// both sides of every pair alike. The median of the pairs' ratios and its spread.
// A ratio a target reads from two rows timed minutes apart can move by 30% on a
// shared machine; the paired one is what the training target is judged by.
#pragma once

#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "bench_runner.hpp"

namespace dfw {

struct PairedRatio {
  std::string name;          // what the ratio is, e.g. "dfw chunked bwd / chunked fwd ..."
  std::string status = "ok";  // ok | unsupported | oom | error
  std::string message;        // why, when not ok
  int pairs = 0;
  double median = 0, p20 = 0, p80 = 0;  // of the pairs' ratios t(numerator) / t(denominator)
  double numerator_ms = 0, denominator_ms = 0;  // the median time of each side over the pairs
};

// `pairs` pairs; each side's timing in a pair is as many runs as make it last
// opts.min_time_s (at least one), after opts.warmup_runs untimed runs of each.
// Never throws: a case that cannot run or runs out of memory comes back as a status.
PairedRatio measure_paired_ratio(const std::string& name, const BenchCase& numerator, const BenchCase& denominator,
                                 const TimingOptions& opts, int pairs);

// {"name": ..., "status": ..., "pairs": N, "median": x, "p20": x, "p80": x, ...}, as a JSON array.
std::string paired_ratios_json(const std::vector<PairedRatio>& ratios);

}  // namespace dfw
