#include <gtest/gtest.h>
#include "variant.hpp"
TEST(Smoke, ParsesPreset) { EXPECT_EQ(dfw::parse_variant("dfw").rule->name(), "decay"); }
