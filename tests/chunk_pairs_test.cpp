// chunk_pairs_backward.hpp: the kernel dispatched at d = m = 64 (AVX-512: two query
// rows at a time; AVX2: the one-row kernel at fixed widths) against the one-row kernel
// at runtime widths, for every chunk length, gated (gates near 1 and small) and not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "cpu/chunk_pairs_backward.hpp"

namespace dfw {
namespace {

constexpr int64_t kWidth = 64;  // d = m = 64: the widths that take the two-row kernel
constexpr int64_t kRegs = kWidth / kRegFloats;

// One chunk's rows and the gradients the kernel adds to (dK, dV hold a state part).
struct Chunk {
  Chunk(uint32_t seed, float gate_low, float gate_high) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> value(-1.f, 1.f), gate(gate_low, gate_high);
    for (auto* rows : {&q, &k, &v, &g, &dq, &dk, &dv})
      for (RegLanes& r : *rows)
        for (int i = 0; i < kRegFloats; ++i) r[i] = value(rng);
    for (auto* rows : {&a, &b})
      for (RegLanes& r : *rows)
        for (int i = 0; i < kRegFloats; ++i) r[i] = gate(rng);
  }
  PairRows rows() { return {q.data(), k.data(), b.data(), v.data(), a.data(), g.data(), dq.data(), dk.data(),
                            lam.data(), dv.data(), mu.data()}; }
  using Rows = std::vector<RegLanes>;
  Rows q = Rows(16 * kRegs), k = q, b = q, v = q, a = q, g = q, dq = q, dk = q, dv = q;
  Rows lam = Rows(16 * kRegs, RegLanes{}), mu = lam, scratch = Rows(5 * kRegs, RegLanes{});
};

// Largest |x - y| over the rows, relative to the largest |y|.
double relative_difference(const Chunk::Rows& x, const Chunk::Rows& y) {
  double diff = 0, scale = 0;
  for (size_t r = 0; r < x.size(); ++r)
    for (int i = 0; i < kRegFloats; ++i) {
      diff = std::max(diff, double(std::fabs(x[r][i] - y[r][i])));
      scale = std::max(scale, double(std::fabs(y[r][i])));
    }
  return scale > 0 ? diff / scale : diff;
}

template <bool Gated>
void expect_dispatch_matches_runtime_widths(float gate_low, float gate_high) {
  for (int64_t n = 1; n <= 16; ++n) {
    Chunk fast(uint32_t(n), gate_low, gate_high), plain = fast;
    chunk_pairs_backward<Gated>(fast.rows(), n, kRegs, kRegs, fast.scratch.data());
    chunk_pairs_backward<0, 0, Gated>(plain.rows(), n, kRegs, kRegs, plain.scratch.data());
    EXPECT_LE(relative_difference(fast.dq, plain.dq), 1e-6) << "dq, n = " << n;
    EXPECT_LE(relative_difference(fast.dk, plain.dk), 1e-6) << "dk, n = " << n;
    EXPECT_LE(relative_difference(fast.dv, plain.dv), 1e-6) << "dv, n = " << n;
    EXPECT_LE(relative_difference(fast.lam, plain.lam), 1e-6) << "lam, n = " << n;
    EXPECT_LE(relative_difference(fast.mu, plain.mu), 1e-6) << "mu, n = " << n;
  }
}

TEST(ChunkPairs, DispatchedKernelMatchesRuntimeWidthsGatesNearOne) {
  expect_dispatch_matches_runtime_widths<true>(0.5f, 1.f);
}

TEST(ChunkPairs, DispatchedKernelMatchesRuntimeWidthsSmallGates) {
  expect_dispatch_matches_runtime_widths<true>(1e-3f, 0.1f);
}

TEST(ChunkPairs, DispatchedKernelMatchesRuntimeWidthsUngated) {
  expect_dispatch_matches_runtime_widths<false>(1.f, 1.f);
}

}  // namespace
}  // namespace dfw
