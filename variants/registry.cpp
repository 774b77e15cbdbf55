#include "registry.hpp"

#include <memory>

namespace dfw {
namespace {

template <class T>
std::vector<const T*> raw(const std::vector<std::unique_ptr<T>>& owned) {
  std::vector<const T*> out;
  for (const auto& p : owned) out.push_back(p.get());
  return out;
}

const std::vector<std::unique_ptr<FeatureMap>>& owned_maps() {
  static const auto maps = [] {
    std::vector<std::unique_ptr<FeatureMap>> v;
    v.push_back(make_identity_map());
    v.push_back(make_elu1_map());
    v.push_back(make_relu_proj_map());
    v.push_back(make_favor_map());
    v.push_back(make_dpfp_map());
    return v;
  }();
  return maps;
}

const std::vector<std::unique_ptr<Rule>>& owned_rules() {
  static const auto list = [] {
    std::vector<std::unique_ptr<Rule>> v;
    v.push_back(make_softmax_rule());
    v.push_back(make_add_rule());
    v.push_back(make_gated_rule());
    v.push_back(make_delta_rule());
    v.push_back(make_decay_rule());
    return v;
  }();
  return list;
}

}  // namespace

const std::vector<const FeatureMap*>& feature_maps() {
  static const auto v = raw(owned_maps());
  return v;
}

const std::vector<const Rule*>& rules() {
  static const auto v = raw(owned_rules());
  return v;
}

const FeatureMap* find_feature_map(const std::string& name) {
  for (const FeatureMap* f : feature_maps())
    if (f->name() == name) return f;
  return nullptr;
}

const Rule* find_rule(const std::string& name) {
  for (const Rule* r : rules())
    if (r->name() == name) return r;
  return nullptr;
}

}  // namespace dfw
