// How the CPU forms spread (b, h) sequences over OpenMP threads.
//   - Only when the call has enough work to pay for waking the thread team: a
//     decode step of a small batch is a few microseconds; on a busy machine a
//     parallel region can cost milliseconds of scheduling, which would swamp it.
//   - Every thread that runs a form flushes subnormal floats to zero for the
//     duration of the call (flush_denormals.hpp), the calling thread included
//     when the call stays serial.
#pragma once

#include <omp.h>

#include <cstdint>

#include "flush_denormals.hpp"

namespace dfw {

constexpr int64_t kMinParallelWork = int64_t{1} << 18;  // multiply-adds per call

inline bool worth_threads(int64_t work) { return work >= kMinParallelWork; }

// How heads are dealt to threads: `dynamic` for heads of uneven or long work
// (whole sequences), `even` (static blocks) for many tiny equal heads (decode
// steps), where a shared counter per head would cost as much as the head.
enum class HeadSchedule { dynamic, even };

// Calls head(bh, thread) for bh in [0, count), thread = the OpenMP thread number
// (index of per-thread scratch). `work` (multiply-adds of the whole call) decides
// whether the call is spread over threads.
template <class Head>
void for_each_head(int64_t count, int64_t work, HeadSchedule schedule, Head&& head) {
#pragma omp parallel if (worth_threads(work))
  {
    FlushDenormalsScope flush;
    const int thread = omp_get_thread_num();
    if (schedule == HeadSchedule::dynamic) {
#pragma omp for schedule(dynamic)
      for (int64_t bh = 0; bh < count; ++bh) head(bh, thread);
    } else {
#pragma omp for schedule(static)
      for (int64_t bh = 0; bh < count; ++bh) head(bh, thread);
    }
  }
}

}  // namespace dfw
