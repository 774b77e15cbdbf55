// The registry of feature maps and update rules, filled before main() by one
// registrar object in each file of rules/ and feature_maps/:
//   const RegisterRule<YourRule> kRegistered;         (rules/your_rule.cpp)
//   const RegisterFeatureMap<YourMap> kRegistered;    (feature_maps/your_map.cpp)
// Lookups by name; the lists are sorted by name, whatever the link order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "feature_map.hpp"
#include "rule.hpp"

namespace dfw {

const std::vector<const FeatureMap*>& feature_maps();
const std::vector<const Rule*>& rules();
const FeatureMap* find_feature_map(const std::string& name);  // nullptr if unknown
const Rule* find_rule(const std::string& name);               // nullptr if unknown

// Called by the registrars during static initialisation, before any lookup.
// Throws std::logic_error for a second entry of the same name.
void register_feature_map(std::unique_ptr<FeatureMap> map);
void register_rule(std::unique_ptr<Rule> rule);

template <class Map>
struct RegisterFeatureMap {
  RegisterFeatureMap() { register_feature_map(std::make_unique<Map>()); }
};

template <class R>
struct RegisterRule {
  RegisterRule() { register_rule(std::make_unique<R>()); }
};

}  // namespace dfw
