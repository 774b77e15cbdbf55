// identity: phi(x) = x, m = dk (the paper's choice for decaying fast weights).
#include "registry.hpp"

namespace dfw {
namespace {

class Identity final : public FeatureMapOf<Identity> {
 public:
  std::string name() const override { return "identity"; }
  bool is_identity() const override { return true; }
  std::string description() const override { return "phi(x) = x, m = dk"; }
  int64_t out_dim(int64_t dk, const FeatureConfig&) const override { return dk; }
  bool non_negative() const override { return false; }
  std::optional<double> flops_per_row(double, double) const override { return 0; }

  template <class R>
  static void map(ConstMatMap<R> x, const FeatureParams<R>&, MatMap<R> out) {
    out = x;
  }

  template <class R>
  static void vjp(ConstMatMap<R>, const FeatureParams<R>&, ConstMatMap<R> dout, MatMap<R> dx, const FeatureGrads<R>&) {
    dx = dout;
  }
};

const RegisterFeatureMap<Identity> kRegistered;

}  // namespace
}  // namespace dfw
