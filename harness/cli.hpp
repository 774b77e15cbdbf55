// A small command-line parser: declared flags with help text and defaults,
// `--flag value` or `--flag=value`, `--help` printed from the declarations.
#pragma once

#include <map>
#include <regex>
#include <string>
#include <vector>

namespace dfw {

class Cli {
 public:
  Cli(std::string command, std::string summary);
  // A flag taking a value; def is shown in --help and returned when absent.
  void option(const std::string& name, const std::string& def, const std::string& help);
  // A flag without a value.
  void flag(const std::string& name, const std::string& help);

  // Returns false when --help was given (help already printed). Throws
  // std::invalid_argument on an unknown flag or a missing value.
  bool parse(int argc, char** argv);

  std::string str(const std::string& name) const;
  long long integer(const std::string& name) const;  // throws std::invalid_argument
  double number(const std::string& name) const;      // throws std::invalid_argument
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;
  std::string help() const;

 private:
  struct Opt {
    std::string def, help;
    bool takes_value;
  };
  std::string command_, summary_;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
  std::map<std::string, std::string> values_;
};

// Splits "a,b,c" on commas; empty items dropped.
std::vector<std::string> split_list(const std::string& s, char sep = ',');

// --filter of check and bench: an ECMAScript regular expression searched for
// anywhere in a case's name ("" matches every case). Throws std::invalid_argument
// naming the pattern when it does not compile.
std::regex case_filter(const std::string& pattern);

}  // namespace dfw
