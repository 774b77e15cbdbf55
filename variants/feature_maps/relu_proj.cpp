// relu_proj: phi(x) = relu(W x + b), W (m, dk), b (m) given as inputs (T2R, Kasai et al. 2021).
#include "registry.hpp"

namespace dfw {
namespace {

class ReluProj final : public FeatureMapOf<ReluProj> {
 public:
  std::string name() const override { return "relu_proj"; }
  std::string description() const override { return "phi(x) = relu(W x + b), W (m, dk), m = spec m (default dk)"; }
  int64_t out_dim(int64_t dk, const FeatureConfig& cfg) const override { return cfg.m > 0 ? cfg.m : dk; }
  bool needs_projection() const override { return true; }
  bool non_negative() const override { return true; }
  std::optional<double> flops_per_row(double dk, double m) const override { return 2 * m * dk + 2 * m; }

  template <class R>
  static void map(ConstMatMap<R> x, const FeatureParams<R>& p, MatMap<R> out) {
    const int64_t m = out.cols(), dk = x.cols();
    ConstMatMap<R> w(p.w, m, dk);
    ConstVecMap<R> b(p.b, m);
    out.noalias() = x * w.transpose();
    out.rowwise() += b.transpose();
    out = out.cwiseMax(R(0));
  }

  // G = dout * [W x + b > 0]: dx = G W, dW += G^T x, db += column sums of G.
  template <class R>
  static void vjp(ConstMatMap<R> x, const FeatureParams<R>& p, ConstMatMap<R> dout, MatMap<R> dx,
                  const FeatureGrads<R>& grads) {
    const int64_t m = dout.cols(), dk = x.cols();
    ConstMatMap<R> w(p.w, m, dk);
    ConstVecMap<R> b(p.b, m);
    RowMat<R> pre = x * w.transpose();
    pre.rowwise() += b.transpose();
    const RowMat<R> g = (pre.array() > R(0)).select(dout, R(0));
    dx.noalias() = g * w;
    if (grads.dw) MatMap<R>(grads.dw, m, dk).noalias() += g.transpose() * x;
    if (grads.db) VecMap<R>(grads.db, m) += g.colwise().sum().transpose();
  }
};

const RegisterFeatureMap<ReluProj> kRegistered;

}  // namespace
}  // namespace dfw
