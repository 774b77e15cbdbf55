// The pairs inside one chunk of the gated-linear chunked CPU form (chunked_cpu.cpp):
//   Y_i += sum_{j<=i} prod_{(j,i]} a * v_j s_ij,   s_ij = (q_i * prod_{(j,i]} b) . k_j
// for i < n <= 16. The scores walk back from j = i, decaying the query by one more
// key gate per step (each factor a running product over its own span, never a
// ratio); the values are summed forward by Horner's rule, one value gate per step.
// Rows are Lanes (lanes.hpp): mv Lanes per query/key row, rv per value/output row.
// Compiled for fixed (mv, rv) where the width is common (the decayed query and
// the Horner sum then live in registers), and for any width through scratch.
#pragma once

#include <cstdint>

#include "lanes.hpp"

namespace dfw {

struct ChunkRows {
  const Lanes* Q;  // (n, mv) phi(q)
  const Lanes* K;  // (n, mv) c_t phi(k)
  const Lanes* B;  // (n, mv) key-side gate values (unused when ungated)
  const Lanes* V;  // (n, rv) values
  const Lanes* A;  // (n, rv) value-side gate values (unused when ungated)
  Lanes* Y;        // (n, rv) outputs, added to
};

// qg (mv Lanes) and W (rv Lanes) are where the decayed query and the Horner sum
// live, as target registers (RegLanes, lanes.hpp).
template <bool Gated>
inline void chunk_diagonal_row(const ChunkRows& c, int64_t i, int64_t mv, int64_t rv, RegLanes* qg, RegLanes* W) {
  const int64_t mr = mv * kRegsPerLanes, rr = rv * kRegsPerLanes;
  const RegLanes *Q = regs(c.Q), *K = regs(c.K), *B = regs(c.B), *V = regs(c.V), *A = regs(c.A);
  RegLanes* Y = regs(c.Y);
  float s[16];
  for (int64_t l = 0; l < mr; ++l) qg[l] = Q[i * mr + l];
  for (int64_t j = i; j >= 0; --j) {
    if (Gated && j < i)
      for (int64_t l = 0; l < mr; ++l) qg[l] *= B[(j + 1) * mr + l];
    RegLanes dot = qg[0] * K[j * mr];
    for (int64_t l = 1; l < mr; ++l) dot += qg[l] * K[j * mr + l];
    s[j] = reg_sum(dot);
  }
  for (int64_t l = 0; l < rr; ++l) W[l] = s[0] * V[l];
  for (int64_t j = 1; j <= i; ++j)
    for (int64_t l = 0; l < rr; ++l)
      W[l] = (Gated ? W[l] * A[j * rr + l] : W[l]) + s[j] * V[j * rr + l];
  for (int64_t l = 0; l < rr; ++l) Y[i * rr + l] += W[l];
}

// Fixed widths: MV, RV known at compile time, qg and W in registers.
template <int MV, int RV, bool Gated>
void chunk_diagonal_fixed(const ChunkRows& c, int64_t n) {
  RegLanes qg[MV * kRegsPerLanes], W[RV * kRegsPerLanes];
  for (int64_t i = 0; i < n; ++i) chunk_diagonal_row<Gated>(c, i, MV, RV, qg, W);
}

// Any width: qg (mv Lanes) and W (rv Lanes) in the caller's scratch.
template <bool Gated>
void chunk_diagonal_any(const ChunkRows& c, int64_t n, int64_t mv, int64_t rv, Lanes* qg, Lanes* W) {
  for (int64_t i = 0; i < n; ++i) chunk_diagonal_row<Gated>(c, i, mv, rv, regs(qg), regs(W));
}

// Dispatch on the widths of the common shapes: d = m = 64 or 128, with or
// without the normaliser row (rows = dv + 1).
template <bool Gated>
void chunk_diagonal(const ChunkRows& c, int64_t n, int64_t mv, int64_t rv, Lanes* qg, Lanes* W) {
  if (mv == 4 && rv == 4) return chunk_diagonal_fixed<4, 4, Gated>(c, n);
  if (mv == 4 && rv == 5) return chunk_diagonal_fixed<4, 5, Gated>(c, n);
  if (mv == 8 && rv == 8) return chunk_diagonal_fixed<8, 8, Gated>(c, n);
  if (mv == 8 && rv == 9) return chunk_diagonal_fixed<8, 9, Gated>(c, n);
  chunk_diagonal_any<Gated>(c, n, mv, rv, qg, W);
}

}  // namespace dfw
