// The disturbance checks of a bench run (run_quality.hpp).
#include "run_quality.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dfw {
namespace {

std::string format(const char* fmt, double a, double b) {
  char buf[160];
  std::snprintf(buf, sizeof buf, fmt, a, b);
  return buf;
}

// "" when a and b agree within `limit` (larger over smaller minus 1), else the change.
std::string change(const char* what, const char* unit, double start, double end, double limit) {
  if (start <= 0 && end <= 0) return "";  // not measured
  const double lo = std::min(start, end), hi = std::max(start, end);
  if (lo > 0 && hi / lo - 1 <= limit) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s %.4g %s at the start, %.4g at the end", what, start, unit, end);
  return buf;
}

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : b.empty() ? a : a + ", " + b; }

std::string contention(const std::optional<Contention>& c, const QualityLimits& q) {
  if (!c || c->run_delay <= q.max_run_delay || c->preemptions_per_s <= q.max_preemptions_per_s) return "";
  return format("threads waited for a core %.0f%% of the time (> %.0f%%)", 100 * c->run_delay, 100 * q.max_run_delay) +
         format(", preempted %.0f times/s (> %.0f)", c->preemptions_per_s, q.max_preemptions_per_s);
}

}  // namespace

std::string timing_disturbance(const CaseTiming& t, const QualityLimits& q) {
  if (t.status != "ok") return "";
  std::string why;
  if (!(t.p20_ms > 0) || !(t.p80_ms / t.p20_ms <= q.max_spread))
    why = format("p80/p20 = %.3g > %.3g", t.p20_ms > 0 ? t.p80_ms / t.p20_ms : INFINITY, q.max_spread);
  return join(why, contention(t.contention, q));
}

std::string ceilings_disturbance(const Ceilings& start, const Ceilings& end, const QualityLimits& q) {
  std::string changed = change("GEMM", "GFLOP/s", start.gflops, end.gflops, q.max_ceiling_change);
  changed =
      join(changed, change("one-thread GEMM", "GFLOP/s", start.gflops_single, end.gflops_single, q.max_ceiling_change));
  changed = join(changed, change("copy", "GB/s", start.gbps, end.gbps, q.max_ceiling_change));
  std::string why;
  if (!changed.empty())
    why = "ceilings changed by more than " + std::to_string(int(std::lround(100 * q.max_ceiling_change))) +
          "% during the run: " + changed;
  const std::string at_start = contention(start.contention, q), at_end = contention(end.contention, q);
  if (!at_start.empty()) why = join(why, "while measuring the ceilings at the start, " + at_start);
  if (!at_end.empty()) why = join(why, "while measuring the ceilings at the end, " + at_end);
  return why;
}

void add_note(ResultRow& row, const std::string& text) {
  if (text.empty()) return;
  row.note += (row.note.empty() ? "" : "; ") + text;
}

void mark_disturbed(ResultRow& row, const std::string& why) {
  row.disturbed = true;
  add_note(row, "disturbed: " + why);
}

}  // namespace dfw
