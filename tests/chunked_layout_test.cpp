// The CUDA chunked prefill's block layout (kernels/chunked_prefill_layout.hpp), on
// the CPU: the documented shared-memory sizes at C = 64 and 16, spilling past the
// budget, and the guard against 32-bit offsets wrapping: a chunk whose per-block
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

std::vector<ChunkedRegion> regions(const ChunkedLayout& l) {
  return {l.S, l.Qf, l.Kf, l.Vf, l.Ga, l.Gb, l.Y, l.D, l.TA, l.TB, l.MA, l.KE, l.VE, l.PE, l.QJ, l.SC};
}

TEST(ChunkedLayout, DocumentedSharedSizesFitWithoutWorkspace) {
  const ChunkedLayout c64 = make_chunked_layout(64, 64, 64, 64, 2, kOptin);
  EXPECT_EQ(kib(c64.shared_bytes), 163u);
  EXPECT_EQ(c64.global_bytes, 0u);
  EXPECT_EQ(kib(make_chunked_layout(16, 64, 64, 64, 2, kOptin).shared_bytes), 70u);
  EXPECT_EQ(kib(make_chunked_layout(64, 64, 64, 65, 2, kOptin).shared_bytes), 181u);
}

TEST(ChunkedLayout, LongChunksSpillToTheWorkspace) {
  const ChunkedLayout l = make_chunked_layout(256, 64, 64, 64, 2, kOptin);
  EXPECT_LE(l.shared_bytes, kOptin);
  EXPECT_GT(l.global_bytes, 0u);
  EXPECT_FALSE(l.S.global);  // the state is placed first
  EXPECT_TRUE(l.Y.global);   // the lowest priority spills first
}

TEST(ChunkedLayout, LargestChunksKeepEveryOffsetBelow2To32) {
  for (int chunk : {16384, 32768}) {
    const ChunkedLayout l = make_chunked_layout(chunk, 256, 256, 257, 2, kOptin);
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
      make_chunked_layout(chunk, 64, 64, 64, 2, kOptin);
      ADD_FAILURE() << "C = " << chunk << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("chunk " + std::to_string(chunk)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("4 GiB"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace dfw
