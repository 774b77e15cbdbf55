// Helpers shared by the CPU test suites: run a form, compare with the reference.
#pragma once

#include <string>

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

}  // namespace dfw::test
