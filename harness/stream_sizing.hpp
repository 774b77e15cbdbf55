// Sizing the cases meant to stream from memory (the copy-bandwidth ceiling, the
// decode-large preset, the cpu-targets bandwidth case) from the last-level cache
// the machine reports: their buffers span at least kStreamFactor x the LLC, so
// they measure memory and not cache, within the memory the process can get.
#pragma once

#include <cstdint>
#include <string>

namespace dfw {

constexpr int64_t kStreamFactor = 4;

// The last-level cache of the machine from sysfs under cpu_root (cpuN/cache/
// index*/level, type, size such as "32768K", shared_cpu_list): the highest data
// or unified level, its size summed over its distinct instances (a machine with
// several L3 slices, one per core complex, streams through all of them when its
// threads spread out), falling back to sysconf(_SC_LEVEL3_CACHE_SIZE), then
// _SC_LEVEL2_CACHE_SIZE. 0 when nothing reports a size.
int64_t last_level_cache_bytes(const std::string& cpu_root = "/sys/devices/system/cpu");

// What a streaming case is sized against: the LLC (or the GPU's L2) and the bytes
// the case may plan to allocate (-1: no bound known).
struct StreamSizing {
  int64_t llc_bytes = 0;
  int64_t budget_bytes = -1;
};

// Bytes of each of the copy ceiling's two buffers: at least kStreamFactor x LLC
// and at least min_bytes, the two together within the budget when one is known
// (never below 64 MiB each).
int64_t copy_buffer_bytes(const StreamSizing& s, int64_t min_bytes);

// Batch of a case whose streamed bytes grow by streamed_per_batch and whose
// planned memory by planned_per_batch per batch element: the smallest B >=
// min_batch whose streamed bytes reach kStreamFactor x LLC, lowered to what the
// budget holds (but never below min_batch: a case that does not fit then is
// recorded as oom by the memory check).
int64_t streaming_batch(const StreamSizing& s, int64_t min_batch, int64_t streamed_per_batch,
                        int64_t planned_per_batch);

}  // namespace dfw
