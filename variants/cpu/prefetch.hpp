// Software prefetch into the L2 of rows a pass will read a little later, for walks the
// hardware prefetcher does not follow: the chunked backward's second pass visits the
// chunks from the last to the first, so each chunk's rows (one 4 KiB page per input
// for 16 tokens of 64 floats) and its checkpointed state start a new page below the
// last one. Asking for them two chunks ahead made that backward, timed alone, about 5%
// faster on the 2-core Xeon (dfw B1 H12 T4096 d = 64, bench --preset training --filter:
// 22.4-24.6 ms, median of four runs 23.3, against 24.3-24.6); timed in pairs with the
// forward the gain was within the noise. The same for the forward-walking first pass
// was slower.
#pragma once

#include <cstdint>

namespace dfw {

constexpr int64_t kCacheLine = 64;

// Every line of [p, p + bytes) towards the L2 (a hint: never faults, never waits).
inline void prefetch_to_l2(const void* p, int64_t bytes) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) / kCacheLine * kCacheLine;
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  for (uintptr_t at = first; at < end; at += kCacheLine)
    __builtin_prefetch(reinterpret_cast<const void*>(at), /*rw=*/0, /*locality=*/2);
}

}  // namespace dfw
