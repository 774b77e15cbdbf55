// The per-token state update of the gated-linear rules and the delta rule, for
// one state row held as a lane's segment of columns (col = lane + i * stride).
// The CUDA fast-weight kernel runs it with stride 32 and a warp-shuffle sum;
// the CPU tile tests run it with one lane (stride 1) and a plain sum.
//
// Every rule is  s_c <- s_c * (row_decay * col_decay_c) + write * phi(k)_c :
//   add:   row_decay 1,     col_decay 1,     write v_r
//   gated: row_decay g,     col_decay 1,     write (1 - g) v_r
//   decay: row_decay a_r,   col_decay b_c,   write v_r
//   delta: row_decay 1,     col_decay 1,     write beta (v_r - S_r . phi(k))
// A normalised variant carries z as one more row with v_r = 1.
#pragma once

#include "dfw_hd.hpp"

namespace dfw {

enum class RuleKind : int { add, gated, delta, decay };

struct RowCoefficients {
  float row_decay;
  float write;
};

DFW_HD RowCoefficients row_coefficients(RuleKind rule, float v_r, float g, float beta, float a_r,
                                        float prediction) {
  switch (rule) {
    case RuleKind::add: return {1.f, v_r};
    case RuleKind::gated: return {g, (1.f - g) * v_r};
    case RuleKind::decay: return {a_r, v_r};
    case RuleKind::delta: return {1.f, beta * (v_r - prediction)};
  }
  return {1.f, 0.f};
}

// Partial dot product of this lane's columns of the row with f (m).
template <int N>
DFW_HD float segment_dot(const float (&s)[N], const float* f, int lane, int stride, int m) {
  float acc = 0.f;
DFW_UNROLL
  for (int i = 0; i < N; ++i) {
    const int c = lane + i * stride;
    if (c < m) acc += s[i] * f[c];
  }
  return acc;
}

// col_decay: (m) key-side gates of this token, or nullptr (all 1).
template <int N>
DFW_HD void segment_update(float (&s)[N], RowCoefficients k, const float* col_decay, const float* fk, int lane,
                           int stride, int m) {
DFW_UNROLL
  for (int i = 0; i < N; ++i) {
    const int c = lane + i * stride;
    if (c < m) {
      const float decay = col_decay ? k.row_decay * col_decay[c] : k.row_decay;
      s[i] = s[i] * decay + k.write * fk[c];
    }
  }
}

// One token on one row: update, then the row's output S_r . phi(q).
// sum(x) returns the total of x over the lanes sharing the row.
template <int N, class LaneSum>
DFW_HD float fast_weight_row_step(RuleKind rule, float (&s)[N], const float* fk, const float* fq,
                                  const float* col_decay, float v_r, float g, float beta, float a_r, int lane,
                                  int stride, int m, LaneSum sum) {
  const float prediction = rule == RuleKind::delta ? sum(segment_dot(s, fk, lane, stride, m)) : 0.f;
  segment_update(s, row_coefficients(rule, v_r, g, beta, a_r, prediction), col_decay, fk, lane, stride, m);
  return sum(segment_dot(s, fq, lane, stride, m));
}

}  // namespace dfw
