// The CUDA chunked prefill's block layouts (kernels/chunked_prefill_layout.hpp), one per
// pass, on the CPU: the documented shared-memory sizes at C = 64 and 16, the regions each
// pass leaves out, spilling past the budget, and the guard against 32-bit offsets wrapping: a chunk whose per-block
// arrays reach 4 GiB is refused with std::invalid_argument (a clear message), the
// largest chunks below that keep every region's offset and end inside 2^32.
#include <gtest/gtest.h>

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
  return {l.Qf, l.Kf, l.Vf, l.Ga, l.Gb, l.Y, l.D, l.TA, l.TB, l.MA, l.KE, l.VE, l.PE, l.QJ};
}

// The sizes the kernel's header and scripts/sass_check.py state (C = 64, d = m = 64:
// 100 KiB for the state pass, two blocks per SM; 145 KiB for the output pass, whose Qs
// rows are padded to mp + 4 floats; the fp16 / bf16 tiles' rows padded by 8 elements).
TEST(ChunkedLayout, DocumentedSharedSizesFitWithoutWorkspace) {
  const ChunkedLayout state = make_chunked_layout(ChunkedPass::state, 64, 64, 64, 64, 2, kOptin);
  const ChunkedLayout out = make_chunked_layout(ChunkedPass::output, 64, 64, 64, 64, 2, kOptin);
  EXPECT_EQ(state.shared_bytes, 102656u);
  EXPECT_EQ(out.shared_bytes, 148736u);
  EXPECT_EQ(out.ke_ld, 72);
  EXPECT_EQ(out.ve_ld, 72);
  EXPECT_EQ(out.pe_ld, 24);
  EXPECT_EQ(out.qs_ld, 68);
  EXPECT_EQ(state.global_bytes + out.global_bytes, 0u);
  EXPECT_EQ(kib(make_chunked_layout(ChunkedPass::output, 16, 64, 64, 64, 2, kOptin).shared_bytes), 49u);
  EXPECT_EQ(kib(make_chunked_layout(ChunkedPass::output, 64, 64, 64, 65, 2, kOptin).shared_bytes), 160u);
  // d = m = 128: chunks of up to 48 tokens keep the output pass in shared memory.
  EXPECT_EQ(make_chunked_layout(ChunkedPass::output, 48, 128, 128, 128, 2, kOptin).global_bytes, 0u);
  EXPECT_GT(make_chunked_layout(ChunkedPass::output, 64, 128, 128, 128, 2, kOptin).global_bytes, 0u);
}

// The state pass computes no output: no query features, scores, pairs or per-warp tiles.
TEST(ChunkedLayout, TheStatePassLeavesOutTheOutputsArrays) {
  const ChunkedLayout l = make_chunked_layout(ChunkedPass::state, 64, 64, 64, 64, 2, kOptin);
  for (const ChunkedRegion& r : {l.Qf, l.D, l.MA, l.PE, l.QJ}) EXPECT_EQ(r.offset, 0u);
  const ChunkedLayout o = make_chunked_layout(ChunkedPass::output, 64, 64, 64, 64, 2, kOptin);
  for (const ChunkedRegion& r : {o.Qf, o.D, o.MA, o.PE}) EXPECT_GT(r.offset, 0u);  // QJ is placed first
}

TEST(ChunkedLayout, LongChunksSpillToTheWorkspace) {
  for (ChunkedPass pass : kPasses) {
    const ChunkedLayout l = make_chunked_layout(pass, 256, 64, 64, 64, 2, kOptin);
    EXPECT_LE(l.shared_bytes, kOptin);
    EXPECT_GT(l.global_bytes, 0u);
    EXPECT_FALSE(l.TA.global);  // placed before the rows
    EXPECT_TRUE(l.Y.global);    // the lowest priority spills first
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
