// identity: phi(x) = x, m = dk (the paper's choice for decaying fast weights).
#include "../feature_map.hpp"

namespace dfw {
namespace {

class Identity final : public FeatureMapOf<Identity> {
 public:
  std::string name() const override { return "identity"; }
  bool is_identity() const override { return true; }
  std::string description() const override { return "phi(x) = x, m = dk"; }
  int64_t out_dim(int64_t dk, const FeatureConfig&) const override { return dk; }
  bool non_negative() const override { return false; }

  template <class R>
  static void map(ConstMatMap<R> x, const FeatureParams<R>&, MatMap<R> out) {
    out = x;
  }
};

}  // namespace

std::unique_ptr<FeatureMap> make_identity_map() { return std::make_unique<Identity>(); }

}  // namespace dfw
