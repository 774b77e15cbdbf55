// `--forms best`: a short probe that times every supported form of a case on the
// case's own inputs and keeps the fastest, instead of a fixed rule. Each
// candidate is prepared, run once untimed, then timed up to kProbeRuns times
// (a candidate already 2x slower than the best after a timed run stops there);
// its time is the least of its runs. The winner's Prepared, already warm, is
// what the case is then timed with, so the probe costs the other candidates'
// runs plus the winner's few: at most (1 + kProbeRuns) x the sum of the
// candidates' run times and their prepares. A single candidate is not timed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "impl.hpp"

namespace dfw {

constexpr int kProbeRuns = 3;

struct ProbeResult {
  std::string form;                     // the fastest candidate
  std::unique_ptr<Prepared> prepared;   // its Prepared, warmed up
  std::string note;                     // "best of recurrent 5.18 ms, chunked 40.9 ms (probe 0.21 s)"
  double cost_s = 0;                    // wall time of the probe, prepares included
};

// Prepares and times each candidate implementation on problem p (variant from c,
// mode and chunk from opts). Throws std::invalid_argument when there is none; a
// candidate's own failure (out of memory included) propagates.
ProbeResult probe_fastest_form(const BenchCase& c, const std::vector<const Impl*>& candidates, const Problem& p,
                               const RunOptions& opts);

}  // namespace dfw
