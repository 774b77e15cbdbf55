// elu1: phi(x) = elu(x) + 1 elementwise (Katharopoulos et al. 2020), m = dk.
#include "registry.hpp"

namespace dfw {
namespace {

class Elu1 final : public FeatureMapOf<Elu1> {
 public:
  std::string name() const override { return "elu1"; }
  std::string description() const override { return "phi(x) = elu(x) + 1, m = dk"; }
  int64_t out_dim(int64_t dk, const FeatureConfig&) const override { return dk; }
  bool non_negative() const override { return true; }
  std::optional<double> flops_per_row(double, double m) const override { return m; }

  template <class R>
  static void map(ConstMatMap<R> x, const FeatureParams<R>&, MatMap<R> out) {
    // elu(x) + 1 = x + 1 for x > 0, exp(x) for x <= 0, written as
    // max(x, 0) + exp(min(x, 0)) so that Eigen vectorises it (select does not).
    out = x.array().max(R(0)) + x.array().min(R(0)).exp();
  }

  // d phi / dx = 1 for x > 0, exp(x) for x <= 0.
  template <class R>
  static void vjp(ConstMatMap<R> x, const FeatureParams<R>&, ConstMatMap<R> dout, MatMap<R> dx,
                  const FeatureGrads<R>&) {
    dx = dout.array() * (x.array() > R(0)).select(R(1), x.array().exp());
  }
};

const RegisterFeatureMap<Elu1> kRegistered;

}  // namespace
}  // namespace dfw
