// The float64 reference backward of softmax for one (b, h), exposed for the
// finite-difference test (the stateful variants' is RecurrentBackward<double>).
#pragma once

#include <cstdint>

namespace dfw {

// Exact causal softmax attention backward: q, k (T, dk), v, dy (T, dv) in;
// dq, dk (T, dk), dv (T, dv) written.
void softmax_backward_head(int64_t T, int64_t dk, int64_t dv, const double* q, const double* k, const double* v,
                           const double* dy, double* dq, double* dkk, double* dvv);

}  // namespace dfw
