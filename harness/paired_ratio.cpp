// measure_paired_ratio (paired_ratio.hpp).
#include "paired_ratio.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <new>
#include <stdexcept>

#include "impl.hpp"
#include "results_json.hpp"

namespace dfw {
namespace {

// Runs of one side per timing so that a timing lasts min_time_s, from one run's time.
int runs_per_timing(double run_ms, double min_time_s) {
  if (!(run_ms > 0)) return 1;
  return std::max(1, int(std::ceil(min_time_s * 1e3 / run_ms)));
}

double mean_run_ms(Prepared& p, int runs) {
  double total = 0;
  for (int i = 0; i < runs; ++i) total += p.timed_run_ms();
  return total / runs;
}

}  // namespace

PairedRatio measure_paired_ratio(const std::string& name, const BenchCase& numerator, const BenchCase& denominator,
                                 const TimingOptions& opts, int pairs) {
  PairedRatio r;
  r.name = name;
  for (const BenchCase* c : {&numerator, &denominator})
    if (const std::string why = named_form_unsupported(*c); !why.empty()) {
      r.status = "unsupported";
      r.message = c->label() + ": " + why;
      return r;
    }
  try {
    const std::unique_ptr<Problem> pn = generate_case_problem(numerator, opts);
    const std::unique_ptr<Problem> pd = generate_case_problem(denominator, opts);
    const std::unique_ptr<Prepared> a = prepare_named_form(numerator, *pn, opts);
    const std::unique_ptr<Prepared> b = prepare_named_form(denominator, *pd, opts);
    for (int i = 0; i < std::max(1, opts.warmup_runs); ++i) {
      a->timed_run_ms();
      b->timed_run_ms();
    }
    const int runs_a = runs_per_timing(a->timed_run_ms(), opts.min_time_s);
    const int runs_b = runs_per_timing(b->timed_run_ms(), opts.min_time_s);
    std::vector<double> ratios, ta, tb;
    for (int i = 0; i < pairs; ++i) {
      double x, y;
      if (i % 2 == 0) {
        x = mean_run_ms(*a, runs_a);
        y = mean_run_ms(*b, runs_b);
      } else {
        y = mean_run_ms(*b, runs_b);
        x = mean_run_ms(*a, runs_a);
      }
      ta.push_back(x);
      tb.push_back(y);
      ratios.push_back(x / y);
    }
    r.pairs = pairs;
    r.median = quantile(ratios, 0.5);
    r.p20 = quantile(ratios, 0.2);
    r.p80 = quantile(ratios, 0.8);
    r.numerator_ms = quantile(ta, 0.5);
    r.denominator_ms = quantile(tb, 0.5);
  } catch (const OutOfMemory& e) {
    r.status = "oom";
    r.message = e.what();
  } catch (const std::bad_alloc&) {
    r.status = "oom";
    r.message = "out of host memory";
  } catch (const std::exception& e) {
    r.status = "error";
    r.message = e.what();
  }
  return r;
}

std::string paired_ratios_json(const std::vector<PairedRatio>& ratios) {
  std::string out = "[";
  for (std::size_t i = 0; i < ratios.size(); ++i) {
    const PairedRatio& r = ratios[i];
    JsonObject o;
    o.add("name", r.name).add("status", r.status);
    if (!r.message.empty()) o.add("message", r.message);
    if (r.status == "ok")
      o.add("pairs", r.pairs)
          .add("median", r.median)
          .add("p20", r.p20)
          .add("p80", r.p80)
          .add("numerator_ms", r.numerator_ms)
          .add("denominator_ms", r.denominator_ms);
    out += (i ? ", " : "") + o.str();
  }
  return out + "]";
}

}  // namespace dfw
