// The CPU performance targets of the `cpu-targets` preset, judged from the rows of
// one run (ratios measured in the same run, against the same run's ceilings):
//   1. dfw decode (B 32, H 12, d = m = 64): t(T = 16384) / t(T = 128) <= 1.2
//   2. softmax decode, same shape: t(T = 16384) / t(T = 128) >= 20
//   3. dfw decode (H 16, d = m = 128, B sized so the state is >= 4x the LLC:
//      StreamingDecodeShape): >= 40% of copy bandwidth
//   4. dfw chunked prefill (B 1, H 12, T 4096, d = m = 64): >= 30% of the SGEMM rate
//   5. the same, chunked >= 3x faster than recurrent
//   6. softmax blocked prefill, same shape: >= 30% of the SGEMM rate
// and one bound beside target 5 (information, not a target): how much faster than
// the recurrent form ANY chunked form could be on this machine. A chunked form
// reads every token's output from the state carried into its chunk and adds every
// token into the state carried out, 2 dv m FLOPs each, so it does at least
// 4 dv m FLOPs per token; at the in-run SGEMM rate that takes
// t_min = 4 dv m B H T / SGEMM, and the bound is t(recurrent) / t_min.
#pragma once

#include <string>
#include <vector>

#include "results_row.hpp"

namespace dfw {

struct TargetResult {
  std::string name;      // what is measured
  std::string relation;  // "<= 1.2", ">= 0.4", ...
  double measured = 0;   // the ratio (0 when missing)
  bool found = false;    // every row it needs is present with status ok
  bool pass = false;
  bool bound = false;    // information (an upper bound), judged against nothing
};

std::vector<TargetResult> evaluate_cpu_targets(const std::vector<ResultRow>& rows);
// One line per target: name, measured ratio, limit, PASS / MISS / MISSING.
std::string format_targets(const std::vector<TargetResult>& targets);
// The targets as a JSON array (for the results file's context).
std::string targets_json(const std::vector<TargetResult>& targets);

}  // namespace dfw
