// dpfp: deterministic parameter-free projection of order nu (Schlag et al. 2021).
//   r = [relu(x), relu(-x)] (2 dk),  phi(x) = concat_{j=1..nu} r * roll(r, j),  m = 2 dk nu.
// roll(r, j)_i = r_{(i - j) mod 2dk}, as numpy.roll / torch.roll.
#include "registry.hpp"

namespace dfw {
namespace {

class Dpfp final : public FeatureMapOf<Dpfp> {
 public:
  std::string name() const override { return "dpfp"; }
  std::string description() const override { return "phi(x) = concat_j r*roll(r,j), r = [relu(x), relu(-x)], m = 2 dk nu"; }
  int64_t out_dim(int64_t dk, const FeatureConfig& cfg) const override { return 2 * dk * cfg.nu; }
  bool non_negative() const override { return true; }
  std::optional<double> flops_per_row(double dk, double m) const override { return 2 * dk + m; }

  template <class R>
  static void map(ConstMatMap<R> x, const FeatureParams<R>&, MatMap<R> out) {
    const int64_t n = x.rows(), dk = x.cols(), r_len = 2 * dk;
    const int64_t nu = out.cols() / r_len;
    Vec<R> r(r_len);
    for (int64_t t = 0; t < n; ++t) {
      r.head(dk) = x.row(t).transpose().cwiseMax(R(0));
      r.tail(dk) = (-x.row(t).transpose()).cwiseMax(R(0));
      for (int64_t j = 1; j <= nu; ++j) {
        R* o = out.row(t).data() + (j - 1) * r_len;
        for (int64_t i = 0; i < r_len; ++i) o[i] = r[i] * r[(i - j + r_len * nu) % r_len];
      }
    }
  }

  // phi_{j,i} = r_i r_{(i - j) mod 2dk}: each product sends dout times the other
  // factor to both r entries; dr goes to x through relu(x) and relu(-x).
  template <class R>
  static void vjp(ConstMatMap<R> x, const FeatureParams<R>&, ConstMatMap<R> dout, MatMap<R> dx,
                  const FeatureGrads<R>&) {
    const int64_t n = x.rows(), dk = x.cols(), r_len = 2 * dk;
    const int64_t nu = dout.cols() / r_len;
    Vec<R> r(r_len), dr(r_len);
    for (int64_t t = 0; t < n; ++t) {
      r.head(dk) = x.row(t).transpose().cwiseMax(R(0));
      r.tail(dk) = (-x.row(t).transpose()).cwiseMax(R(0));
      dr.setZero();
      for (int64_t j = 1; j <= nu; ++j) {
        const R* d = dout.row(t).data() + (j - 1) * r_len;
        for (int64_t i = 0; i < r_len; ++i) {
          const int64_t other = (i - j + r_len * nu) % r_len;
          dr[i] += d[i] * r[other];
          dr[other] += d[i] * r[i];
        }
      }
      for (int64_t c = 0; c < dk; ++c) {
        const R xc = x(t, c);
        dx(t, c) = xc > R(0) ? dr[c] : (xc < R(0) ? -dr[dk + c] : R(0));
      }
    }
  }
};

const RegisterFeatureMap<Dpfp> kRegistered;

}  // namespace
}  // namespace dfw
