// Online softmax (flash attention) and the flash-decoding combine, shared by the
// CUDA softmax kernels and the CPU tile tests.
//   running state per query row: max M and sum L of exp(score - M); the value
//   accumulator acc is rescaled by exp(M_old - M_new) whenever M grows.
//   a split's partial record is [M, L, acc(dv)]; the combine weights each split
//   by exp(M_i - max_i M_i).
#pragma once

#include <math.h>

#include "dfw_hd.hpp"

namespace dfw {

struct OnlineSoftmax {
  float max = -INFINITY;
  float sum = 0.f;
};

// Folds in a tile whose largest score is tile_max: raises the running max and
// returns the factor the old sum (already applied) and acc (caller) are scaled by.
DFW_HD float online_softmax_rescale(OnlineSoftmax& st, float tile_max) {
  const float new_max = fmaxf(st.max, tile_max);
  const float factor = st.max == -INFINITY ? 0.f : expf(st.max - new_max);
  st.max = new_max;
  st.sum *= factor;
  return factor;
}

// exp(score - running max) for one key, after online_softmax_rescale.
DFW_HD float online_softmax_weight(const OnlineSoftmax& st, float score) { return expf(score - st.max); }

// Two running states of disjoint key sets merged into a; returns {fa, fb}, the
// factors a's and b's accumulators are scaled by before they are added.
struct MergeFactors {
  float a, b;
};
DFW_HD MergeFactors online_softmax_merge(OnlineSoftmax& a, const OnlineSoftmax& b) {
  const float new_max = fmaxf(a.max, b.max);
  const float fa = a.max == -INFINITY ? 0.f : expf(a.max - new_max);
  const float fb = b.max == -INFINITY ? 0.f : expf(b.max - new_max);
  a.sum = a.sum * fa + b.sum * fb;
  a.max = new_max;
  return {fa, fb};
}

// Flash-decoding partial records: n records of [max, sum, acc(dv)], stride dv + 2.
DFW_HD int partial_stride(int dv) { return dv + 2; }

// Output column c of one query from its n split partials.
DFW_HD float combine_partials(const float* partials, int n, int dv, int c) {
  const int stride = partial_stride(dv);
  float global_max = -INFINITY;
  for (int i = 0; i < n; ++i) global_max = fmaxf(global_max, partials[i * stride]);
  float sum = 0.f, acc = 0.f;
  for (int i = 0; i < n; ++i) {
    const float* p = partials + i * stride;
    const float w = p[0] == -INFINITY ? 0.f : expf(p[0] - global_max);
    sum += p[1] * w;
    acc += p[2 + c] * w;
  }
  return acc / sum;
}

}  // namespace dfw
