// fp16 / bf16 conversion helpers of kernels/half_convert.hpp (the host path the
// forms use to upload inputs, and the formulas device code mirrors): exact round
// trips of every bit pattern, round-to-nearest-even, overflow, subnormals.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "half_convert.hpp"

namespace dfw {
namespace {

TEST(TileConvert, EveryHalfRoundTripsExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_bits_to_float(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(f)))) << h;
      continue;
    }
    EXPECT_EQ(float_to_half_bits(f), h) << "bits " << h << " value " << f;
  }
}

TEST(TileConvert, EveryBf16RoundTripsExactly) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_bits_to_float(uint16_t(b));
    if (std::isnan(f)) continue;
    EXPECT_EQ(float_to_bf16_bits(f), b) << b;
  }
}

TEST(TileConvert, HalfKnownValues) {
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(1.f)), 1.f);
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(65504.f)), 65504.f);  // largest half
  EXPECT_TRUE(std::isinf(half_bits_to_float(float_to_half_bits(65520.f))));  // ties away from max -> inf
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(65519.f)), 65504.f);
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(std::ldexp(1.f, -24))), std::ldexp(1.f, -24));  // smallest subnormal
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(std::ldexp(1.f, -25))), 0.f);  // tie to even (0)
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(std::ldexp(3.f, -25))), std::ldexp(2.f, -24));  // tie to even
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(1.f + std::ldexp(1.f, -11))), 1.f);  // tie to even
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(1.f + std::ldexp(3.f, -11))), 1.f + std::ldexp(1.f, -9));
  EXPECT_EQ(float_to_half_bits(-0.f), 0x8000);
  EXPECT_EQ(float_to_half_bits(-std::numeric_limits<float>::infinity()), 0xfc00);
  // 1e-6, the smallest gate docs/MATH.md uses, is a half subnormal: stored within half an ulp (2^-25).
  EXPECT_NEAR(half_bits_to_float(float_to_half_bits(1e-6f)), 1e-6, std::ldexp(1.0, -25));
}

TEST(TileConvert, RoundingIsToTheNearestRepresentable) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> exponent(-30.f, 17.f);
  std::uniform_int_distribution<int> sign(0, 1);
  for (int i = 0; i < 20000; ++i) {
    const float x = (sign(rng) ? -1.f : 1.f) * std::exp2(exponent(rng));
    // half: the chosen value is at least as close as its two neighbours
    const uint16_t h = float_to_half_bits(x);
    const double got = half_bits_to_float(h);
    if (std::isinf(got)) {
      EXPECT_GE(std::abs(x), 65520.f);
      continue;
    }
    for (int d : {-1, 1}) {
      const uint16_t n = uint16_t(h + d);
      if ((n & 0x7fff) >= 0x7c00 || ((n ^ h) & 0x8000)) continue;
      EXPECT_LE(std::abs(got - x), std::abs(double(half_bits_to_float(n)) - x)) << x;
    }
    // bf16: at least as close as its neighbours, relative error at most 2^-8
    const uint16_t bb = float_to_bf16_bits(x);
    const double b = bf16_bits_to_float(bb);
    EXPECT_LE(std::abs(b - x), std::ldexp(std::abs(double(x)), -8)) << x;
    for (int d : {-1, 1})
      EXPECT_LE(std::abs(b - x), std::abs(double(bf16_bits_to_float(uint16_t(bb + d))) - x)) << x;
  }
}

TEST(TileConvert, StorageTypesGoThroughTheSameHelpers) {
  EXPECT_EQ(to_float(from_float<Fp16>(0.1f)), half_bits_to_float(float_to_half_bits(0.1f)));
  EXPECT_EQ(to_float(from_float<Bf16>(0.1f)), bf16_bits_to_float(float_to_bf16_bits(0.1f)));
  EXPECT_EQ(round_to<float>(0.1f), 0.1f);
  EXPECT_NE(round_to<Fp16>(0.1f), 0.1f);
  EXPECT_TRUE(std::isnan(round_to<Bf16>(std::numeric_limits<float>::quiet_NaN())));
}

}  // namespace
}  // namespace dfw
