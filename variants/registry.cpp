// The registry's storage: each list is a function-local static, so it exists
// before the first registrar runs, whatever the order of static initialisation.
#include "registry.hpp"

#include <algorithm>
#include <stdexcept>

namespace dfw {
namespace {

template <class T>
std::vector<std::unique_ptr<T>>& owned() {
  static std::vector<std::unique_ptr<T>> list;
  return list;
}

// Set by the first lookup: a later registration would not be seen, so it is refused.
template <class T>
bool& looked_up() {
  static bool done = false;
  return done;
}

template <class T>
void add(std::unique_ptr<T> entry, const char* what) {
  if (looked_up<T>()) throw std::logic_error(std::string(what) + " " + entry->name() + " registered after a lookup");
  auto& list = owned<T>();
  for (const auto& p : list)
    if (p->name() == entry->name()) throw std::logic_error(std::string("two ") + what + "s named " + entry->name());
  list.push_back(std::move(entry));
}

// Sorted by name, built at the first lookup (after every registrar has run).
template <class T>
const std::vector<const T*>& sorted() {
  static const std::vector<const T*> v = [] {
    looked_up<T>() = true;
    std::vector<const T*> out;
    for (const auto& p : owned<T>()) out.push_back(p.get());
    std::sort(out.begin(), out.end(), [](const T* a, const T* b) { return a->name() < b->name(); });
    return out;
  }();
  return v;
}

template <class T>
const T* find(const std::string& name) {
  for (const T* p : sorted<T>())
    if (p->name() == name) return p;
  return nullptr;
}

}  // namespace

const std::vector<const FeatureMap*>& feature_maps() { return sorted<FeatureMap>(); }
const std::vector<const Rule*>& rules() { return sorted<Rule>(); }
const FeatureMap* find_feature_map(const std::string& name) { return find<FeatureMap>(name); }
const Rule* find_rule(const std::string& name) { return find<Rule>(name); }
void register_feature_map(std::unique_ptr<FeatureMap> map) { add(std::move(map), "feature map"); }
void register_rule(std::unique_ptr<Rule> rule) { add(std::move(rule), "rule"); }

}  // namespace dfw
