// The one list of feature maps and update rules. Lookups by name.
#pragma once

#include <string>
#include <vector>

#include "feature_map.hpp"
#include "rule.hpp"

namespace dfw {

const std::vector<const FeatureMap*>& feature_maps();
const std::vector<const Rule*>& rules();
const FeatureMap* find_feature_map(const std::string& name);  // nullptr if unknown
const Rule* find_rule(const std::string& name);               // nullptr if unknown

}  // namespace dfw
