// The case list of `dfwbench check` (harness/check_cases.cpp): what --long adds.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "check_cases.hpp"
#include "registry.hpp"

namespace dfw {
namespace {

// check --long adds T = 1025 at d = m = 64 and T = 4097 at d = m = 128, with every
// gate set of a gated rule (uniform only where the rule takes no gate).
TEST(CheckCases, LongSequencesAddBothShapesWithEveryGateSet) {
  for (const auto& [name, sets] : {std::pair<std::string, std::size_t>{"dfw", 4}, {"softmax", 1}}) {
    const Variant v = parse_variant(name);
    const auto standard = expand_check_cases({v}, false, 1);
    const auto with_long = expand_check_cases({v}, false, 1, true);
    ASSERT_EQ(with_long.size(), standard.size() + 2 * sets) << name;
    std::set<std::string> labels;
    for (std::size_t i = standard.size(); i < with_long.size(); ++i) {
      const CheckCase& c = with_long[i];
      const bool short_one = i < standard.size() + sets;
      EXPECT_EQ(c.shape.T, short_one ? 1025 : 4097) << name;
      EXPECT_EQ(c.shape.dk, short_one ? 64 : 128) << name;
      EXPECT_EQ(c.shape.dv, c.shape.dk) << name;
      EXPECT_EQ(c.mode, Mode::sequence) << name;
      labels.insert(c.inputs);
    }
    EXPECT_EQ(labels.size(), sets) << name;
  }
}

}  // namespace
}  // namespace dfw
