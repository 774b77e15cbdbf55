// The CPU and GPU targets: their rows, their ratios and their verdicts (bench_targets.hpp).
#include "bench_targets.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "bench_cases.hpp"
#include "results_json.hpp"

namespace dfw {
namespace {

// How a target turns its rows into one number.
enum class Measure {
  time_ratio,            // t(rows[0]) / t(rows[1])
  bandwidth_fraction,    // GB/s of rows[0] / its copy ceiling
  flops_fraction,        // modelled GFLOP/s of rows[0] / its SGEMM ceiling
  floor_flops_fraction,  // 4 dv m FLOPs per token at t(rows[0]) / its SGEMM ceiling
  slowest_over_fastest,  // max t / min t over the rows
  chunked_bound,         // t(rows[0]) / time of 4 dv m FLOPs per token at its SGEMM ceiling
};

struct Target {
  std::string name;
  Measure measure;
  bool at_most;  // the limit is an upper one (<=); ignored for the bound
  double limit;
  std::vector<TargetRow> rows;
};

const Shape kDecode{32, 12, 0, 64, 64};  // T set per row
// The streaming decode case (StreamingDecodeShape): its batch is sized from the
// machine's last-level cache when the preset is built, so the target takes the
// row of any batch (kAnyBatch).
const Shape kDecodeStream{kAnyBatch, StreamingDecodeShape::H, StreamingDecodeShape::T, StreamingDecodeShape::d,
                          StreamingDecodeShape::d};
const Shape kPrefill{1, 12, 4096, 64, 64};
const Shape kPrefillWide{1, 16, 4096, 128, 128};
// The GPU targets' shapes (the GPU issue's): prefill B 8, H 16, T 16384, d = m = 128;
// decode B 256, H 16, d = m = 128 (a dfw decode step's time does not depend on T).
const Shape kGpuPrefill{8, 16, 16384, 128, 128};
const Shape kGpuDecode{256, 16, 128, 128, 128};

TargetRow decode_row(const std::string& variant, Shape shape, int64_t T = -1) {
  if (T >= 0) shape.T = T;
  return {variant, "decode", BenchMode::decode, shape, GateSet::uniform_init};
}

TargetRow prefill_row(const std::string& variant, const std::string& form, const Shape& shape,
                      GateSet gates = GateSet::uniform_init) {
  return {variant, form, BenchMode::prefill, shape, gates};
}

std::string gates_label(GateSet g) {
  return g == GateSet::tiny ? "gates tiny (subnormal products)" : std::string("gates ") + gate_set_name(g);
}

std::vector<Target> make_targets() {
  std::vector<Target> t;
  t.push_back({"dfw decode B32 H12 d64: t(T=16384) / t(T=128)", Measure::time_ratio, true, 1.2,
               {decode_row("dfw", kDecode, 16384), decode_row("dfw", kDecode, 128)}});
  t.push_back({"softmax decode B32 H12 d64: t(T=16384) / t(T=128)", Measure::time_ratio, false, 20,
               {decode_row("softmax", kDecode, 16384), decode_row("softmax", kDecode, 128)}});
  t.push_back({"dfw decode H16 d=m=128, state >= 4x LLC: fraction of copy bandwidth", Measure::bandwidth_fraction,
               false, 0.4, {decode_row("dfw", kDecodeStream)}});
  t.push_back({"dfw chunked prefill B1 H12 T4096 d64: 4 dv m FLOPs/token as a fraction of SGEMM",
               Measure::floor_flops_fraction, false, 0.3, {prefill_row("dfw", "chunked", kPrefill)}});
  for (const auto& [shape, label, limit] : {std::make_tuple(kPrefill, "B1 H12 T4096 d64", 1.0),
                                            std::make_tuple(kPrefillWide, "B1 H16 T4096 d128", 2.5)})
    for (GateSet g : {GateSet::uniform_init, GateSet::tiny}) {
      t.push_back({std::string("dfw prefill ") + label + ", " + gates_label(g) + ": t(recurrent) / t(chunked)",
                   Measure::time_ratio, false, limit,
                   {prefill_row("dfw", "recurrent", shape, g), prefill_row("dfw", "chunked", shape, g)}});
      if (g == GateSet::uniform_init)
        t.push_back({std::string("dfw prefill ") + label + ": the same for any chunked form, at most",
                     Measure::chunked_bound, false, 0, {prefill_row("dfw", "recurrent", shape, g)}});
    }
  t.push_back({"softmax blocked prefill B1 H12 T4096 d64: fraction of SGEMM rate", Measure::flops_fraction, false,
               0.6, {prefill_row("softmax", "blocked", kPrefill)}});
  for (const char* variant : {"dfw", "gated"}) {
    Target spread{std::string(variant) + " chunked prefill B1 H12 T4096 d64, gates uniform / tiny / mixed / ones: "
                  "t(slowest) / t(fastest)", Measure::slowest_over_fastest, true, 1.3, {}};
    for (GateSet g : {GateSet::uniform_init, GateSet::tiny, GateSet::mixed, GateSet::ones})
      spread.rows.push_back(prefill_row(variant, "chunked", kPrefill, g));
    t.push_back(std::move(spread));
  }
  return t;
}

TargetRow gpu_row(const std::string& variant, const std::string& form, BenchMode mode, const Shape& shape) {
  return {variant, form, mode, shape, GateSet::uniform_init, "cuda"};
}

std::vector<Target> make_gpu_targets() {
  std::vector<Target> t;
  const TargetRow chunked = gpu_row("dfw", "chunked", BenchMode::prefill, kGpuPrefill);
  const TargetRow recurrent = gpu_row("dfw", "recurrent", BenchMode::prefill, kGpuPrefill);
  t.push_back({"dfw chunked prefill B8 H16 T16384 d=m=128: modelled FLOP rate as a fraction of the in-run "
               "cuBLAS rate", Measure::flops_fraction, false, 0.25, {chunked}});
  t.push_back({"dfw prefill B8 H16 T16384 d=m=128: t(recurrent) / t(chunked)", Measure::time_ratio, false, 10,
               {recurrent, chunked}});
  t.push_back({"softmax flash prefill (blocked) B8 H16 T16384 d128: modelled FLOP rate as a fraction of the in-run "
               "cuBLAS rate", Measure::flops_fraction, false, 0.35,
               {gpu_row("softmax", "blocked", BenchMode::prefill, kGpuPrefill)}});
  t.push_back({"dfw decode B256 H16 d=m=128: fraction of the in-run copy bandwidth", Measure::bandwidth_fraction,
               false, 0.6, {gpu_row("dfw", "decode", BenchMode::decode, kGpuDecode)}});
  return t;
}

// The targets a preset judges: cpu-targets' or gpu-targets' (none for any other).
const std::vector<Target>& targets_of(const std::string& preset) {
  static const std::vector<Target> cpu = make_targets(), gpu = make_gpu_targets(), none;
  return preset == "cpu-targets" ? cpu : preset == "gpu-targets" ? gpu : none;
}

std::vector<PairedRatioSpec> make_paired_ratio_specs(const std::string& preset) {
  std::vector<PairedRatioSpec> out;
  if (preset == "training")
    for (const char* form : {"chunked", "recurrent"})
      out.push_back({std::string("dfw ") + form + " backward / " + form + " forward, B1 H12 T4096 d64",
                     {"dfw", form, BenchMode::backward, kPrefill, GateSet::uniform_init},
                     prefill_row("dfw", form, kPrefill)});
  if (preset == "cpu-targets" || preset == "gpu-targets")
    for (const Target& t : targets_of(preset)) {
      if (t.measure == Measure::time_ratio) out.push_back({t.name, t.rows[0], t.rows[1], t.name});
      if (t.measure == Measure::slowest_over_fastest)  // rows[0]: the uniform gates
        for (std::size_t i = 1; i < t.rows.size(); ++i)
          out.push_back({t.rows[i].variant + " " + t.rows[i].form + " prefill, gates " +
                             gate_set_name(t.rows[i].gates) + " / gates uniform",
                         t.rows[i], t.rows[0], t.name});
    }
  if (preset == "gpu-targets")  // information after the targets: dfwbench's flash kernel against NVIDIA's
    out.push_back({"softmax prefill B8 H16 T16384 d128: t(blocked) / t(cudnn)",
                   gpu_row("softmax", "blocked", BenchMode::prefill, kGpuPrefill),
                   gpu_row("softmax", "cudnn", BenchMode::prefill, kGpuPrefill), ""});
  return out;
}

bool same_row(const TargetRow& want, const ResultRow& r) {
  return r.backend == want.backend && r.variant == want.variant && r.form == want.form &&
         r.mode == bench_mode_name(want.mode) && (want.shape.B == kAnyBatch || r.B == want.shape.B) &&
         r.H == want.shape.H &&
         r.T == want.shape.T && r.dk == want.shape.dk && r.dv == want.shape.dv && r.gates == gate_set_name(want.gates);
}

std::string row_label(const TargetRow& w) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s %s %s B%lld H%lld T%lld d%lld gates %s", w.variant.c_str(), w.form.c_str(),
                bench_mode_name(w.mode), (long long)w.shape.B, (long long)w.shape.H, (long long)w.shape.T,
                (long long)w.shape.dk, gate_set_name(w.gates));
  return buf;
}

// 4 dv m FLOPs per token: the least any chunked form does (bench_targets.hpp).
double floor_flops(const ResultRow& r) { return 4.0 * double(r.dv) * double(r.m) * double(r.B * r.H * r.T); }

double measure(Measure m, const std::vector<const ResultRow*>& rows) {
  const ResultRow& a = *rows.front();
  const double seconds = a.time_median_ms / 1e3;
  switch (m) {
    case Measure::time_ratio: return a.time_median_ms / rows[1]->time_median_ms;
    case Measure::bandwidth_fraction: return a.gbps / a.ceiling_gbps;
    case Measure::flops_fraction: return a.gflops / a.ceiling_gflops;
    case Measure::floor_flops_fraction: return floor_flops(a) / seconds / 1e9 / a.ceiling_gflops;
    case Measure::slowest_over_fastest: {
      double lo = INFINITY, hi = 0;
      for (const ResultRow* r : rows) {
        lo = std::min(lo, r->time_median_ms);
        hi = std::max(hi, r->time_median_ms);
      }
      return hi / lo;
    }
    case Measure::chunked_bound: return seconds / (floor_flops(a) / (a.ceiling_gflops * 1e9));
  }
  return NAN;
}

bool holds(const Target& target, double value) {
  return target.at_most ? value <= target.limit : value >= target.limit;
}

// rows: this run's; earlier: rows kept by --resume from earlier runs, never read
// (their ceilings are another run's), only named when a target misses one.
TargetResult judge(const Target& target, const std::vector<ResultRow>& rows, const std::vector<ResultRow>& earlier) {
  TargetResult t;
  t.name = target.name;
  char rel[32];
  std::snprintf(rel, sizeof rel, "%s %g", target.at_most ? "<=" : ">=", target.limit);
  t.relation = target.measure == Measure::chunked_bound ? "bound" : rel;
  std::vector<const ResultRow*> found;
  std::string disturbed;
  for (const TargetRow& want : target.rows) {
    const auto it = std::find_if(rows.begin(), rows.end(),
                                 [&](const ResultRow& r) { return r.status == "ok" && same_row(want, r); });
    if (it == rows.end()) {
      const bool kept = std::any_of(earlier.begin(), earlier.end(), [&](const ResultRow& r) { return same_row(want, r); });
      t.why = (kept ? "not measured in this run: --resume kept row " + row_label(want) +
                          " from an earlier run, whose ceilings are not this run's"
                    : "not measured: no ok row " + row_label(want));
      return t;
    }
    if (!(it->time_median_ms > 0) || !std::isfinite(it->time_median_ms)) {
      t.why = "not measured: no valid time in row " + row_label(want);
      return t;
    }
    if (it->disturbed && disturbed.empty()) disturbed = row_label(want);
    found.push_back(&*it);
  }
  const double value = measure(target.measure, found);
  if (!std::isfinite(value) || !(value > 0)) {
    t.why = "not measured: the ratio is not a positive number (a zero or missing ceiling or time)";
    return t;
  }
  t.measured = value;
  if (!disturbed.empty()) {
    t.verdict = Verdict::inconclusive;
    t.why = "disturbed row " + disturbed + " (its note says why)";
  } else if (target.measure == Measure::chunked_bound) {
    t.verdict = Verdict::bound;
  } else {
    t.verdict = holds(target, value) ? Verdict::pass : Verdict::miss;
  }
  return t;
}

}  // namespace

std::vector<PairedRatioSpec> paired_ratio_specs(const std::string& preset) {
  return make_paired_ratio_specs(preset);
}

bool same_case(const TargetRow& want, const BenchCase& c) {
  const Shape& s = c.shape;  // as its results row names it (a decode case's T is its cache or context)
  return c.backend == want.backend && c.variant.name == want.variant && c.form == want.form && c.mode == want.mode &&
         (want.shape.B == kAnyBatch || s.B == want.shape.B) && s.H == want.shape.H && s.T == want.shape.T &&
         s.dk == want.shape.dk && s.dv == want.shape.dv && c.gates == want.gates;
}

std::vector<TargetRow> cpu_target_rows() { return target_rows("cpu-targets"); }
std::vector<TargetRow> gpu_target_rows() { return target_rows("gpu-targets"); }

std::vector<TargetRow> target_rows(const std::string& preset) {
  std::vector<TargetRow> out;
  for (const Target& t : targets_of(preset))
    for (const TargetRow& r : t.rows)
      if (std::none_of(out.begin(), out.end(), [&](const TargetRow& o) { return row_label(o) == row_label(r); }))
        out.push_back(r);
  return out;
}

const char* verdict_text(Verdict v) {
  switch (v) {
    case Verdict::pass: return "PASS";
    case Verdict::miss: return "MISS";
    case Verdict::missing: return "MISSING";
    case Verdict::inconclusive: return "inconclusive (disturbed run)";
    case Verdict::bound: return "bound";
  }
  return "?";
}

std::vector<TargetResult> evaluate_targets(const std::string& preset, const std::vector<ResultRow>& rows) {
  std::vector<TargetResult> out;
  for (const Target& t : targets_of(preset)) out.push_back(judge(t, rows, {}));
  return out;
}

std::vector<TargetResult> evaluate_targets(const std::string& preset, const std::vector<ResultRow>& rows,
                                           const std::vector<std::string>& run_keys) {
  std::vector<ResultRow> mine, earlier;
  for (const ResultRow& r : rows)
    (std::find(run_keys.begin(), run_keys.end(), r.key()) != run_keys.end() ? mine : earlier).push_back(r);
  std::vector<TargetResult> out;
  for (const Target& t : targets_of(preset)) out.push_back(judge(t, mine, earlier));
  return out;
}

std::vector<TargetResult> evaluate_cpu_targets(const std::vector<ResultRow>& rows) {
  return evaluate_targets("cpu-targets", rows);
}

std::vector<TargetResult> evaluate_cpu_targets(const std::vector<ResultRow>& rows,
                                               const std::vector<std::string>& run_keys) {
  return evaluate_targets("cpu-targets", rows, run_keys);
}

void judge_from_pairs(std::vector<TargetResult>& results, const std::vector<PairedRatio>& pairs, double max_spread,
                      const std::string& preset) {
  const std::vector<Target>& targets = targets_of(preset);
  const std::vector<PairedRatioSpec> specs = make_paired_ratio_specs(preset);
  for (std::size_t i = 0; i < targets.size() && i < results.size(); ++i) {
    const Target& target = targets[i];
    std::vector<const PairedRatio*> mine;
    bool complete = true;
    for (const PairedRatioSpec& spec : specs) {
      if (spec.target != target.name) continue;
      const auto it = std::find_if(pairs.begin(), pairs.end(),
                                   [&](const PairedRatio& p) { return p.name == spec.name && p.status == "ok"; });
      if (it == pairs.end() || !(it->median > 0) || !std::isfinite(it->median)) complete = false;
      else mine.push_back(&*it);
    }
    if (mine.empty() || !complete) continue;
    double value = mine.front()->median;
    if (target.measure == Measure::slowest_over_fastest) {
      double lo = 1, hi = 1;  // the uniform gates' own ratio
      for (const PairedRatio* p : mine) {
        lo = std::min(lo, p->median);
        hi = std::max(hi, p->median);
      }
      value = hi / lo;
    }
    TargetResult& t = results[i];
    t.row_measured = t.found() ? t.measured : 0;
    t.measured = value;
    t.in_pairs = true;
    t.why.clear();
    t.verdict = holds(target, value) ? Verdict::pass : Verdict::miss;
    for (const PairedRatio* p : mine)
      if (!(p->p20 > 0) || p->p80 / p->p20 > max_spread) {
        char why[400];
        std::snprintf(why, sizeof why, "the pairs of '%s' spread p80/p20 = %.3g > %.3g", p->name.c_str(),
                      p->p20 > 0 ? p->p80 / p->p20 : INFINITY, max_spread);
        t.verdict = Verdict::inconclusive;
        t.why = why;
        break;
      }
  }
}

std::string format_targets(const std::vector<TargetResult>& targets) {
  std::string out;
  char line[512];
  for (const auto& t : targets) {
    if (t.verdict == Verdict::bound)
      std::snprintf(line, sizeof line, "  %-100s %8.3f  (upper bound, not a target)\n", t.name.c_str(), t.measured);
    else if (t.verdict == Verdict::missing)
      std::snprintf(line, sizeof line, "  %-100s %8s  (%s)  MISSING (%s)\n", t.name.c_str(), "-", t.relation.c_str(),
                    t.why.c_str());
    else
      std::snprintf(line, sizeof line, "  %-100s %8.3f  (%s)  %s%s\n", t.name.c_str(), t.measured, t.relation.c_str(),
                    verdict_text(t.verdict), t.in_pairs ? "  [in pairs]" : "");
    out += line;
    if (t.verdict == Verdict::inconclusive) out += "      " + t.why + "\n";
  }
  return out;
}

std::string targets_json(const std::vector<TargetResult>& targets) {
  std::string out = "[";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const TargetResult& t = targets[i];
    JsonObject o;
    o.add("name", t.name).add("relation", t.relation).add("found", t.found());
    if (t.found()) o.add("measured", t.measured);
    o.add("result", verdict_text(t.verdict));
    o.add("disturbed", t.verdict == Verdict::inconclusive);
    o.add("measured_in", t.in_pairs ? "pairs" : "rows");
    if (t.in_pairs && t.row_measured > 0) o.add("row_measured", t.row_measured);
    if (!t.why.empty()) o.add("why", t.why);
    out += (i ? ", " : "") + o.str();
  }
  return out + "]";
}

}  // namespace dfw
