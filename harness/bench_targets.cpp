// evaluate_cpu_targets: finds the target rows and computes the ratios (bench_targets.hpp).
#include "bench_targets.hpp"

#include <cstdio>
#include <functional>

#include "bench_cases.hpp"
#include "results_json.hpp"

namespace dfw {
namespace {

constexpr int64_t kAnyBatch = 0;  // the streaming case's batch is sized from the machine

const ResultRow* find_row(const std::vector<ResultRow>& rows, const std::string& variant, const std::string& form,
                          const std::string& mode, int64_t B, int64_t H, int64_t T, int64_t d) {
  for (const auto& r : rows)
    if (r.status == "ok" && r.backend == "cpu" && r.variant == variant && r.form == form && r.mode == mode &&
        (B == kAnyBatch || r.B == B) && r.H == H && r.T == T && r.dk == d && r.dv == d)
      return &r;
  return nullptr;
}

TargetResult judge(const std::string& name, bool at_most, double limit, const ResultRow* a, const ResultRow* b,
                   const std::function<double(const ResultRow&, const ResultRow&)>& ratio) {
  TargetResult t;
  t.name = name;
  char rel[32];
  std::snprintf(rel, sizeof rel, "%s %g", at_most ? "<=" : ">=", limit);
  t.relation = rel;
  t.found = a && b;
  if (!t.found) return t;
  t.measured = ratio(*a, *b);
  t.pass = at_most ? t.measured <= limit : t.measured >= limit;
  return t;
}

// Upper bound on t(recurrent) / t(chunked) for any chunked form (bench_targets.hpp).
TargetResult chunked_bound(const ResultRow* recurrent) {
  TargetResult t;
  t.name = "dfw prefill B1 H12 T4096: the same for any chunked form, at most";
  t.relation = "bound";
  t.bound = true;
  t.found = recurrent && recurrent->ceiling_gflops > 0;
  if (!t.found) return t;
  const ResultRow& r = *recurrent;
  const double min_flops = 4.0 * double(r.dv) * double(r.m) * double(r.B * r.H * r.T);
  const double min_ms = min_flops / (r.ceiling_gflops * 1e9) * 1e3;
  t.measured = r.time_median_ms / min_ms;
  return t;
}

}  // namespace

std::vector<TargetResult> evaluate_cpu_targets(const std::vector<ResultRow>& rows) {
  std::vector<TargetResult> out;
  auto time_ratio = [](const ResultRow& a, const ResultRow& b) { return a.time_median_ms / b.time_median_ms; };
  auto bw_fraction = [](const ResultRow& a, const ResultRow&) { return a.frac_bw_ceiling; };
  auto flops_fraction = [](const ResultRow& a, const ResultRow&) { return a.frac_flops_ceiling; };

  const ResultRow* dfw_long = find_row(rows, "dfw", "decode", "decode", 32, 12, 16384, 64);
  const ResultRow* dfw_short = find_row(rows, "dfw", "decode", "decode", 32, 12, 128, 64);
  out.push_back(judge("dfw decode B32 H12 d64: t(T=16384) / t(T=128)", true, 1.2, dfw_long, dfw_short, time_ratio));
  const ResultRow* sm_long = find_row(rows, "softmax", "decode", "decode", 32, 12, 16384, 64);
  const ResultRow* sm_short = find_row(rows, "softmax", "decode", "decode", 32, 12, 128, 64);
  out.push_back(judge("softmax decode B32 H12 d64: t(T=16384) / t(T=128)", false, 20, sm_long, sm_short, time_ratio));
  using Stream = StreamingDecodeShape;
  const ResultRow* big = find_row(rows, "dfw", "decode", "decode", kAnyBatch, Stream::H, Stream::T, Stream::d);
  out.push_back(judge("dfw decode H16 d=m=128, state >= 4x LLC: fraction of copy bandwidth", false, 0.4, big, big,
                      bw_fraction));
  const ResultRow* chunked = find_row(rows, "dfw", "chunked", "prefill", 1, 12, 4096, 64);
  const ResultRow* recurrent = find_row(rows, "dfw", "recurrent", "prefill", 1, 12, 4096, 64);
  out.push_back(judge("dfw chunked prefill B1 H12 T4096: fraction of SGEMM rate", false, 0.3, chunked, chunked,
                      flops_fraction));
  out.push_back(judge("dfw prefill B1 H12 T4096: t(recurrent) / t(chunked)", false, 3, recurrent, chunked,
                      time_ratio));
  out.push_back(chunked_bound(recurrent));
  const ResultRow* blocked = find_row(rows, "softmax", "blocked", "prefill", 1, 12, 4096, 64);
  out.push_back(judge("softmax blocked prefill B1 H12 T4096: fraction of SGEMM rate", false, 0.3, blocked, blocked,
                      flops_fraction));
  return out;
}

std::string format_targets(const std::vector<TargetResult>& targets) {
  std::string out;
  char line[256];
  for (const auto& t : targets) {
    if (t.found && t.bound)
      std::snprintf(line, sizeof line, "  %-62s %8.3f  (upper bound, not a target)\n", t.name.c_str(), t.measured);
    else if (t.found)
      std::snprintf(line, sizeof line, "  %-62s %8.3f  (%s)  %s\n", t.name.c_str(), t.measured, t.relation.c_str(),
                    t.pass ? "PASS" : "MISS");
    else
      std::snprintf(line, sizeof line, "  %-62s %8s  (%s)  MISSING (no ok row)\n", t.name.c_str(), "-",
                    t.relation.c_str());
    out += line;
  }
  return out;
}

std::string targets_json(const std::vector<TargetResult>& targets) {
  std::string out = "[";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const TargetResult& t = targets[i];
    JsonObject o;
    o.add("name", t.name).add("relation", t.relation).add("found", t.found);
    if (t.found) o.add("measured", t.measured);
    o.add("result", t.bound ? "bound" : !t.found ? "MISSING" : t.pass ? "PASS" : "MISS");
    out += (i ? ", " : "") + o.str();
  }
  return out + "]";
}

}  // namespace dfw
