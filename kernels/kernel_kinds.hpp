// The kernel enums (rule_math.hpp, feature_math.hpp) of a variant's rule and
// feature map, empty when no CUDA kernel exists. Host code only: the CUDA forms
// choose their kernels with it, the CPU tile tests emulate the same choice.
//
// A gated-linear rule's kernel is chosen by what its factors are (Rule::factor_form()),
// never by its name:
//   a, b, c = 1, 1, 1                         add kernels
//   a, b, c = g, 1, 1 - g                     gated kernels
//   a, b, c = gate_v row, gate_k row, 1       decay kernels, reading the gate rows in place
//   any other a, b with c = 1, unnormalised   decay kernels, on gate rows the host makes
//                                             from gated_linear_factors() (e.g. scalar_decay)
// delta, the one rule outside the family, runs a kernel of its own step.
#pragma once

#include <optional>
#include <string>

#include "feature_math.hpp"
#include "rule_math.hpp"
#include "variant.hpp"

namespace dfw {

// True when the decay kernels run the rule on gate rows made on the host.
inline bool cuda_gate_rows_from_factors(const Variant& v) {
  const Rule& r = *v.rule;
  if (!r.is_gated_linear() || r.gates_are_ones() || r.factors_are_gate_rows()) return false;
  const FactorForm f = r.factor_form();
  const bool gated_kernel = f.a == Factor::gate && f.b == Factor::one && f.c == Factor::one_minus_gate;
  return !gated_kernel && f.c == Factor::one && !v.normalise;  // the decay kernels leave z's row undecayed
}

inline std::optional<RuleKind> cuda_rule_kind(const Variant& v) {
  const Rule& r = *v.rule;
  if (!r.stateful()) return std::nullopt;
  if (!r.is_gated_linear()) return r.name() == "delta" ? std::optional<RuleKind>(RuleKind::delta) : std::nullopt;
  const FactorForm f = r.factor_form();
  if (r.gates_are_ones()) return RuleKind::add;
  if (f.a == Factor::gate && f.b == Factor::one && f.c == Factor::one_minus_gate) return RuleKind::gated;
  if (r.factors_are_gate_rows() || cuda_gate_rows_from_factors(v)) return RuleKind::decay;
  return std::nullopt;
}

inline std::optional<FeatureKind> cuda_feature_kind(const Variant& v) {
  const std::string f = v.phi ? v.phi->name() : "identity";
  if (f == "identity") return FeatureKind::identity;
  if (f == "elu1") return FeatureKind::elu1;
  if (f == "relu_proj") return FeatureKind::relu_proj;
  if (f == "favor") return FeatureKind::favor;
  if (f == "dpfp") return FeatureKind::dpfp;
  return std::nullopt;
}

}  // namespace dfw
