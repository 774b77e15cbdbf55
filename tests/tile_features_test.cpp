// feature_at (kernels/feature_math.hpp), the per-element feature maps the CUDA
// kernels run one thread per feature, against every map's float64 definition in
// variants/ on seeded inputs; sum-normalisation against the CPU forms' stage.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cpu/features.hpp"
#include "feature_math.hpp"
#include "kernel_kinds.hpp"
#include "test_util.hpp"

namespace dfw {
namespace {

FeatureSpec spec_for(const Variant& v, const Problem& p, int64_t h) {
  auto or_null = [](const std::vector<float>& x) { return x.empty() ? nullptr : x.data(); };
  return head_feature_spec(cuda_feature_kind(v).value(), int(p.shape.dk), int(p.m), or_null(p.w), or_null(p.b),
                           or_null(p.omega), h);
}

class EveryMap : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryMap, FeatureAtMatchesTheFloat64Map) {
  for (const char* extra : {"", ",nu=2", ",m=40"}) {
    const std::string spec = "rule=add,phi=" + GetParam() + extra;
    if (std::string(extra) == ",nu=2" && GetParam() != "dpfp") continue;
    if (std::string(extra) == ",m=40" && GetParam() != "relu_proj" && GetParam() != "favor") continue;
    const Variant v = parse_variant(spec);
    const Problem p = test::make(v, {1, 2, 9, 16, 8});
    for (int64_t row = 0; row < 2 * 9; ++row) {  // rows of head 0, then head 1
      const int64_t h = row / 9, dk = p.shape.dk, m = p.m;
      const float* x = p.q.data() + row * dk;
      float x_sq = 0.f;
      for (int64_t c = 0; c < dk; ++c) x_sq += x[c] * x[c];
      // float64 definition
      std::vector<double> xd(x, x + dk), wd(p.w.begin(), p.w.end()), bd(p.b.begin(), p.b.end()),
          od(p.omega.begin(), p.omega.end()), ref(m);
      FeatureParams<double> fp{wd.empty() ? nullptr : wd.data() + h * m * dk, bd.empty() ? nullptr : bd.data() + h * m,
                               od.empty() ? nullptr : od.data() + h * m * dk};
      v.phi->apply(ConstMatMap<double>(xd.data(), 1, dk), fp, MatMap<double>(ref.data(), 1, m));
      const FeatureSpec f = spec_for(v, p, h);
      double err = 0, norm = 0;
      for (int j = 0; j < m; ++j) {
        const double got = feature_at(f, x, x_sq, j);
        err = std::max(err, std::abs(got - ref[j]));
        norm = std::max(norm, std::abs(ref[j]));
      }
      EXPECT_LE(err, 1e-5 * std::max(1.0, norm)) << spec << " row " << row;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Maps, EveryMap, ::testing::Values("identity", "elu1", "relu_proj", "favor", "dpfp"),
                         [](const auto& info) { return info.param; });

TEST(TileFeatures, SumNormalisationMatchesTheCpuStage) {
  const Variant v = parse_variant("fwp");  // delta + dpfp: phi(q), phi(k) sum-normalised
  ASSERT_TRUE(v.sum_normalise);
  const Problem p = test::make(v, {1, 1, 5, 8, 8});
  const int64_t dk = p.shape.dk, m = p.m;
  std::vector<float> cpu(5 * m);
  compute_features(v, FeatureParams<float>{}, p.k.data(), 5, dk, m, cpu.data());
  const FeatureSpec f = spec_for(v, p, 0);
  for (int64_t t = 0; t < 5; ++t) {
    std::vector<float> raw(m);
    float sum = 0.f;
    for (int j = 0; j < m; ++j) sum += raw[j] = feature_at(f, p.k.data() + t * dk, 0.f, j);
    for (int j = 0; j < m; ++j) EXPECT_NEAR(sum_normalised(raw[j], sum), cpu[t * m + j], 1e-6) << t << "," << j;
  }
  EXPECT_EQ(sum_normalised(0.f, 0.f), 0.f);  // an all-zero row stays zero, no NaN
}

// The kernels' division (dfw_hd.hpp) scales a divisor outside [2^-100, 2^100] by a
// power of two before dividing: the quotient stays the correctly rounded one, from
// subnormal divisors to the largest floats.
TEST(TileFeatures, DivideNormalKeepsTheQuotientAtEveryDivisorScale) {
  for (float b : {0x1p-149f, 3e-42f, 0x1p-110f, 0x1p-100f, 7e-31f, 1e-6f, 0.75f, 3.f, 1e30f, 0x1p101f, 3e38f})
    for (float a : {1e-30f, 0.5f, 1.f, 3.f, 1e20f}) {
      const double exact = double(a) / double(b);
      if (std::fabs(exact) > 3e38 || std::fabs(exact) < 1e-37) continue;  // beyond a normal float
      EXPECT_EQ(divide_normal(a, b), float(exact)) << a << " / " << b;
      EXPECT_EQ(divide_normal(-a, b), -float(exact)) << -a << " / " << b;
    }
  EXPECT_TRUE(std::isinf(divide_normal(1e20f, 0x1p-149f)));  // overflows as a / b does
}

}  // namespace
}  // namespace dfw
