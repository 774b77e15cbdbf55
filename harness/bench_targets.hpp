// The performance targets of the `cpu-targets` and `gpu-targets` presets: the one definition of
// each target, of the rows it reads (the preset runs exactly those rows) and of
// its verdict from the rows of one run (ratios measured in the same run, against
// the same run's ceilings). d = dk = dv = m throughout.
//   1. dfw decode (B 32, H 12, d 64): t(T = 16384) / t(T = 128) <= 1.2
//   2. softmax decode, same shape: t(T = 16384) / t(T = 128) >= 20
//   3. dfw decode (H 16, d = m = 128, B sized so the state is >= 4x the LLC:
//      StreamingDecodeShape): >= 40% of copy bandwidth
//   4. dfw chunked prefill (B 1, H 12, T 4096, d 64): >= 30% of the SGEMM rate,
//      counting the floor of 4 dv m FLOPs per token (below), not the modelled
//      FLOPs that grow with the chunk length
//   5. dfw prefill, same shape: t(recurrent) / t(chunked) >= 1.0, with the
//      uniform gates and with the `tiny` gates (the set whose running gate
//      products pass below FLT_MIN in every 64-token chunk: 1e-6^7 = 1e-42)
//   6. the same at B 1, H 16, T 4096, d 128: >= 2.5, both gate sets
//   7. softmax blocked prefill (B 1, H 12, T 4096, d 64): >= 60% of the SGEMM rate
//   8. dfw chunked and gated chunked prefill (B 1, H 12, T 4096, d 64) over the gate
//      sets uniform, tiny, mixed, ones: t(slowest set) / t(fastest set) <= 1.3
// The GPU targets of the `gpu-targets` preset (cuda, bf16; needs a CUDA device):
//   G1. dfw chunked prefill (B 8, H 16, T 16384, d = m = 128): the cost model's FLOPs
//       at the measured time >= 25% of the in-run cuBLAS GEMM rate (bf16)
//   G2. dfw prefill, same shape: t(recurrent) / t(chunked) >= 10
//   G3. softmax flash prefill (form blocked), same shape: >= 35% of that rate
//   G4. dfw decode (B 256, H 16, d = m = 128): >= 60% of the in-run copy bandwidth
// and, for the CPU, one bound beside targets 5 and 6 (information, not a target): how much faster than
// the recurrent form ANY chunked form could be on this machine. A chunked form
// reads every token's output from the state carried into its chunk and adds every
// token into the state carried out, 2 dv m FLOPs each, so it does at least
// 4 dv m FLOPs per token; at the in-run SGEMM rate that takes
// t_min = 4 dv m B H T / SGEMM, and the bound is t(recurrent) / t_min.
//
// Verdicts: PASS or MISS only from rows that are all present, ok and not
// disturbed (run_quality.hpp); "inconclusive (disturbed run)" when a row it needs
// is disturbed; MISSING ("not measured") when a row is absent or not ok, or when
// the ratio is not a finite number (a zero or NaN time or ceiling).
#pragma once

#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "generator.hpp"
#include "paired_ratio.hpp"
#include "results_row.hpp"
#include "shape.hpp"

namespace dfw {

// A target row's batch that matches a row of any batch (the streaming decode
// case, whose batch is sized from the machine).
constexpr int64_t kAnyBatch = 0;

// One row a target reads: a case of the preset's backend and dtype (cpu-targets: cpu,
// fp32; gpu-targets: cuda, bf16).
struct TargetRow {
  std::string variant, form;  // preset name, form
  BenchMode mode;
  Shape shape;
  GateSet gates = GateSet::uniform_init;
  std::string backend = "cpu";
};

// Every row a preset's targets read, each once, in target order (none for a preset
// without targets); cpu_target_rows() = target_rows("cpu-targets"), gpu_ the same.
std::vector<TargetRow> target_rows(const std::string& preset);
std::vector<TargetRow> cpu_target_rows();
std::vector<TargetRow> gpu_target_rows();

enum class Verdict { pass, miss, missing, inconclusive, bound };
const char* verdict_text(Verdict v);  // PASS, MISS, MISSING, inconclusive (disturbed run), bound

struct TargetResult {
  std::string name;      // what is measured
  std::string relation;  // "<= 1.2", ">= 0.4", "bound"
  double measured = 0;   // the ratio (0 when missing)
  Verdict verdict = Verdict::missing;
  std::string why;  // for missing / inconclusive: which row, what was wrong
  bool in_pairs = false;   // measured and judged from the run's paired ratios (judge_from_pairs)
  double row_measured = 0;  // then: the value the rows gave (0 when they gave none)
  // A measured value exists (every row present, ok, with a valid time).
  bool found() const { return verdict != Verdict::missing; }
};

// A preset's verdicts from results rows (cpu-targets, gpu-targets; none for another).
std::vector<TargetResult> evaluate_targets(const std::string& preset, const std::vector<ResultRow>& rows);
std::vector<TargetResult> evaluate_targets(const std::string& preset, const std::vector<ResultRow>& rows,
                                           const std::vector<std::string>& run_keys);
std::vector<TargetResult> evaluate_cpu_targets(const std::vector<ResultRow>& rows);
// The same from the rows of one run only (run_keys: the case keys it timed): a
// row --resume kept from an earlier run was timed against that run's ceilings, so
// a target reading one is MISSING, its why naming the row.
std::vector<TargetResult> evaluate_cpu_targets(const std::vector<ResultRow>& rows,
                                               const std::vector<std::string>& run_keys);
// Ratios a preset's run measures again in pairs at its end (paired_ratio.hpp), both
// cases timed alternately, so drift during the run cannot move the ratio:
//   training:    dfw backward / forward at B 1, H 12, T 4096, d 64, chunked (the
//                backward issue's target: <= 3) and recurrent (information);
//   cpu-targets: every time-ratio target (1, 2, 5, 6: its two rows) and each gate-set
//                spread (8: every other set against the uniform gates);
//   gpu-targets: its time-ratio target (2), and softmax prefill blocked / cudnn
//                (information: dfwbench's flash kernel against cuDNN's).
// A case matches a spec row as same_row matches a results row.
struct PairedRatioSpec {
  std::string name;
  TargetRow numerator, denominator;
  std::string target;  // the cpu-targets target it measures, or "" (information)
};
std::vector<PairedRatioSpec> paired_ratio_specs(const std::string& preset);
bool same_case(const TargetRow& want, const BenchCase& c);

// The cpu-targets verdicts of the time-ratio targets again, from the ratios measured
// in pairs (name as paired_ratio_specs names them): a target whose every spec came
// back ok is measured from them (a spread as max / min of 1 and each set's ratio to
// the uniform gates), its rows' value kept as row_measured; PASS or MISS, or
// inconclusive when a spec's p20..p80 spread exceeds max_spread (the machine changed
// within the pairs). A target without all its pairs keeps the rows' verdict.
void judge_from_pairs(std::vector<TargetResult>& targets, const std::vector<PairedRatio>& pairs, double max_spread,
                      const std::string& preset = "cpu-targets");

// One line per target: name, measured ratio, limit, verdict (and why).
std::string format_targets(const std::vector<TargetResult>& targets);
// The targets as a JSON array (for the results file's context): name, relation,
// found, measured (when found), result (verdict_text), disturbed (a row it read
// was), why (when not empty).
std::string targets_json(const std::vector<TargetResult>& targets);

}  // namespace dfw
