// probe_fastest_form (form_probe.hpp).
#include "form_probe.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "results_row.hpp"

namespace dfw {

ProbeResult probe_fastest_form(const BenchCase& c, const std::vector<const Impl*>& candidates, const Problem& p,
                               const RunOptions& opts) {
  if (candidates.empty()) throw std::invalid_argument(c.label() + ": no supported form to pick the best of");
  const auto start = std::chrono::steady_clock::now();
  const bool timed = candidates.size() > 1;
  ProbeResult out;
  double best_ms = std::numeric_limits<double>::infinity();
  std::string times;
  for (const Impl* impl : candidates) {
    const std::string form = impl->key().form;
    std::unique_ptr<Prepared> prepared = impl->prepare(c.variant, p, opts);
    prepared->run();  // untimed warm-up
    prepared->synchronize();
    double least = std::numeric_limits<double>::infinity();
    if (timed) {
      for (int r = 0; r < kProbeRuns; ++r) {
        least = std::min(least, prepared->timed_run_ms());
        if (least > 2 * best_ms) break;  // cannot win: stop spending time on it
      }
      char item[64];
      std::snprintf(item, sizeof item, "%s%s %.3g ms", times.empty() ? "" : ", ", form.c_str(), least);
      times += item;
    }
    if (!out.prepared || least < best_ms) {
      best_ms = least;
      out.form = form;
      out.prepared = std::move(prepared);
    }
  }
  out.cost_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char cost[48];
  std::snprintf(cost, sizeof cost, " (probe %.3g s)", out.cost_s);
  out.note = std::string(kProbeNotePrefix) + (timed ? times + cost : out.form + " (the only form)");
  return out;
}

}  // namespace dfw
