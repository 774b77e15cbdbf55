// The case list of `dfwbench check`: variants x shapes x input sets x modes.
#pragma once

#include <string>
#include <vector>

#include "generator.hpp"
#include "impl.hpp"

namespace dfw {

struct CheckCase {
  Variant variant;
  Shape shape;
  GeneratorOptions gen;
  Mode mode = Mode::sequence;
  std::string inputs;            // label: gate set, "s0", "decode"
  bool first_of_variant = false;  // the variant's first case
};

// "all" = every preset, then every rule x map x norm combination (defined or not).
std::vector<Variant> select_variants(const std::string& list);
// quick: the two smallest shapes only. long_sequences: also T = 1025 at d = m = 64 and
// T = 4097 at d = m = 128 (many chunks of every chunk length checked), each with every
// gate set the variant takes.
std::vector<CheckCase> expand_check_cases(const std::vector<Variant>& variants, bool quick, uint64_t seed,
                                          bool long_sequences = false);
Problem make_check_problem(const CheckCase& c);

// prepare + run + output, for checks and tests.
Output run_once(const Impl& impl, const Variant& v, const Problem& p, const RunOptions& o);

// Information only: relative L2 distance of each preset's output to exact softmax on
// the same q, k, v; Performer at growing m.
void print_softmax_distances(uint64_t seed);

}  // namespace dfw
