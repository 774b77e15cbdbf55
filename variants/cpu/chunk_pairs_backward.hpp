// The pairs inside one chunk of the chunked CPU backward (chunked_backward_cpu.cpp),
// j <= i < n <= 16, with A_ij, B_ij the gate products over (j, i]:
//   s_ij = (Q_i * B_ij) . K_j,   p_ij = (G_i * A_ij) . V_j;
//   dQ_i += sum_j p_ij B_ij * K_j,   dK_j += p_ij Q_i * B_ij,   dV_j += s_ij G_i * A_ij;
//   for j < i the pair's own terms of L, p_ij Q_i * B_ij * K_j per key column and
//   s_ij G_i * A_ij * V_j per value row, go to lam_t and mu_t for every t in (j, i]
//   (the d log b_t and d log a_t of the pairs that span t).
// Per query row i, from the last down: a walk down j decays the query and the output
// weights by one more gate per step (running products over each pair's own span, as
// the forward's chunk_diagonal.hpp does) and adds the pair's terms to dK_j, dV_j; a
// walk up sums dQ_i by Horner's rule (one key gate per step). dK, dV come in holding
// the outgoing state's parts, RB_j * (dS^T Vd_j) and RA_j * (dS Kd_j), whose terms
// span every t > j too. So with the rows from i up done, every term of dK_j (j < i)
// that spans t = i is in it and no other, and sum_{j<i} dK_j * K_j is their whole
// part of lam_i (sum_{j<i} dV_j * V_j of mu_i): each term as it is, never a
// difference. Rows are RegLanes (lanes.hpp): mr registers per query/key row, rr per
// value row; compiled for fixed (mr, rr) where the width is common, so the running
// rows live in registers.
#pragma once

#include <algorithm>
#include <cstdint>

#include "lanes.hpp"

namespace dfw {

struct PairRows {
  const RegLanes *Q, *K, *B;  // (n, mr) phi(q), c phi(k), key-side gate values
  const RegLanes *V, *A, *G;  // (n, rr) values, value-side gate values, output weights
  RegLanes *dQ, *dK, *lam;    // (16, mr) added to (dK: the outgoing state's part in)
  RegLanes *dV, *mu;          // (16, rr) added to (dV: as dK)
};

// MR, RR: registers per row, or 0 for the runtime mr, rr (running rows in scratch).
template <int MR, int RR, bool Gated>
void chunk_pairs_backward(const PairRows& c, int64_t n, int64_t mr_any, int64_t rr_any, RegLanes* scratch) {
  const int64_t mr = MR ? MR : mr_any, rr = RR ? RR : rr_any;
  RegLanes qb_fixed[MR ? MR : 1], ga_fixed[RR ? RR : 1], h_fixed[MR ? MR : 1];
  RegLanes eb_fixed[MR ? MR : 1], ea_fixed[RR ? RR : 1];
  RegLanes* qb = MR ? qb_fixed : scratch;
  RegLanes* h = MR ? h_fixed : scratch + mr;
  RegLanes* ga = RR ? ga_fixed : scratch + 2 * mr;
  RegLanes* eb = MR ? eb_fixed : scratch + 2 * mr + rr;
  RegLanes* ea = RR ? ea_fixed : scratch + 3 * mr + rr;
  RegLanes *dK = c.dK, *dV = c.dV;
  float s[16], p[16];
  for (int64_t i = n - 1; i >= 0; --i) {
    for (int64_t l = 0; l < mr; ++l) qb[l] = c.Q[i * mr + l];
    for (int64_t l = 0; l < rr; ++l) ga[l] = c.G[i * rr + l];
    for (int64_t j = i; j >= 0; --j) {
      if (Gated && j < i) {
        for (int64_t l = 0; l < mr; ++l) qb[l] *= c.B[(j + 1) * mr + l];
        for (int64_t l = 0; l < rr; ++l) ga[l] *= c.A[(j + 1) * rr + l];
      }
      const RegLanes* k = c.K + j * mr;
      const RegLanes* v = c.V + j * rr;
      RegLanes sd = qb[0] * k[0], pd = ga[0] * v[0];
      for (int64_t l = 1; l < mr; ++l) sd += qb[l] * k[l];
      for (int64_t l = 1; l < rr; ++l) pd += ga[l] * v[l];
      s[j] = reg_sum(sd), p[j] = reg_sum(pd);
      for (int64_t l = 0; l < mr; ++l) dK[j * mr + l] += p[j] * qb[l];
      for (int64_t l = 0; l < rr; ++l) dV[j * rr + l] += s[j] * ga[l];
    }
    // up: dQ_i by Horner (h_t = h_{t-1} * B_t + p_t K_t)
    for (int64_t l = 0; l < mr; ++l) h[l] = p[0] * c.K[l];
    for (int64_t t = 1; t <= i; ++t)
      for (int64_t l = 0; l < mr; ++l) h[l] = (Gated ? h[l] * c.B[t * mr + l] : h[l]) + p[t] * c.K[t * mr + l];
    for (int64_t l = 0; l < mr; ++l) c.dQ[i * mr + l] += h[l];
    if (!Gated || i == 0) continue;
    // the terms of dK_j, dV_j (j < i) that span t = i: all of them, now
    for (int64_t l = 0; l < mr; ++l) eb[l] = dK[l] * c.K[l];
    for (int64_t l = 0; l < rr; ++l) ea[l] = dV[l] * c.V[l];
    for (int64_t j = 1; j < i; ++j) {
      for (int64_t l = 0; l < mr; ++l) eb[l] += dK[j * mr + l] * c.K[j * mr + l];
      for (int64_t l = 0; l < rr; ++l) ea[l] += dV[j * rr + l] * c.V[j * rr + l];
    }
    for (int64_t l = 0; l < mr; ++l) c.lam[i * mr + l] += eb[l];
    for (int64_t l = 0; l < rr; ++l) c.mu[i * rr + l] += ea[l];
  }
}

// Dispatch on the widths of the common shapes (AVX2 registers of 8 floats:
// d = m = 64 -> 8, with the normaliser's row 10; d = m = 128 -> 16, 18; AVX-512
// halves them), else the runtime widths with the running rows in `scratch`
// (3 mr + 2 rr registers).
template <bool Gated>
void chunk_pairs_backward(const PairRows& c, int64_t n, int64_t mr, int64_t rr, RegLanes* scratch) {
  if (mr == 4 && rr == 4) return chunk_pairs_backward<4, 4, Gated>(c, n, mr, rr, scratch);
  if (mr == 4 && rr == 5) return chunk_pairs_backward<4, 5, Gated>(c, n, mr, rr, scratch);
  if (mr == 8 && rr == 8) return chunk_pairs_backward<8, 8, Gated>(c, n, mr, rr, scratch);
  if (mr == 8 && rr == 10) return chunk_pairs_backward<8, 10, Gated>(c, n, mr, rr, scratch);
  if (mr == 16 && rr == 16) return chunk_pairs_backward<16, 16, Gated>(c, n, mr, rr, scratch);
  chunk_pairs_backward<0, 0, Gated>(c, n, mr, rr, scratch);
}

}  // namespace dfw
