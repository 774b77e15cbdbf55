// example_square: phi(x) = x * x elementwise, m = dk. Written only from README
// "Adding a variant" (a feature map); dfw_example_tests compiles it as if it were
// a file of variants/feature_maps/ and checks it (example_variant_test.cpp).
#include "registry.hpp"

namespace dfw {
namespace {

class ExampleSquare final : public FeatureMapOf<ExampleSquare> {
 public:
  std::string name() const override { return "example_square"; }
  std::string description() const override { return "phi(x) = x * x, m = dk (README example)"; }
  int64_t out_dim(int64_t dk, const FeatureConfig&) const override { return dk; }
  bool non_negative() const override { return true; }
  std::optional<double> flops_per_row(double, double m) const override { return m; }

  template <class R>
  static void map(ConstMatMap<R> x, const FeatureParams<R>&, MatMap<R> out) {
    out = x.array().square();
  }
};

const RegisterFeatureMap<ExampleSquare> kRegistered;

}  // namespace
}  // namespace dfw
