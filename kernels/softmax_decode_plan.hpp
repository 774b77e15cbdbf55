// How the flash-decoding kernel (softmax_decode_kernel.cu) divides one decode step:
// lanes per key row (each lane reads 16-byte vectors), keys per warp step, and the
// splits of the cache, sized so that B*H x splits fills the SMs x resident blocks.
// Plain C++ so the CPU tests check it without a device.
#pragma once

#include <algorithm>
#include <cstdint>

namespace dfw {

constexpr int kDecodeWarps = 4;            // warps per split block
constexpr int kDecodeKeysPerGroup = 4;     // keys a lane group takes per warp step
constexpr int kDecodeMinSplitKeys = 128;   // a split reads at least this many keys
constexpr int kDecodeMaxWidth = 256;       // largest dk and dv: one 16-byte vector per lane
                                           // in fp16 / bf16, two in fp32
constexpr int kSoftmaxDecodeMaxSplits = 64;  // splits of one query at most (the partials scratch)

// Lanes that share one key row: the power of two (at most 32) whose 16-byte vectors
// of `vec` elements cover the wider of dk and dv, so a K or V row is read by
// consecutive lanes in one coalesced stretch.
inline int decode_group_lanes(int dk, int dv, int vec) {
  const int vectors = (std::max(dk, dv) + vec - 1) / vec;
  int g = 1;
  while (g < vectors && g < 32) g *= 2;
  return g;
}

struct DecodeSplits {
  int group = 1;          // lanes per key row
  int splits = 1;         // blocks per (b, h)
  int64_t split_len = 0;  // keys per split, a multiple of the block's keys per step
};

// n cache rows (the new token included) of B*H queries over a device of `sms` SMs
// holding `resident` split blocks each: enough splits for BH x splits to reach
// sms x resident blocks, none shorter than kDecodeMinSplitKeys keys, at most
// max_splits (the partials scratch). One split writes y itself (no combine launch).
inline DecodeSplits plan_decode_splits(int64_t n, int64_t BH, int dk, int dv, int vec, int sms, int resident,
                                       int max_splits) {
  DecodeSplits s;
  s.group = decode_group_lanes(dk, dv, vec);
  const int64_t block_step = int64_t(kDecodeWarps) * kDecodeKeysPerGroup * (32 / s.group);
  const int64_t target = int64_t(sms) * std::max(resident, 1);
  const int64_t wanted = BH > 0 ? (target + BH - 1) / BH : 1;
  const int64_t by_length = std::max<int64_t>(1, n / kDecodeMinSplitKeys);
  const int64_t splits = std::max<int64_t>(1, std::min<int64_t>({wanted, by_length, int64_t(max_splits)}));
  // Whole block steps a split: rounded down (a few more splits, the device still
  // filled) unless that would cut below kDecodeMinSplitKeys or past max_splits.
  const int64_t per_split = (n + splits - 1) / splits;
  const int64_t down = per_split / block_step * block_step;
  const int64_t up = std::max<int64_t>(block_step, (per_split + block_step - 1) / block_step * block_step);
  s.split_len = splits > 1 && down >= kDecodeMinSplitKeys && (n + down - 1) / down <= max_splits ? down : up;
  s.splits = int((n + s.split_len - 1) / s.split_len);
  return s;
}

}  // namespace dfw
