// Helpers shared by the CPU test suites: run a form, compare with the reference,
// cut a problem into token ranges.
#pragma once

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

}  // namespace dfw::test
