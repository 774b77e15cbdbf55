#include "variant.hpp"

#include <map>
#include <sstream>
#include <stdexcept>

#include "parse_number.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

const std::map<std::string, std::string>& presets() {
  static const std::map<std::string, std::string> p = {
      {"softmax", "rule=softmax"},
      {"linear", "rule=add,phi=elu1,norm=on"},
      {"performer", "rule=add,phi=favor,norm=on"},
      {"t2r", "rule=add,phi=relu_proj,norm=on"},
      {"gated", "rule=gated,phi=relu_proj,norm=on"},
      {"delta", "rule=delta,phi=identity"},
      {"fwp", "rule=delta,phi=dpfp"},
      {"dfw", "rule=decay,phi=identity"},
      {"ssd", "rule=scalar_decay,phi=identity"},
  };
  return p;
}

int64_t parse_positive(const std::string& key, const std::string& value) {
  const auto v = parse_integer(value);
  if (!v || *v < 1 || *v > (1 << 20))
    throw std::invalid_argument("spec key '" + key + "' needs an integer in [1, 1048576], got '" + value + "'");
  return *v;
}

void resolve(Variant& v) {
  const Rule& r = *v.rule;
  if (!r.stateful()) {
    if (v.phi) v.undefined_reason = "softmax takes no feature map";
    else if (v.normalise) v.undefined_reason = "softmax takes no normalisation option";
    return;
  }
  if (!v.phi) v.phi = find_feature_map("identity");
  if (v.normalise && !r.supports_normalisation())
    v.undefined_reason = "normalisation is defined for add and gated only, not " + r.name();
  v.sum_normalise = r.needs_bounded_keys() && v.phi->name() != "identity";
  if (v.sum_normalise && !v.phi->non_negative())
    v.undefined_reason = r.name() + " needs a non-negative feature map to bound |phi(k)|";
}

}  // namespace

double Variant::tolerance_factor() const { return tolerance_reason().empty() ? 1.0 : 100.0; }

std::string Variant::tolerance_reason() const {
  if (normalise && phi && !phi->non_negative())
    return "limit x100: normaliser z.phi(q) of a signed map can cancel towards 0";
  return "";
}

int64_t Variant::m(int64_t dk) const { return phi ? phi->out_dim(dk, features) : dk; }

std::string Variant::spec() const {
  std::ostringstream os;
  os << "rule=" << rule->name();
  if (rule->stateful()) {
    os << ",phi=" << phi->name();
    if (phi->name() == "relu_proj" || phi->name() == "favor") os << ",m=" << (features.m > 0 ? std::to_string(features.m) : "dk");
    if (phi->name() == "dpfp") os << ",nu=" << features.nu;
    os << ",norm=" << (normalise ? "on" : "off");
  } else if (phi) {
    os << ",phi=" << phi->name();
  }
  return os.str();
}

Variant parse_variant(const std::string& text) {
  auto it = presets().find(text);
  if (it != presets().end()) {
    Variant v = parse_variant(it->second);
    v.name = text;
    return v;
  }
  if (text.find('=') == std::string::npos) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown variant '" + text + "' (presets: " + known +
                                "; or a spec string such as rule=decay,phi=elu1)");
  }
  Variant v;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw std::invalid_argument("malformed spec item '" + item + "' in '" + text + "' (want key=value)");
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "rule") {
      v.rule = find_rule(value);
      if (!v.rule) throw std::invalid_argument("unknown rule '" + value + "'");
    } else if (key == "phi") {
      v.phi = find_feature_map(value);
      if (!v.phi) throw std::invalid_argument("unknown feature map '" + value + "'");
    } else if (key == "norm") {
      if (value != "on" && value != "off") throw std::invalid_argument("norm must be on or off, got '" + value + "'");
      v.normalise = value == "on";
    } else if (key == "m") {
      v.features.m = parse_positive(key, value);
    } else if (key == "nu") {
      v.features.nu = parse_positive(key, value);
    } else {
      throw std::invalid_argument("unknown spec key '" + key + "' (keys: rule, phi, norm, m, nu)");
    }
  }
  if (!v.rule) throw std::invalid_argument("spec '" + text + "' names no rule");
  resolve(v);
  v.name = text;
  return v;
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"softmax", "linear", "performer", "t2r", "gated",
                                                 "delta",   "fwp",    "dfw",       "ssd"};
  return names;
}

std::vector<Variant> all_combinations() {
  std::vector<Variant> out;
  for (const Rule* r : rules()) {
    if (!r->stateful()) {
      out.push_back(parse_variant("rule=" + r->name()));
      out.push_back(parse_variant("rule=" + r->name() + ",phi=elu1"));
      continue;
    }
    for (const FeatureMap* f : feature_maps())
      for (const char* norm : {"off", "on"})
        out.push_back(parse_variant("rule=" + r->name() + ",phi=" + f->name() + ",norm=" + norm));
  }
  return out;
}

}  // namespace dfw
