// How the flash-decoding kernel divides a decode step (kernels/softmax_decode_plan.hpp),
// on the CPU: lane groups whose 16-byte vectors cover the row, splits that cover the
// cache exactly once in whole block steps, enough of them to fill the SMs x resident
// blocks when the cache is long enough, and one split (no combine launch) when B*H
// alone fills the device.
#include <gtest/gtest.h>

#include <cstdint>

#include "softmax_decode_plan.hpp"

namespace dfw {
namespace {

constexpr int kSms = 132, kResident = 8, kMaxSplits = 64;

TEST(DecodePlan, LaneGroupsCoverTheWiderRowInVectors) {
  EXPECT_EQ(decode_group_lanes(64, 64, 8), 8);     // fp16: 128 bytes = 8 lanes x 16 bytes
  EXPECT_EQ(decode_group_lanes(128, 128, 8), 16);
  EXPECT_EQ(decode_group_lanes(256, 256, 8), 32);
  EXPECT_EQ(decode_group_lanes(128, 128, 4), 32);  // fp32: 512 bytes, one vector per lane
  EXPECT_EQ(decode_group_lanes(256, 256, 4), 32);  // two vectors per lane
  EXPECT_EQ(decode_group_lanes(4, 4, 8), 1);
  EXPECT_EQ(decode_group_lanes(20, 36, 8), 8);     // 36 elements: 5 vectors, rounded to 8 lanes
  EXPECT_EQ(decode_group_lanes(256, 8, 8), 32);
}

TEST(DecodePlan, SplitsCoverTheCacheOnceInWholeBlockSteps) {
  for (int64_t n : {1, 2, 127, 128, 255, 256, 700, 1025, 4096, 16384, 1 << 20})
    for (int64_t BH : {1, 3, 32, 512, 4096})
      for (int d : {16, 64, 128, 256}) {
        const DecodeSplits s = plan_decode_splits(n, BH, d, d, 8, kSms, kResident, kMaxSplits);
        const int64_t block_step = int64_t(kDecodeWarps) * kDecodeKeysPerGroup * (32 / s.group);
        const auto what = testing::Message() << "n " << n << " BH " << BH << " d " << d;
        EXPECT_GE(s.splits, 1) << what;
        EXPECT_LE(s.splits, kMaxSplits) << what;
        EXPECT_EQ(s.split_len % block_step, 0) << what;
        EXPECT_GE(s.splits * s.split_len, n) << what;        // every key in a split
        EXPECT_LT((s.splits - 1) * s.split_len, n) << what;  // and no split empty
        if (s.splits > 1) {
          EXPECT_GE(n, int64_t(s.splits - 1) * kDecodeMinSplitKeys) << what;
        }
      }
}

TEST(DecodePlan, SplitsFillTheDeviceWhenTheCacheAllows) {
  // B*H = 1 over 16K keys: the scratch's 64 splits; B*H = 32 (the paper's batch): 37
  // splits of 448 keys fill 132 x 8 blocks; B*H = 4096 (B256 H16): one split, y written directly.
  EXPECT_EQ(plan_decode_splits(16384, 1, 128, 128, 8, kSms, kResident, kMaxSplits).splits, 64);
  const DecodeSplits paper = plan_decode_splits(16384, 32, 64, 64, 8, kSms, kResident, kMaxSplits);
  EXPECT_EQ(paper.splits, 37);
  EXPECT_GE(32 * paper.splits, kSms * kResident);
  EXPECT_EQ(plan_decode_splits(16384, 4096, 128, 128, 8, kSms, kResident, kMaxSplits).splits, 1);
  // A short cache is not cut below kDecodeMinSplitKeys keys a split.
  EXPECT_EQ(plan_decode_splits(200, 1, 64, 64, 8, kSms, kResident, kMaxSplits).splits, 1);
  EXPECT_EQ(plan_decode_splits(700, 1, 64, 64, 8, kSms, kResident, kMaxSplits).splits, 6);  // 128-key splits
}

}  // namespace
}  // namespace dfw
