// A variant = update rule x feature map x normalisation (docs/MATH.md "Named variants").
// Parsed from a preset name ("dfw") or a spec string ("rule=decay,phi=elu1,m=128").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "feature_map.hpp"
#include "rule.hpp"

namespace dfw {

struct Variant {
  std::string name;                // preset name, or the canonical spec string
  const Rule* rule = nullptr;
  const FeatureMap* phi = nullptr;  // nullptr for softmax
  FeatureConfig features;
  bool normalise = false;          // y = S phi(q) / (z^T phi(q) + eps)
  bool sum_normalise = false;      // phi(q), phi(k) divided by their sums (delta with a non-identity map)
  std::string undefined_reason;    // non-empty: docs/MATH.md leaves this combination undefined

  bool defined() const { return undefined_reason.empty(); }
  // Multiplier on docs/MATH.md's accuracy limits, with its reason (empty: 1, none needed).
  // Normalisation with a signed map divides by z.phi(q), a sum of signed terms
  // that can cancel, so float32 error grows with 1 / |z.phi(q)|.
  double tolerance_factor() const;
  std::string tolerance_reason() const;
  int64_t m(int64_t dk) const;     // feature width (dk for softmax)
  std::string spec() const;        // canonical spec string
};

// Throws std::invalid_argument for an unknown preset, rule, map or key, or a bad value.
// An undefined combination parses, with undefined_reason set.
Variant parse_variant(const std::string& text);

// The preset names of docs/MATH.md, in its order.
const std::vector<std::string>& preset_names();

// Every rule x feature map x normalisation combination, defined or not
// (softmax appears once, without a map).
std::vector<Variant> all_combinations();

constexpr double kNormEps = 1e-6;

}  // namespace dfw
