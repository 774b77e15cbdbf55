// favor: Performer FAVOR+ positive random features (Choromanski et al. 2020).
//   x' = x / dk^(1/4),  phi(x)_i = exp(omega_i . x' - |x'|^2 / 2) / sqrt(m),
// omega (m, dk) given as input, so E[phi(q) . phi(k)] = exp(q . k / sqrt(dk)).
#include <cmath>

#include "registry.hpp"

namespace dfw {
namespace {

class Favor final : public FeatureMapOf<Favor> {
 public:
  std::string name() const override { return "favor"; }
  std::string description() const override {
    return "phi(x)_i = exp(w_i.x' - |x'|^2/2)/sqrt(m), x' = x/dk^(1/4), m = spec m (default dk)";
  }
  int64_t out_dim(int64_t dk, const FeatureConfig& cfg) const override { return cfg.m > 0 ? cfg.m : dk; }
  bool needs_omega() const override { return true; }
  bool non_negative() const override { return true; }
  std::optional<double> flops_per_row(double dk, double m) const override { return 2 * m * dk + 3 * dk + 3 * m; }

  template <class R>
  static void map(ConstMatMap<R> x, const FeatureParams<R>& p, MatMap<R> out) {
    const int64_t m = out.cols(), dk = x.cols();
    const R scale = R(1) / std::pow(R(dk), R(0.25));
    ConstMatMap<R> omega(p.omega, m, dk);
    out.noalias() = (scale * x) * omega.transpose();
    Vec<R> half_norm = (x.rowwise().squaredNorm() * (scale * scale * R(0.5)));
    out.colwise() -= half_norm;
    out = out.array().exp() * (R(1) / std::sqrt(R(m)));
  }

  // d phi_i / dx = phi_i (omega_i - x') / dk^(1/4): with G = dout * phi,
  // dx = (G omega - rowsum(G) x') / dk^(1/4). omega is fixed: no gradient.
  template <class R>
  static void vjp(ConstMatMap<R> x, const FeatureParams<R>& p, ConstMatMap<R> dout, MatMap<R> dx,
                  const FeatureGrads<R>&) {
    const int64_t n = x.rows(), m = dout.cols(), dk = x.cols();
    const R scale = R(1) / std::pow(R(dk), R(0.25));
    RowMat<R> phi(n, m);
    map(x, p, MatMap<R>(phi.data(), n, m));
    const RowMat<R> g = dout.cwiseProduct(phi);
    const Vec<R> total = g.rowwise().sum();
    dx.noalias() = scale * (g * ConstMatMap<R>(p.omega, m, dk));
    dx -= (scale * scale) * (total.asDiagonal() * x);
  }
};

const RegisterFeatureMap<Favor> kRegistered;

}  // namespace
}  // namespace dfw
