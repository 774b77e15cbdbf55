// Sizing the memory-bound cases from the last-level cache (stream_sizing.hpp):
// the LLC read from a fake sysfs tree, the copy ceiling's buffers, and the batch
// of the streaming dfw decode case in decode-large and cpu-targets for fake LLC
// sizes (a 32 MiB EPYC L3, a 480 MiB Xeon L3), capped by the memory available;
// the cpu-targets bandwidth target finds that case at whatever batch it got.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "bench_cases.hpp"
#include "bench_targets.hpp"
#include "memory_plan.hpp"
#include "stream_sizing.hpp"
#include "temp_dir.hpp"

namespace dfw {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

constexpr int64_t kMiB = int64_t{1} << 20, kGiB = int64_t{1} << 30;

void cache_index(const TempDir& dir, int index, int level, const std::string& type, const std::string& size) {
  const std::string d = dir / ("index" + std::to_string(index));
  fs::create_directories(d);
  std::ofstream(d + "/level") << level << "\n";
  std::ofstream(d + "/type") << type << "\n";
  std::ofstream(d + "/size") << size << "\n";
}

TEST(StreamSizing, LastLevelCacheIsTheHighestDataLevel) {
  TempDir dir;
  cache_index(dir, 0, 1, "Data", "32K");
  cache_index(dir, 1, 1, "Instruction", "32K");
  cache_index(dir, 2, 2, "Unified", "1024K");
  cache_index(dir, 3, 3, "Unified", "491520K");  // the Intel machine's 480 MiB
  EXPECT_EQ(last_level_cache_bytes(dir.path()), 480 * kMiB);
  fs::remove_all(dir / "index3");
  EXPECT_EQ(last_level_cache_bytes(dir.path()), 1 * kMiB);
  cache_index(dir, 4, 4, "Instruction", "64M");  // an instruction cache is never the LLC
  EXPECT_EQ(last_level_cache_bytes(dir.path()), 1 * kMiB);
}

TEST(StreamSizing, CopyBuffersSpanFourTimesTheCacheWithinMemory) {
  const int64_t floor = 512 * kMiB;
  EXPECT_EQ(copy_buffer_bytes({32 * kMiB, -1}, floor), floor);               // 4 x 32 MiB < 512 MiB
  EXPECT_EQ(copy_buffer_bytes({480 * kMiB, -1}, floor), 4 * 480 * kMiB);     // 1.875 GiB each
  EXPECT_EQ(copy_buffer_bytes({480 * kMiB, 2 * kGiB}, floor), 1 * kGiB);     // both within 2 GiB
  EXPECT_EQ(copy_buffer_bytes({480 * kMiB, 0}, floor), 64 * kMiB);           // never below 64 MiB
}

TEST(StreamSizing, BatchReachesFourTimesTheCacheAndStaysWithinMemory) {
  const int64_t state = 1 * kMiB;  // per batch element: H 16 x 128 x 128 fp32
  EXPECT_EQ(streaming_batch({0, -1}, 64, state, 3 * state), 64);              // no LLC known
  EXPECT_EQ(streaming_batch({32 * kMiB, -1}, 64, state, 3 * state), 128);     // 128 MiB = 4 x 32 MiB
  EXPECT_EQ(streaming_batch({480 * kMiB, -1}, 64, state, 3 * state), 1920);   // 1.875 GiB
  EXPECT_EQ(streaming_batch({480 * kMiB, 3 * kGiB}, 64, state, 3 * state), 1024);  // 3 GiB / 3 MiB
  EXPECT_EQ(streaming_batch({480 * kMiB, 1 * kMiB}, 64, state, 3 * state), 64);    // never below the least
}

TEST(StreamSizing, StreamingDecodeCasesAreSizedFromTheCache) {
  using Stream = StreamingDecodeShape;
  for (const int64_t llc : {32 * kMiB, 480 * kMiB}) {
    const StreamSizing sizing{llc, 64 * kGiB};
    for (const char* preset : {"decode-large", "cpu-targets"}) {
      int streaming = 0;
      for (const BenchCase& c : expand_bench_cases(preset_sweep(preset, "cpu", sizing))) {
        if (c.shape.H != Stream::H || c.shape.dk != Stream::d) continue;
        ++streaming;
        const double state = double(c.shape.B) * c.shape.H * c.shape.dv * c.m * 4;
        EXPECT_GE(state, double(kStreamFactor * llc)) << preset << " " << c.label();
        EXPECT_LT(state, double(kStreamFactor * llc) + double(Stream::H * Stream::d * Stream::d * 4))
            << "the least such batch: " << c.label();
        EXPECT_LE(plan_case_memory(c, 2).host(), sizing.budget_bytes) << c.label();
      }
      EXPECT_EQ(streaming, std::string(preset) == "decode-large" ? 3 : 1) << preset;
    }
  }
  // A budget too small for 4 x LLC: the batch is what fits, still at least 64.
  const int64_t B = streaming_decode_batch("cpu", {480 * kMiB, 1 * kGiB});
  EXPECT_GE(B, Stream::min_batch_cpu);
  EXPECT_LT(B, 1920);
}

TEST(StreamSizing, BandwidthTargetFindsTheStreamingCaseAtAnySizedBatch) {
  using Stream = StreamingDecodeShape;
  ResultRow r;
  r.variant = "dfw";
  r.form = r.mode = "decode";
  r.backend = "cpu";
  r.status = "ok";
  r.B = streaming_decode_batch("cpu", {480 * kMiB, -1});
  r.H = Stream::H;
  r.T = Stream::T;
  r.dk = r.dv = r.m = Stream::d;
  r.time_median_ms = 1;
  r.frac_bw_ceiling = 0.7;
  ASSERT_EQ(r.B, 1920);
  bool found = false;
  for (const TargetResult& t : evaluate_cpu_targets({r}))
    if (t.name.find("copy bandwidth") != std::string::npos) {
      found = t.found;
      EXPECT_DOUBLE_EQ(t.measured, 0.7);
      EXPECT_TRUE(t.pass);
    }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace dfw
