// The --help texts of the dfwbench binary: the top-level usage names every bench
// preset and every variant preset (taken from the lists that define them), and
// `check --help` calls --variants a ';'-separated list, as the README does.
#include <gtest/gtest.h>

#include <string>

#include "child_run.hpp"

#include "bench_cases.hpp"
#include "variant.hpp"

namespace dfw {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// NAME appears as an item of a ", "-separated list ending a line.
bool listed(const std::string& s, const std::string& name) {
  return contains(s, " " + name + ",") || contains(s, " " + name + "\n");
}

TEST(HelpText, UsageNamesEveryPreset) {
  const test::ChildRun help = test::dfwbench("--help");
  ASSERT_EQ(help.exit_code, 0) << help.output;
  for (const std::string& preset : bench_preset_names())
    EXPECT_TRUE(listed(help.output, preset)) << "bench preset " << preset << " missing:\n" << help.output;
  for (const std::string& preset : preset_names())
    EXPECT_TRUE(listed(help.output, preset)) << "variant preset " << preset << " missing:\n" << help.output;
  EXPECT_TRUE(contains(help.output, "docs/MATH.md")) << help.output;
}

TEST(HelpText, CheckVariantsAreASemicolonList) {
  const test::ChildRun help = test::dfwbench("check --help");
  ASSERT_EQ(help.exit_code, 0) << help.output;
  const auto at = help.output.find("--variants");
  ASSERT_NE(at, std::string::npos) << help.output;
  const std::string entry = help.output.substr(at, help.output.find("--forms") - at);
  EXPECT_TRUE(contains(entry, "';'-separated list")) << entry;
  EXPECT_FALSE(contains(entry, "comma list")) << entry;
  EXPECT_TRUE(contains(help.output, "2 when the selection runs no case")) << help.output;
}

}  // namespace
}  // namespace dfw
