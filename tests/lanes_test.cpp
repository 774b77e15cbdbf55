// lanes.hpp's kernels against plain loops: lanes_gemm with its in/out hooks (one
// register of a Lanes at a time) and transpose_16x16 at strides as the chunked
// backward uses them; the unaligned row loads and reg_reciprocal against exact values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "cpu/lanes.hpp"

namespace dfw {
namespace {

float value(int64_t i, int64_t j) { return float(i * 37 + j * 11 % 23) * 0.25f - float(j); }

TEST(Lanes, Transpose16x16MovesEveryElementOnce) {
  for (const auto& [in_stride, out_stride] : {std::pair<int64_t, int64_t>{1, 1}, {5, 1}, {1, 4}, {3, 2}}) {
    std::vector<Lanes> in(16 * in_stride), out(16 * out_stride);
    for (int64_t i = 0; i < 16; ++i)
      for (int64_t j = 0; j < 16; ++j) in[i * in_stride][j] = value(i, j);
    transpose_16x16(in.data(), in_stride, out.data(), out_stride);
    for (int64_t i = 0; i < 16; ++i)
      for (int64_t j = 0; j < 16; ++j)
        ASSERT_EQ(out[j * out_stride][i], value(i, j)) << i << "," << j << " strides " << in_stride << "," << out_stride;
  }
}

// C (8 x 3 Lanes) = out(in(C) + A B) with A read transposed (ai = 1, ak = 8).
TEST(Lanes, GemmAppliesItsHooksToEveryRegister) {
  const int64_t rows = 8, cols = 3, kdim = 5;
  std::vector<float> a(rows * kdim);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < kdim; ++k) a[k * rows + i] = value(i, k) * 0.1f;
  std::vector<Lanes> b(kdim * cols), c(rows * cols);
  for (int64_t k = 0; k < kdim; ++k)
    for (int64_t j = 0; j < cols * kLanes; ++j) b[k * cols + j / kLanes][j % kLanes] = value(k, j) * 0.01f;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols * kLanes; ++j) c[i * cols + j / kLanes][j % kLanes] = value(j, i);
  const std::vector<Lanes> c0 = c;
  auto in = [](int64_t i, int64_t l, int h, RegLanes x) { return x * float(1 + i + 10 * l + 100 * h); };
  auto out = [](int64_t, int64_t, int, RegLanes x) { return x + 0.5f; };
  lanes_gemm(a.data(), 1, rows, b.data(), cols, kdim, c.data(), cols, rows, cols, 0, in, out);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols * kLanes; ++j) {
      const int64_t l = j / kLanes, h = (j % kLanes) / kRegFloats;
      double want = double(c0[i * cols + l][j % kLanes]) * double(1 + i + 10 * l + 100 * h);
      for (int64_t k = 0; k < kdim; ++k) want += double(a[k * rows + i]) * double(b[k * cols + l][j % kLanes]);
      EXPECT_NEAR(c[i * cols + l][j % kLanes], want + 0.5, 1e-3 * (1 + std::abs(want))) << i << "," << j;
    }
}

// Rows read from every float offset (so every misalignment), whole Lanes and a tail.
TEST(Lanes, LoadRowReadsAnyAlignmentAndKeepsThePadding) {
  std::vector<float> src(64);
  for (int64_t i = 0; i < 64; ++i) src[i] = value(i, 3);
  for (int64_t offset = 0; offset < 16; ++offset)
    for (int64_t width : {16, 21, 32}) {
      std::vector<Lanes> dst(2, splat(7.f));
      load_row(src.data() + offset, width, dst.data(), -2.f);
      for (int64_t i = 0; i < 32; ++i)
        ASSERT_EQ(dst[i / kLanes][i % kLanes], i < width ? -2.f * src[offset + i] : 7.f) << offset << "," << width;
      const RegLanes r = load_reg(src.data() + offset);
      for (int i = 0; i < kRegFloats; ++i) ASSERT_EQ(r[i], src[offset + i]);
    }
}

// 1/x within 3 ulp over the gates' range (down to 1e-6 and far past it) and beyond 1.
TEST(Lanes, ReciprocalIsWithinThreeUlp) {
  float worst = 0.f;
  for (float x = 1e-30f; x < 1e30f; x *= 1.0137f) {
    RegLanes v;
    for (int i = 0; i < kRegFloats; ++i) v[i] = x * (1.f + 0.003f * float(i));
    const RegLanes r = reg_reciprocal(v);
    for (int i = 0; i < kRegFloats; ++i) {
      const double exact = 1.0 / double(v[i]);
      const double ulp = std::nextafter(float(exact), INFINITY) - float(exact);
      worst = std::max(worst, float(std::abs(double(r[i]) - exact) / ulp));
    }
  }
  EXPECT_LE(worst, 3.f);
}

}  // namespace
}  // namespace dfw
