// Whole-string number parsing for flags, spec strings and results files:
// "12" is 12, "12x", "" and "1e999" are nothing (no exceptions, no partial reads).
#pragma once

#include <optional>
#include <string>

namespace dfw {

std::optional<long long> parse_integer(const std::string& s);
std::optional<double> parse_real(const std::string& s);

}  // namespace dfw
