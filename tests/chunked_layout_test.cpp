// The CUDA chunked prefill's block layouts (kernels/chunked_prefill_layout.hpp), one per
// pass, on the CPU: the documented shared-memory sizes at C = 64 and 16, plans as small as
// the arrays live in one phase allow, no two arrays live at once sharing a byte, the
// regions each pass leaves out, spilling past the budget, and the guard against 32-bit offsets wrapping: a chunk whose per-block
// arrays reach 4 GiB is refused with std::invalid_argument (a clear message), the
// largest chunks below that keep every region's offset and end inside 2^32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "chunked_prefill_layout.hpp"

namespace dfw {
namespace {

constexpr std::size_t kOptin = 227 * 1024;  // sm_90's opt-in shared memory per block
constexpr std::size_t kTwo32 = std::size_t(1) << 32;

std::size_t kib(std::size_t bytes) { return (bytes + 512) / 1024; }  // rounded, as the kernel's header states them

constexpr ChunkedPass kPasses[] = {ChunkedPass::state, ChunkedPass::output};

std::vector<ChunkedRegion> regions(const ChunkedLayout& l) {
  return {l.X, l.Qf, l.Kf, l.Vf, l.Ga, l.Gb, l.Qs, l.Y, l.D, l.TA, l.TB, l.MA, l.KE, l.VE, l.PE, l.QJ};
}

// The bytes a plan cannot go below: the arrays live in one phase, summed (aligned), at
// the phase where that sum is largest.
std::size_t largest_phase_sum(ChunkedLayout l, ChunkedPass pass, int dk) {
  std::size_t most = 0;
  for (int phase = kPhaseLoad; phase <= kPhaseOutputs; ++phase) {
    std::size_t sum = 0;
    for (const ChunkedArray& a : chunked_arrays(l, pass, dk, 2))
      if (a.first <= phase && phase <= a.last) sum += align128(a.bytes);
    most = std::max(most, sum);
  }
  return most;
}

// The sizes the kernel's header and scripts/sass_check.py state (C = 64, d = m = 64:
// 80 KiB for the state pass, 109 KiB for the output pass, two blocks per SM each; the
// output pass at d = m = 128, the gpu-targets shape, 214 KiB and no workspace).
TEST(ChunkedLayout, DocumentedSharedSizesFitWithoutWorkspace) {
  const ChunkedLayout state = make_chunked_layout(ChunkedPass::state, 64, 64, 64, 64, 2, kOptin);
  const ChunkedLayout out = make_chunked_layout(ChunkedPass::output, 64, 64, 64, 64, 2, kOptin);
  EXPECT_EQ(state.shared_bytes, 82176u);
  EXPECT_EQ(out.shared_bytes, 111616u);
  EXPECT_EQ(out.ke_ld, 72);
  EXPECT_EQ(out.ve_ld, 72);
  EXPECT_EQ(out.pe_ld, 24);
  EXPECT_EQ(out.qs_ld, 68);
  EXPECT_EQ(state.global_bytes + out.global_bytes, 0u);
  EXPECT_EQ(kib(make_chunked_layout(ChunkedPass::output, 16, 64, 64, 64, 2, kOptin).shared_bytes), 40u);
  EXPECT_EQ(kib(make_chunked_layout(ChunkedPass::output, 64, 64, 64, 65, 2, kOptin).shared_bytes), 120u);
  const ChunkedLayout wide = make_chunked_layout(ChunkedPass::output, 64, 128, 128, 128, 2, kOptin);
  EXPECT_EQ(wide.shared_bytes, 219136u);
  EXPECT_EQ(wide.global_bytes, 0u);
  EXPECT_EQ(make_chunked_layout(ChunkedPass::output, 64, 128, 128, 129, 2, kOptin).global_bytes, 0u);
  EXPECT_EQ(make_chunked_layout(ChunkedPass::state, 64, 128, 128, 129, 2, kOptin).global_bytes, 0u);
}

// At the documented shapes the plan is as small as any can be: the largest sum of the
// arrays live in one phase.
TEST(ChunkedLayout, PlansReachTheLargestPhaseSum) {
  for (ChunkedPass pass : kPasses)
    for (int d : {32, 64, 128})
      for (int chunk : {16, 64}) {
        const ChunkedLayout l = make_chunked_layout(pass, chunk, d, d, d, 2, kOptin);
        EXPECT_EQ(l.shared_bytes, largest_phase_sum(l, pass, d)) << "C = " << chunk << ", d = " << d;
      }
}

// Arrays live in a common phase never share a byte, and each lies inside its space,
// whether everything fits in shared memory or some arrays spill (small budgets).
TEST(ChunkedLayout, ArraysLiveInOnePhaseNeverShareBytes) {
  for (ChunkedPass pass : kPasses)
    for (int chunk : {1, 16, 40, 64, 128})
      for (int d : {5, 64, 128})
        for (std::size_t budget : {kOptin, std::size_t(48 * 1024), std::size_t(0)}) {
          ChunkedLayout l = make_chunked_layout(pass, chunk, d, d, d + 1, 2, budget);
          const std::vector<ChunkedArray> arrays = chunked_arrays(l, pass, d, 2);
          const std::string where = "C = " + std::to_string(chunk) + ", d = " + std::to_string(d) +
                                    ", budget = " + std::to_string(budget);
          EXPECT_LE(l.shared_bytes, budget) << where;
          for (std::size_t i = 0; i < arrays.size(); ++i) {
            const ChunkedArray& a = arrays[i];
            if (a.bytes == 0) continue;
            const std::size_t a0 = a.region->offset, a1 = a0 + a.bytes;
            EXPECT_LE(a1, a.region->global ? l.global_bytes : l.shared_bytes) << where << ", array " << i;
            EXPECT_EQ(a0 % 128, 0u) << where << ", array " << i;
            for (std::size_t j = 0; j < i; ++j) {
              const ChunkedArray& b = arrays[j];
              if (b.bytes == 0 || b.region->global != a.region->global || b.last < a.first || a.last < b.first)
                continue;
              const std::size_t b0 = b.region->offset, b1 = b0 + b.bytes;
              EXPECT_TRUE(a1 <= b0 || b1 <= a0) << where << ": arrays " << j << " and " << i << " overlap";
            }
          }
        }
}

// The state pass computes no output: no query features, scores, pairs, outputs or per-warp tiles.
TEST(ChunkedLayout, TheStatePassLeavesOutTheOutputsArrays) {
  ChunkedLayout l = make_chunked_layout(ChunkedPass::state, 64, 64, 64, 64, 2, kOptin);
  const std::vector<ChunkedArray> state = chunked_arrays(l, ChunkedPass::state, 64, 2);
  for (const ChunkedArray& a : state) {
    const bool output_only = a.region == &l.Qf || a.region == &l.D || a.region == &l.MA || a.region == &l.PE ||
                             a.region == &l.QJ || a.region == &l.Qs || a.region == &l.Y;
    EXPECT_EQ(a.bytes == 0, output_only);
  }
  ChunkedLayout o = make_chunked_layout(ChunkedPass::output, 64, 64, 64, 64, 2, kOptin);
  for (const ChunkedArray& a : chunked_arrays(o, ChunkedPass::output, 64, 2)) EXPECT_GT(a.bytes, 0u);
}

TEST(ChunkedLayout, LongChunksSpillToTheWorkspace) {
  for (ChunkedPass pass : kPasses) {
    const ChunkedLayout l = make_chunked_layout(pass, 256, 64, 64, 64, 2, kOptin);
    EXPECT_LE(l.shared_bytes, kOptin);
    EXPECT_GT(l.global_bytes, 0u);
    EXPECT_FALSE(l.TA.global);  // high in the priority order
    EXPECT_TRUE(l.X.global);    // the lowest priority spills first
  }
}

TEST(ChunkedLayout, LargestChunksKeepEveryOffsetBelow2To32) {
  for (int chunk : {16384, 32768}) {
    const ChunkedLayout l = make_chunked_layout(ChunkedPass::output, chunk, 256, 256, 257, 2, kOptin);
    EXPECT_LT(l.global_bytes, kTwo32) << "C = " << chunk;
    for (const ChunkedRegion& r : regions(l))
      EXPECT_LT(std::size_t(r.offset), r.global ? l.global_bytes : l.shared_bytes) << "C = " << chunk;
    EXPECT_EQ(l.np, chunk);
    EXPECT_EQ(l.pairs, (chunk / 16) * (chunk / 16 - 1) / 2);
  }
}

TEST(ChunkedLayout, ChunksWhoseOffsetsWouldWrapAreRefused) {
  // C = 65536, m = 64: the (pairs, 16, 16) scores alone are just under 4 GiB, so the
  // arrays after them would start past 2^32 and wrap in the 32-bit offsets.
  for (int chunk : {65536, 1 << 20, INT32_MAX}) {
    try {
      make_chunked_layout(ChunkedPass::output, chunk, 64, 64, 64, 2, kOptin);
      ADD_FAILURE() << "C = " << chunk << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("chunk " + std::to_string(chunk)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("4 GiB"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace dfw
