// The per-tile gate arithmetic of the chunked gated-linear prefill (add, gated,
// decay: S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T), shared by the CUDA
// kernel (kernels/chunked_prefill_kernel.cu) and the CPU tile test. It is the
// scheme of variants/cpu/chunked_cpu.cpp: sub-chunks of 16 tokens; every
// exponent is a sum of log gates (<= 0) over its own span -- prefix and suffix
// sums inside a sub-chunk, totals of whole sub-chunks -- and the diagonal
// sub-chunk pairs use running products of gate values, so nothing overflows for
// gates near 0 and no long cumulative sums are subtracted.
#pragma once

#include <math.h>

#include "dfw_hd.hpp"
#include "rule_math.hpp"

namespace dfw {

constexpr int kChunkSub = 16;  // sub-chunk length (also the MMA tile edge)

// The factors of one token of the gated-linear family, for state row r
// (r == dv is the normaliser row z, which follows the rule with v = 1) and
// feature column c. g: the scalar gate (gated); a_t: (dv) value-side gates and
// b_t: (m) key-side gates (decay), nullptr otherwise.
DFW_HD float row_gate(RuleKind rule, float g, const float* a_t, int r, int dv) {
  if (rule == RuleKind::gated) return g;
  if (rule == RuleKind::decay && r < dv) return a_t[r];
  return 1.f;
}
DFW_HD float column_gate(RuleKind rule, const float* b_t, int c) {
  return rule == RuleKind::decay ? b_t[c] : 1.f;
}
// c_t, the scale of the write v_t phi(k_t)^T.
DFW_HD float write_scale(RuleKind rule, float g) { return rule == RuleKind::gated ? 1.f - g : 1.f; }

// One column of one sub-chunk of len <= 16 tokens (gate values at gate[i * stride]):
//   ep[i] = e^{sum_{l <= i} log g_l}  (prefix, inclusive)
//   es[i] = e^{sum_{l > i} log g_l}   (suffix, after the token)
//   log_total = sum_l log g_l
struct SubChunkColumn {
  float ep[kChunkSub];
  float es[kChunkSub];
  float log_total;
};

DFW_HD SubChunkColumn sub_chunk_column(const float* gate, int stride, int len) {
  SubChunkColumn s;
  float lg[kChunkSub];
  float run = 0.f;
DFW_UNROLL
  for (int i = 0; i < kChunkSub; ++i) {
    lg[i] = i < len ? logf(gate[i * stride]) : 0.f;
    run += lg[i];
    s.ep[i] = expf(run);
  }
  s.log_total = run;
  run = 0.f;
DFW_UNROLL
  for (int i = kChunkSub - 1; i >= 0; --i) {
    s.es[i] = expf(run);
    run += lg[i];
  }
  return s;
}

// Sums of whole sub-chunk log totals (totals[J * stride], J = sub-chunk):
// before I = sum_{J < I} (ascending); between J and I = sum_{J < L < I} and after I
// = sum_{L > I} (both descending from the far end), the orders of chunked_cpu.cpp.
DFW_HD float log_total_before(const float* totals, int stride, int I) {
  float s = 0.f;
  for (int J = 0; J < I; ++J) s += totals[J * stride];
  return s;
}
DFW_HD float log_total_between(const float* totals, int stride, int J, int I) {
  float s = 0.f;
  for (int L = I - 1; L > J; --L) s += totals[L * stride];
  return s;
}
DFW_HD float log_total_after(const float* totals, int stride, int I, int ns) {
  float s = 0.f;
  for (int L = ns - 1; L > I; --L) s += totals[L * stride];
  return s;
}

// Diagonal sub-chunk, scores of one key token j against the queries i in [j, len):
//   d[i] = sum_c Q_i[c] K_j[c] prod_{l = j+1..i} B_l[c]
// with the key-side running product kept per column. Q, K, B: the sub-chunk's rows
// (row stride ld); B nullptr: all key gates 1. This lane owns columns
// c = lane + stride * u (u < N); sum(x) totals x over the lanes. Lane 0 writes
// d[i * d_stride].
template <int N, class LaneSum>
DFW_HD void diag_scores_for_key(const float* Q, const float* K, const float* B, int ld, int j, int len, int m,
                                int lane, int stride, LaneSum sum, float* d, int d_stride) {
  float run[N];
  float kj[N];
DFW_UNROLL
  for (int u = 0; u < N; ++u) {
    const int c = lane + stride * u;
    run[u] = 1.f;
    kj[u] = c < m ? K[j * ld + c] : 0.f;
  }
  for (int i = j; i < len; ++i) {
    float part = 0.f;
DFW_UNROLL
    for (int u = 0; u < N; ++u) {
      const int c = lane + stride * u;
      if (c < m) {
        if (B && i > j) run[u] *= B[i * ld + c];
        part += Q[i * ld + c] * kj[u] * run[u];
      }
    }
    const float s = sum(part);
    if (lane == 0) d[i * d_stride] = s;
  }
}

// Diagonal sub-chunk, one output element: sum_{j <= i} d_i[j] prod_{l = j+1..i} A_l[r] V_j[r],
// the value-side running product taken from j = i downwards. A, V: the sub-chunk's
// rows (row stride ld), column r; d_i: the scores of query i (d_i[j], j <= i).
DFW_HD float diag_value(const float* d_i, const float* A, const float* V, int ld, int i, int r) {
  float acc = 0.f, run = 1.f;
  for (int j = i; j >= 0; --j) {
    if (j < i) run *= A[(j + 1) * ld + r];
    acc += d_i[j] * run * V[j * ld + r];
  }
  return acc;
}

}  // namespace dfw
