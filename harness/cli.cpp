#include "cli.hpp"

#include <iostream>
#include <sstream>
#include <stdexcept>

#include "parse_number.hpp"

namespace dfw {

Cli::Cli(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {
  flag("help", "show this help and exit");
}

void Cli::option(const std::string& name, const std::string& def, const std::string& help) {
  order_.push_back(name);
  opts_[name] = {def, help, true};
}

void Cli::flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  opts_[name] = {"", help, false};
}

bool Cli::parse(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h") a = "--help";
    if (a.rfind("--", 0) != 0) throw std::invalid_argument(command_ + ": unexpected argument '" + a + "' (see --help)");
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = opts_.find(name);
    if (it == opts_.end()) throw std::invalid_argument(command_ + ": unknown flag --" + name + " (see --help)");
    if (it->second.takes_value) {
      if (!inline_value) {
        if (i + 1 >= argc) throw std::invalid_argument(command_ + ": --" + name + " needs a value");
        value = argv[++i];
      }
    } else if (inline_value) {
      throw std::invalid_argument(command_ + ": --" + name + " takes no value");
    }
    values_[name] = value;
  }
  if (on("help")) {
    std::cout << help();
    return false;
  }
  return true;
}

std::string Cli::str(const std::string& name) const {
  auto v = values_.find(name);
  if (v != values_.end()) return v->second;
  auto o = opts_.find(name);
  if (o == opts_.end()) throw std::logic_error("undeclared flag --" + name);
  return o->second.def;
}

long long Cli::integer(const std::string& name) const {
  const std::string s = str(name);
  const auto v = parse_integer(s);
  if (!v) throw std::invalid_argument("--" + name + " needs an integer, got '" + s + "'");
  return *v;
}

double Cli::number(const std::string& name) const {
  const std::string s = str(name);
  const auto v = parse_real(s);
  if (!v) throw std::invalid_argument("--" + name + " needs a number, got '" + s + "'");
  return *v;
}

bool Cli::on(const std::string& name) const { return values_.count(name) > 0; }
bool Cli::given(const std::string& name) const { return values_.count(name) > 0; }

std::string Cli::help() const {
  std::ostringstream os;
  os << "usage: dfwbench " << command_ << " [flags]\n\n" << summary_ << "\n\nflags:\n";
  for (const auto& name : order_) {
    const Opt& o = opts_.at(name);
    std::string left = "  --" + name + (o.takes_value ? " VALUE" : "");
    os << left;
    os << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ');
    for (char c : o.help) os << c << (c == '\n' ? std::string(26, ' ') : "");  // continuation lines aligned
    if (o.takes_value && !o.def.empty()) os << " (default: " << o.def << ")";
    os << "\n";
  }
  return os.str();
}

std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::regex case_filter(const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("--filter: '" + pattern + "' is not a regular expression (" + e.what() + ")");
  }
}

}  // namespace dfw
