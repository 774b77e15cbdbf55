// dfwbench list: what the registry holds (--json: the names as one JSON object, for
// scripts such as scripts/numpy_reference.py that must cover every rule).
#include <iostream>

#include "cli.hpp"
#include "commands.hpp"
#include "impl.hpp"
#include "registry.hpp"
#include "results_json.hpp"
#include "variant.hpp"

namespace dfw {
namespace {

template <class List, class Name>
std::string json_names(const List& list, Name name) {
  std::string out = "[";
  for (const auto& item : list) out += (out.size() > 1 ? ", " : "") + json_quote(name(item));
  return out + "]";
}

}  // namespace

int run_list(int argc, char** argv) {
  Cli cli("list", "Lists presets, update rules, feature maps and implementations.");
  cli.flag("json", "print {\"presets\": {name: spec}, \"rules\", \"feature_maps\", \"implementations\": [names]}");
  if (!cli.parse(argc, argv)) return 0;
  if (cli.on("json")) {
    JsonObject presets;
    for (const auto& n : preset_names()) presets.add(n, parse_variant(n).spec());
    JsonObject o;
    o.add_raw("presets", presets.str());
    o.add_raw("rules", json_names(rules(), [](const Rule* r) { return r->name(); }));
    o.add_raw("feature_maps", json_names(feature_maps(), [](const FeatureMap* f) { return f->name(); }));
    o.add_raw("implementations", json_names(all_impls(), [](const Impl* i) { return i->key().str(); }));
    std::cout << o.str() << "\n";
    return 0;
  }
  std::cout << "presets:\n";
  for (const auto& n : preset_names()) std::cout << "  " << n << "  = " << parse_variant(n).spec() << "\n";
  std::cout << "rules:\n";
  for (const Rule* r : rules()) std::cout << "  " << r->name() << "  " << r->description() << "\n";
  std::cout << "feature maps:\n";
  for (const FeatureMap* f : feature_maps()) std::cout << "  " << f->name() << "  " << f->description() << "\n";
  std::cout << "implementations (form/backend/dtype):\n";
  for (const Impl* i : all_impls()) std::cout << "  " << i->key().str() << "\n";
  return 0;
}

}  // namespace dfw
