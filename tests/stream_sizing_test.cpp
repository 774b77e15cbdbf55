// Sizing the memory-bound cases from the last-level cache (stream_sizing.hpp):
// the LLC read from fake sysfs trees (shared slices counted once, one per core
// complex summed), the copy ceiling's buffers, and the batch
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

void cache_index(const TempDir& dir, int cpu, int index, int level, const std::string& type, const std::string& size,
                 const std::string& shared) {
  const std::string d = dir / ("cpu" + std::to_string(cpu) + "/cache/index" + std::to_string(index));
  fs::create_directories(d);
  std::ofstream(d + "/level") << level << "\n";
  std::ofstream(d + "/type") << type << "\n";
  std::ofstream(d + "/size") << size << "\n";
  std::ofstream(d + "/shared_cpu_list") << shared << "\n";
}

// Two cores with private L1 and L2 and the given L3 per core pair.
void two_cores(const TempDir& dir, int first, const std::string& l3, const std::string& shared) {
  for (int cpu : {first, first + 1}) {
    cache_index(dir, cpu, 0, 1, "Data", "32K", std::to_string(cpu));
    cache_index(dir, cpu, 1, 1, "Instruction", "32K", std::to_string(cpu));
    cache_index(dir, cpu, 2, 2, "Unified", "1024K", std::to_string(cpu));
    if (!l3.empty()) cache_index(dir, cpu, 3, 3, "Unified", l3, shared);
  }
}

TEST(StreamSizing, LastLevelCacheIsTheHighestDataLevel) {
  TempDir one;
  two_cores(one, 0, "491520K", "0-1");  // the Intel machine's 480 MiB, shared: counted once
  fs::create_directories(one / "cpufreq");  // not a cpuN directory
  EXPECT_EQ(last_level_cache_bytes(one.path()), 480 * kMiB);

  TempDir complexes;  // an EPYC with two core complexes of 32 MiB L3 each
  two_cores(complexes, 0, "32768K", "0-1");
  two_cores(complexes, 2, "32768K", "2-3");
  EXPECT_EQ(last_level_cache_bytes(complexes.path()), 64 * kMiB);

  TempDir no_l3;  // L2 per core is then the last level: one per core
  two_cores(no_l3, 0, "", "");
  EXPECT_EQ(last_level_cache_bytes(no_l3.path()), 2 * kMiB);
  cache_index(no_l3, 0, 4, 4, "Instruction", "64M", "0-1");  // an instruction cache is never the LLC
  EXPECT_EQ(last_level_cache_bytes(no_l3.path()), 2 * kMiB);
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
        if (c.mode != BenchMode::decode || c.shape.H != Stream::H || c.shape.dk != Stream::d) continue;
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
  r.gbps = 7;
  r.ceiling_gbps = 10;
  ASSERT_EQ(r.B, 1920);
  bool found = false;
  for (const TargetResult& t : evaluate_cpu_targets({r}))
    if (t.name.find("copy bandwidth") != std::string::npos) {
      found = t.found();
      EXPECT_DOUBLE_EQ(t.measured, 0.7);
      EXPECT_EQ(t.verdict, Verdict::pass);
    }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace dfw
