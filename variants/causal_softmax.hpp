// One row of exact causal softmax attention in float64, shared by the forward and
// backward references: p_j = softmax_j(s q_t . k_j) over j <= t, s = 1/sqrt(dk),
// max-shifted before the exponential.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace dfw {

// q, k (T, dk) row-major; p (t + 1) written.
inline void causal_softmax_row(const double* q, const double* k, int64_t t, int64_t dk, double* p) {
  const double scale = 1.0 / std::sqrt(double(dk));
  double mx = -INFINITY;
  for (int64_t j = 0; j <= t; ++j) {
    double s = 0;
    for (int64_t c = 0; c < dk; ++c) s += q[t * dk + c] * k[j * dk + c];
    p[j] = s * scale;
    mx = std::max(mx, p[j]);
  }
  double denom = 0;
  for (int64_t j = 0; j <= t; ++j) denom += (p[j] = std::exp(p[j] - mx));
  for (int64_t j = 0; j <= t; ++j) p[j] /= denom;
}

}  // namespace dfw
