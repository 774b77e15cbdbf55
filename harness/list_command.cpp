// dfwbench list: what the registry holds.
#include <iostream>

#include "cli.hpp"
#include "commands.hpp"
#include "impl.hpp"
#include "registry.hpp"
#include "variant.hpp"

namespace dfw {

int run_list(int argc, char** argv) {
  Cli cli("list", "Lists presets, update rules, feature maps and implementations.");
  if (!cli.parse(argc, argv)) return 0;
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
