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
// rows live in registers. Where two rows' running products fit the registers
// (AVX-512, d = m = 64), chunk_pairs_backward_two_rows walks two query rows at once.
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

// lam_i += sum_{j<i} dK_j * K_j, mu_i += sum_{j<i} dV_j * V_j (0 < i): with the rows
// from i up done, the terms of dK_j, dV_j that span t = i (eb, ea: mr, rr registers).
inline void add_spanning_terms(const PairRows& c, int64_t i, int64_t mr, int64_t rr, RegLanes* eb, RegLanes* ea) {
  for (int64_t l = 0; l < mr; ++l) eb[l] = c.dK[l] * c.K[l];
  for (int64_t l = 0; l < rr; ++l) ea[l] = c.dV[l] * c.V[l];
  for (int64_t j = 1; j < i; ++j) {
    for (int64_t l = 0; l < mr; ++l) eb[l] += c.dK[j * mr + l] * c.K[j * mr + l];
    for (int64_t l = 0; l < rr; ++l) ea[l] += c.dV[j * rr + l] * c.V[j * rr + l];
  }
  for (int64_t l = 0; l < mr; ++l) c.lam[i * mr + l] += eb[l];
  for (int64_t l = 0; l < rr; ++l) c.mu[i * rr + l] += ea[l];
}

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
    add_spanning_terms(c, i, mr, rr, eb, ea);  // all of them, now
  }
}

#if defined(__AVX512F__)
// sums[0..3]: the sums of a's, b's, c's, d's lanes, each in every lane. One butterfly
// over the four at once: 12 shuffles where four reg_sum and their broadcasts take 24.
inline void reg_sums4(RegLanes a, RegLanes b, RegLanes c, RegLanes d, RegLanes* sums) {
  const RegLanes x = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                     __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const RegLanes y = __builtin_shufflevector(c, d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                     __builtin_shufflevector(c, d, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  // quarters of z: a's, c's, b's, d's partial sums of four lanes each
  RegLanes z = __builtin_shufflevector(x, y, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
               __builtin_shufflevector(x, y, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  z += __builtin_shufflevector(z, z, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  z += __builtin_shufflevector(z, z, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  sums[0] = __builtin_shufflevector(z, z, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3);
  sums[1] = __builtin_shufflevector(z, z, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11);
  sums[2] = __builtin_shufflevector(z, z, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7);
  sums[3] = __builtin_shufflevector(z, z, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15);
}

// The same pairs two query rows at a time, u = i and l = i - 1, for widths whose two
// rows' running products fit the 32 registers of AVX-512 (d = m = 64): one walk down
// j serves both, so K_j, V_j, the gates and dK_j, dV_j are loaded and stored once for
// two pairs, and the four dot products of a step are reduced together (reg_sums4).
// Row u's part of lam_u is summed in the walk (dK_j after row u, before row l, is in
// a register there); row l's as chunk_pairs_backward does it, after the walk.
template <int MR, int RR, bool Gated>
void chunk_pairs_backward_two_rows(const PairRows& c, int64_t n) {
  RegLanes *dK = c.dK, *dV = c.dV;
  // Row i's pair with itself (j = i, no gate between): adds its terms to dK_i, dV_i; p_ii.
  auto own_pair = [&](int64_t i) {
    RegLanes sd = c.Q[i * MR] * c.K[i * MR], pd = c.G[i * RR] * c.V[i * RR];
    for (int h = 1; h < MR; ++h) sd += c.Q[i * MR + h] * c.K[i * MR + h];
    for (int h = 1; h < RR; ++h) pd += c.G[i * RR + h] * c.V[i * RR + h];
    const float s = reg_sum(sd), p = reg_sum(pd);
    for (int h = 0; h < MR; ++h) dK[i * MR + h] += p * c.Q[i * MR + h];
    for (int h = 0; h < RR; ++h) dV[i * RR + h] += s * c.G[i * RR + h];
    return p;
  };
  float p_u[16], p_l[16];  // each row's p_uj, p_lj over j, for Horner
  int64_t u = n - 1;
  for (; u >= 1; u -= 2) {
    const int64_t l = u - 1;
    RegLanes qu[MR], gu[RR], ql[MR], gl[RR], eb[MR], ea[RR];  // running rows of u and l; row u's span sums
    p_u[u] = own_pair(u);
    for (int h = 0; h < MR; ++h) qu[h] = c.Q[u * MR + h], ql[h] = c.Q[l * MR + h], eb[h] = RegLanes{};
    for (int h = 0; h < RR; ++h) gu[h] = c.G[u * RR + h], gl[h] = c.G[l * RR + h], ea[h] = RegLanes{};
    for (int64_t j = l; j >= 0; --j) {
      if (Gated) {  // row u decays by one more gate at every step, row l from j < l
        for (int h = 0; h < MR; ++h) {
          qu[h] *= c.B[(j + 1) * MR + h];
          if (j < l) ql[h] *= c.B[(j + 1) * MR + h];
        }
        for (int h = 0; h < RR; ++h) {
          gu[h] *= c.A[(j + 1) * RR + h];
          if (j < l) gl[h] *= c.A[(j + 1) * RR + h];
        }
      }
      const RegLanes* k = c.K + j * MR;
      const RegLanes* v = c.V + j * RR;
      RegLanes su = qu[0] * k[0], pu = gu[0] * v[0], sl = ql[0] * k[0], pl = gl[0] * v[0];
      for (int h = 1; h < MR; ++h) su += qu[h] * k[h], sl += ql[h] * k[h];
      for (int h = 1; h < RR; ++h) pu += gu[h] * v[h], pl += gl[h] * v[h];
      RegLanes sums[4];
      reg_sums4(su, pu, sl, pl, sums);
      p_u[j] = sums[1][0], p_l[j] = sums[3][0];
      for (int h = 0; h < MR; ++h) {
        const RegLanes after_u = dK[j * MR + h] + sums[1] * qu[h];
        if (Gated) eb[h] += after_u * k[h];
        dK[j * MR + h] = after_u + sums[3] * ql[h];
      }
      for (int h = 0; h < RR; ++h) {
        const RegLanes after_u = dV[j * RR + h] + sums[0] * gu[h];
        if (Gated) ea[h] += after_u * v[h];
        dV[j * RR + h] = after_u + sums[2] * gl[h];
      }
    }
    // up: dQ_u, dQ_l by Horner over the same key rows
    RegLanes hu[MR], hl[MR];
    for (int h = 0; h < MR; ++h) hu[h] = p_u[0] * c.K[h], hl[h] = p_l[0] * c.K[h];
    for (int64_t t = 1; t <= u; ++t)
      for (int h = 0; h < MR; ++h) {
        const RegLanes b = c.B[t * MR + h], k = c.K[t * MR + h];
        hu[h] = (Gated ? hu[h] * b : hu[h]) + p_u[t] * k;
        if (t <= l) hl[h] = (Gated ? hl[h] * b : hl[h]) + p_l[t] * k;
      }
    for (int h = 0; h < MR; ++h) c.dQ[u * MR + h] += hu[h], c.dQ[l * MR + h] += hl[h];
    if (!Gated) continue;
    for (int h = 0; h < MR; ++h) c.lam[u * MR + h] += eb[h];
    for (int h = 0; h < RR; ++h) c.mu[u * RR + h] += ea[h];
    if (l > 0) add_spanning_terms(c, l, MR, RR, eb, ea);
  }
  if (u < 0) return;
  const float p0 = own_pair(0);  // row 0 alone (n odd): its one pair, j = 0
  for (int h = 0; h < MR; ++h) c.dQ[h] += p0 * c.K[h];
}
#endif

// Dispatch on the widths of the common shapes (AVX2 registers of 8 floats:
// d = m = 64 -> 8, with the normaliser's row 10; d = m = 128 -> 16, 18; AVX-512
// halves them), else the runtime widths with the running rows in `scratch`
// (3 mr + 2 rr registers). AVX-512 at d = m = 64 takes two rows at a time.
template <bool Gated>
void chunk_pairs_backward(const PairRows& c, int64_t n, int64_t mr, int64_t rr, RegLanes* scratch) {
#if defined(__AVX512F__)
  if (mr == 4 && rr == 4) return chunk_pairs_backward_two_rows<4, 4, Gated>(c, n);
#endif
  if (mr == 4 && rr == 4) return chunk_pairs_backward<4, 4, Gated>(c, n, mr, rr, scratch);
  if (mr == 4 && rr == 5) return chunk_pairs_backward<4, 5, Gated>(c, n, mr, rr, scratch);
  if (mr == 8 && rr == 8) return chunk_pairs_backward<8, 8, Gated>(c, n, mr, rr, scratch);
  if (mr == 8 && rr == 10) return chunk_pairs_backward<8, 10, Gated>(c, n, mr, rr, scratch);
  if (mr == 16 && rr == 16) return chunk_pairs_backward<16, 16, Gated>(c, n, mr, rr, scratch);
  chunk_pairs_backward<0, 0, Gated>(c, n, mr, rr, scratch);
}

}  // namespace dfw
