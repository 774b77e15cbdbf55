// Seeded inputs for a variant and shape (docs/MATH.md "Accuracy"): q, k, v standard
// normal, gates by the uniform gate initialisation (values uniform in
// [1/n, 1 - 1/n], n the gate's width), plus edge sets.
#pragma once

#include <cstdint>
#include <string>

#include "problem.hpp"
#include "variant.hpp"

namespace dfw {

enum class GateSet {
  uniform_init,  // uniform in [1/n, 1 - 1/n]
  ones,          // exactly 1 (no decay)
  tiny,          // 1e-6
  mixed,         // abrupt switches between 1e-6 and ~1 inside a chunk
  slow,          // uniform in [0.95, 1]: near 1, as trained gates are; factors over
                 // hundreds of tokens stay large, so long-range decay is tested
};

const char* gate_set_name(GateSet g);
GateSet parse_gate_set(const std::string& name);  // throws std::invalid_argument

struct GeneratorOptions {
  uint64_t seed = 1234;
  GateSet gates = GateSet::uniform_init;
  bool with_initial_state = false;  // random s0 instead of zero
};

// Throws std::invalid_argument if the variant is undefined or the shape invalid.
Problem generate_problem(const Variant& variant, const Shape& shape, const GeneratorOptions& opts);

// The loss gradient dy (B, H, T, dv) of a backward case (docs/MATH.md section 9):
// standard normal, seeded.
std::vector<float> generate_dy(const Problem& p, uint64_t seed);

// Checks what eval reads from disk: sizes agree with the shape, gates in (0, 1],
// every value finite. Throws std::invalid_argument naming the tensor.
void validate_problem(const Variant& variant, const Problem& p);

}  // namespace dfw
