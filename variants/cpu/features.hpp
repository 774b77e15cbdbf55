// The feature stage every stateful form shares: phi(q), phi(k) for a run of rows,
// sum-normalised when the variant says so (delta with a non-identity map).
#pragma once

#include "../eigen_types.hpp"
#include "../variant.hpp"

namespace dfw {

// Each row divided by its sum; a row whose sum is not positive stays as it is.
template <class R>
void sum_normalise_rows(MatMap<R> f) {
  for (int64_t i = 0; i < f.rows(); ++i) {
    const R sum = f.row(i).sum();
    if (sum > R(0)) f.row(i) /= sum;
  }
}

// x: (n, dk) rows; out: (n, m). A row whose features sum to 0 stays 0.
template <class R>
void compute_features(const Variant& variant, const FeatureParams<R>& params, const R* x, int64_t n, int64_t dk,
                      int64_t m, R* out) {
  MatMap<R> f(out, n, m);
  variant.phi->apply(ConstMatMap<R>(x, n, dk), params, f);
  if (variant.sum_normalise) sum_normalise_rows(f);
}

// y (dv) from the augmented state row block: y = S phi(q), divided by
// z . phi(q) + eps when normalised (rows = dv + 1, last row z).
template <class R>
void read_output(const R* S, int64_t dv, int64_t m, bool normalise, const R* fq, R* y) {
  ConstMatMap<R> s(S, dv, m);
  ConstVecMap<R> q(fq, m);
  VecMap<R> out(y, dv);
  out.noalias() = s * q;
  if (normalise) out /= (ConstVecMap<R>(S + dv * m, m).dot(q) + R(kNormEps));
}

}  // namespace dfw
