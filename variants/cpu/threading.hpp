// When a CPU form spreads (b, h) sequences over OpenMP threads: only when the
// call has enough work to pay for waking the thread team. A decode step of a
// small batch is a few microseconds; on a busy machine a parallel region can
// cost milliseconds of scheduling, which would swamp it.
#pragma once

#include <cstdint>

namespace dfw {

constexpr int64_t kMinParallelWork = int64_t{1} << 18;  // multiply-adds per call

inline bool worth_threads(int64_t work) { return work >= kMinParallelWork; }

}  // namespace dfw
