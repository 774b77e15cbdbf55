// CPU contention seen from inside the process: the time this process's threads
// spent runnable but waiting for a CPU ("run delay", the second field of the
// kernel's /proc/self/task/TID/schedstat), summed over its threads. A timed
// region whose threads waited for a core did not measure the form alone: some
// other thread or process held the core it needed. This catches a steady
// competitor (a CPU hog for the whole run) that neither a spread of repetitions
// nor a change of the ceilings between start and end can reveal.
#pragma once

#include <chrono>
#include <optional>

namespace dfw {

// Total run delay of this process's threads, in seconds; nullopt when the kernel
// does not report it (no CONFIG_SCHED_INFO, no /proc).
std::optional<double> process_run_delay_s();

// Run delay over a stretch of wall time, as a fraction of `threads` x that time:
// 0 when every thread had a core whenever it could run, 0.5 when the threads
// waited half of the time. Starts at construction.
class RunDelayWindow {
 public:
  RunDelayWindow();
  // nullopt when the kernel does not report run delay.
  std::optional<double> fraction(int threads) const;

 private:
  std::chrono::steady_clock::time_point start_;
  std::optional<double> delay_start_;
};

}  // namespace dfw
