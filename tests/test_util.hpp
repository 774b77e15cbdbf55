// Helpers shared by the CPU test suites: run a form, compare with the reference,
// cut a problem into token ranges.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "accuracy.hpp"
#include "check_cases.hpp"
#include "commands.hpp"
#include "generator.hpp"
#include "impl.hpp"

namespace dfw::test {

inline const Impl& impl(const std::string& form, const std::string& dtype = "fp32") {
  const Impl* i = find_impl(form, "cpu", form == "reference" ? "fp64" : dtype);
  if (!i) throw std::logic_error("no implementation " + form);
  return *i;
}

inline Output run(const std::string& form, const Variant& v, const Problem& p, RunOptions o = {}) {
  return run_once(impl(form), v, p, o);
}

// |x - ref| / |ref| (L2) of two same-sized tensors.
inline double rel_l2(const std::vector<double>& x, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - ref[i]) * (x[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

inline Problem make(const Variant& v, Shape s, GateSet g = GateSet::uniform_init, bool s0 = false,
                    uint64_t seed = 7) {
  GeneratorOptions o;
  o.seed = seed;
  o.gates = g;
  o.with_initial_state = s0;
  return generate_problem(v, s, o);
}

// Tokens [t0, t0 + n) of every (b, h) of p, as a problem of its own (s0 not copied).
inline Problem slice_tokens(const Problem& p, int64_t t0, int64_t n) {
  Problem out = p;
  const Shape& s = p.shape;
  out.shape.T = n;
  out.s0.clear();
  auto cut = [&](const std::vector<float>& src, int64_t width) {
    if (src.empty()) return std::vector<float>{};
    std::vector<float> dst;
    for (int64_t bh = 0; bh < s.B * s.H; ++bh) {
      const auto first = src.begin() + (bh * s.T + t0) * width;
      dst.insert(dst.end(), first, first + n * width);
    }
    return dst;
  };
  out.q = cut(p.q, s.dk);
  out.k = cut(p.k, s.dk);
  out.v = cut(p.v, s.dv);
  out.gate = cut(p.gate, 1);
  out.beta = cut(p.beta, 1);
  out.gate_v = cut(p.gate_v, s.dv);
  out.gate_k = cut(p.gate_k, p.m);
  return out;
}

// p (drawn with GateSet::slow, U(0.95, 1)) with its decaying gates (gate, gate_v,
// gate_k) moved affinely into U(lo, 1): lo = 0.99 gives the slower set U(0.99, 1),
// whose state carries across hundreds of tokens.
inline Problem with_slow_gates_from(Problem p, double lo) {
  if (lo == 0.95) return p;  // as drawn (any gate set)
  for (auto* g : {&p.gate, &p.gate_v, &p.gate_k})
    for (float& x : *g) x = float(lo + (double(x) - 0.95) * (1 - lo) / 0.05);
  return p;
}

// One emulated kernel's errors with fp32, fp16 and bf16 storage: all finite,
// y (relative L2 and max-abs) and the state within each dtype's limit times the
// variant's factor f, and fp16 visibly worse than fp32 (the rounding is applied).
inline void expect_storage_errors_within_limits(const CaseErrors& e32, const CaseErrors& e16, const CaseErrors& eb16,
                                                double f) {
  EXPECT_TRUE(e32.finite() && e16.finite() && eb16.finite());
  const std::pair<const CaseErrors*, const char*> runs[] = {{&e32, "fp32"}, {&e16, "fp16"}, {&eb16, "bf16"}};
  for (const auto& [e, dtype] : runs) {
    EXPECT_LT(e->y.rel_l2, f * rel_l2_limit(dtype)) << dtype;
    EXPECT_LT(e->y.max_abs, f * max_abs_limit(dtype)) << dtype;
    EXPECT_LT(e->state.rel_l2, f * rel_l2_limit(dtype)) << dtype;
  }
  EXPECT_GT(e16.y.rel_l2, e32.y.rel_l2);
}

}  // namespace dfw::test
