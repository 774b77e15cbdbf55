// What every CPU backward of a stateful variant shares (docs/MATH.md "Gradients"):
// a head's features (phi as the map gives it, and the rows the rule uses, sum-
// normalised when the variant says so), the VJP back through them into dq or dk
// (and dw, db), and a token's gate-input gradients from its factors' gradients.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../eigen_types.hpp"
#include "../rule.hpp"
#include "../variant.hpp"
#include "features.hpp"

namespace dfw {

// x (T, dk) -> raw = phi(x) (T, m) and used (T, m): raw, sum-normalised if asked
// (used may be raw itself when the variant does not sum-normalise).
template <class R>
void head_features(const Variant& var, const FeatureParams<R>& params, const R* x, int64_t T, int64_t dk, int64_t m,
                   R* raw, R* used) {
  var.phi->apply(ConstMatMap<R>(x, T, dk), params, MatMap<R>(raw, T, m));
  if (used != raw) std::copy(raw, raw + T * m, used);
  if (var.sum_normalise) sum_normalise_rows(MatMap<R>(used, T, m));
}

// d = dL/d(used) (T, m), overwritten: through the sum normalisation, then the map's
// VJP into dx (T, dk) and grads (dw, db added to).
template <class R>
void head_feature_vjp(const Variant& var, const FeatureParams<R>& params, const R* x, int64_t T, int64_t dk, int64_t m,
                      const R* raw, const R* used, R* d, R* dx, const FeatureGrads<R>& grads) {
  if (var.sum_normalise) {
    // f~ = f / s, s = sum(f) > 0: df = (df~ - (df~ . f~)) / s; a zero-sum row passes through.
    for (int64_t t = 0; t < T; ++t) {
      const R sum = ConstVecMap<R>(raw + t * m, m).sum();
      if (!(sum > R(0))) continue;
      VecMap<R> row(d + t * m, m);
      const R dot = row.dot(ConstVecMap<R>(used + t * m, m));
      row = (row.array() - dot) / sum;
    }
  }
  var.phi->vjp(ConstMatMap<R>(x, T, dk), params, ConstMatMap<R>(d, T, m), MatMap<R>(dx, T, dk), grads);
}

// One token of a gated-linear rule S_t = (a b^T) * S_{t-1} + c v phi(k)^T: given
// da (rows), db (m) and dc, the gradients of its gate inputs by the rule's
// FactorForm. gate_rows factors are copied out (dgate_v: dv, dgate_k: m; the rules
// that read gate rows define no normaliser, so rows == dv there); the scalar gate's
// gradient is returned (0 when the rule reads none). copy_row(dst, src, n) writes a row.
struct CopyRow {
  template <class R>
  void operator()(R* dst, const R* src, int64_t n) const {
    std::copy(src, src + n, dst);
  }
};
template <class R, class Copy = CopyRow>
R factor_grads_to_gates(const FactorForm& form, const R* da, const R* db, R dc, int64_t rows, int64_t dv, int64_t m,
                        R* dgate_v, R* dgate_k, const Copy& copy_row = {}) {
  R g = R(0);
  auto signed_sum = [](Factor f, R sum) { return f == Factor::gate ? sum : f == Factor::one_minus_gate ? -sum : R(0); };
  if (form.a == Factor::gate || form.a == Factor::one_minus_gate)
    g += signed_sum(form.a, ConstVecMap<R>(da, rows).sum());
  if (form.b == Factor::gate || form.b == Factor::one_minus_gate) g += signed_sum(form.b, ConstVecMap<R>(db, m).sum());
  g += signed_sum(form.c, dc);
  if (form.a == Factor::gate_rows && dgate_v) copy_row(dgate_v, da, dv);
  if (form.b == Factor::gate_rows && dgate_k) copy_row(dgate_k, db, m);
  return g;
}

}  // namespace dfw
