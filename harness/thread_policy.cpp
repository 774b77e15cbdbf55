// OpenMP wait policy and the cores available to the process (thread_policy.hpp).
#include "thread_policy.hpp"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace dfw {
namespace {

// Marks the re-executed process, so the recorded policy says who chose it.
constexpr const char* kSetByUs = "DFWBENCH_SET_WAIT_POLICY";

}  // namespace

void reexec_with_passive_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  setenv(kSetByUs, "1", 1);
  execv("/proc/self/exe", argv);
  // Still here: the policy libgomp read is its default; say so.
  std::cerr << "dfwbench: warning: cannot re-execute with OMP_WAIT_POLICY=PASSIVE (" << std::strerror(errno)
            << "); idle OpenMP threads spin before they sleep\n";
  unsetenv("OMP_WAIT_POLICY");
  unsetenv(kSetByUs);
}

std::string omp_wait_policy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  if (!policy) return "libgomp default (spins, then sleeps)";
  return std::string(policy) + (std::getenv(kSetByUs) ? " (set by dfwbench)" : " (from the environment)");
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

}  // namespace dfw
