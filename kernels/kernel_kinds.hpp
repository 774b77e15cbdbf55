// The kernel enums (rule_math.hpp, feature_math.hpp) of a variant's rule and
// feature map, empty when no CUDA kernel exists. Host code only: the CUDA forms
// choose their kernels with it, the CPU tile tests emulate the same choice.
#pragma once

#include <optional>
#include <string>

#include "feature_math.hpp"
#include "rule_math.hpp"
#include "variant.hpp"

namespace dfw {

inline std::optional<RuleKind> cuda_rule_kind(const Variant& v) {
  const std::string r = v.rule->name();
  if (r == "add") return RuleKind::add;
  if (r == "gated") return RuleKind::gated;
  if (r == "delta") return RuleKind::delta;
  if (r == "decay") return RuleKind::decay;
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
