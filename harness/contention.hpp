// CPU contention seen from inside the process, over a stretch of wall time:
//   - run delay: the time this process's threads spent runnable but waiting for
//     a CPU (the second field of /proc/self/task/TID/schedstat), summed over its
//     threads, as a fraction of threads x wall time;
//   - preemptions: involuntary context switches of the process (getrusage
//     ru_nivcsw, all threads) per second: another runnable task took a core from
//     one of ours.
// Run delay alone also counts the wake-up latency of a sleeping (passive) OpenMP
// thread, which is part of what a short parallel region costs on any machine;
// preemptions come only from competing work. A competitor (a CPU hog for the
// whole run) shows as both, and neither a spread of repetitions nor a change of
// the ceilings between start and end can reveal a steady one.
#pragma once

#include <chrono>
#include <optional>

namespace dfw {

struct Contention {
  double run_delay = 0;          // fraction of threads x wall time spent waiting for a core
  double preemptions_per_s = 0;  // involuntary context switches per second of wall time
};

// Total run delay of this process's threads, in seconds; nullopt when the kernel
// does not report it (no CONFIG_SCHED_INFO, no /proc).
std::optional<double> process_run_delay_s();

// Starts at construction.
class ContentionWindow {
 public:
  ContentionWindow();
  // nullopt when the kernel does not report run delay.
  std::optional<Contention> measure(int threads) const;

 private:
  std::chrono::steady_clock::time_point start_;
  std::optional<double> delay_start_;
  long preemptions_start_;
};

}  // namespace dfw
