// The sizes of the CUDA chunked backward (chunked_backward_kernel.cu), host and
// device: the chunk length it takes for a feature width m and state rows (its
// per-chunk arrays must fit a block's shared memory), the offsets of those arrays,
// and its global workspace. The form (stateful_backward_forms.cpp) and the memory
// plan (harness/memory_plan.cpp) size it from here.
#pragma once

#include <stdint.h>

#include "dfw_hd.hpp"

namespace dfw {

constexpr int kChunkedBackwardMaxLen = 16;            // tokens per chunk at most (as the CPU form)
constexpr int kChunkedBackwardTileRows = 16;          // state rows per tile of the state products
constexpr int kChunkedBackwardMaxWidth = 512;         // m and rows (dv + 1 when normalised): 32 lanes x 16
constexpr int64_t kChunkedBackwardShared = 160 * 1024;  // bytes of shared memory a block takes at most

// Offsets in floats of one block's shared arrays for chunks of C tokens, feature
// width M and R state rows. (C, M) arrays: Q phi(q), K c phi(k), B key-side gate
// values (1 past the chunk), PB / RB their products up to / after each token, DQ /
// DK the state parts of dphi(q) / dK, dQ / dK2 the pairs' parts, lam d log b, E a
// column's pair terms. (C, R) arrays: V (1 in z's row), A, G the output weights,
// PA, RA, DV, Yc the incoming state's outputs, dV, mu d log a, Ea. Then (C, C)
// scores s and p, the two state tiles (16, M + 1), Za (R), Zb (M), c (C).
struct ChunkedBackwardLayout {
  int C, M, R, ld;  // ld: a tile row's stride, M + 1 (no bank conflicts between rows)
  int Q, K, B, PB, RB, DQ, DK, dQ, dK, lam, E;
  int V, A, G, PA, RA, DV, Yc, dV, mu, Ea;
  int s, p, S0t, dSt, Za, Zb, c;
  int floats;
};

DFW_HD ChunkedBackwardLayout chunked_backward_layout(int C, int M, int R) {
  ChunkedBackwardLayout l;
  l.C = C, l.M = M, l.R = R, l.ld = M + 1;
  int at = 0;
  int* cm[] = {&l.Q, &l.K, &l.B, &l.PB, &l.RB, &l.DQ, &l.DK, &l.dQ, &l.dK, &l.lam, &l.E};
  for (int* o : cm) *o = at, at += C * M;
  int* cr[] = {&l.V, &l.A, &l.G, &l.PA, &l.RA, &l.DV, &l.Yc, &l.dV, &l.mu, &l.Ea};
  for (int* o : cr) *o = at, at += C * R;
  l.s = at, at += C * C;
  l.p = at, at += C * C;
  l.S0t = at, at += kChunkedBackwardTileRows * l.ld;
  l.dSt = at, at += kChunkedBackwardTileRows * l.ld;
  l.Za = at, at += R;
  l.Zb = at, at += M;
  l.c = at, at += C;
  l.floats = at;
  return l;
}

// The chunk length taken: the longest up to min(requested, 16) whose arrays fit in
// kChunkedBackwardShared (at least 1: m, rows <= 512 always fit one token: 108 KiB).
inline int chunked_backward_chunk(int64_t requested, int m, int rows) {
  int C = requested < 1 ? 1 : requested > kChunkedBackwardMaxLen ? kChunkedBackwardMaxLen : int(requested);
  while (C > 1 && int64_t(chunked_backward_layout(C, m, rows).floats) * 4 > kChunkedBackwardShared) --C;
  return C;
}

// Global workspace in floats for BH heads of T tokens in chunks of C: every chunk's
// starting state (rows, m), its output weights' state gradient, then the gradient
// at its end (rows, m), its decay totals (rows + m), and the output weights G (BH, T, rows).
struct ChunkedBackwardWork {
  int64_t chunks, states, weights, decay, g, floats;
};

DFW_HD ChunkedBackwardWork chunked_backward_work(int64_t BH, int64_t T, int C, int m, int rows) {
  ChunkedBackwardWork w;
  w.chunks = (T + C - 1) / C;
  const int64_t slots = BH * w.chunks;
  w.states = 0;
  w.weights = w.states + slots * rows * m;
  w.decay = w.weights + slots * rows * m;
  w.g = w.decay + slots * (rows + m);
  w.floats = w.g + BH * T * rows;
  return w;
}

}  // namespace dfw
