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
// Spins of an idle thread before it sleeps (libgomp: one `pause` each, ~30 ns on
// Zen 4, up to ~45 ns on Intel: 30-50 us). Back-to-back parallel regions of a
// decode sweep then find their team awake: at B = 32, H = 1, T = 128 a softmax
// decode step took 124 us with spin count 0 and 26 us with 1000 (AMD EPYC,
// 2 threads), against 48 us on one thread; an idle team still sleeps within
// ~50 us, so it does not hold a core that other work needs.
constexpr const char* kSpinCount = "1000";

}  // namespace

void reexec_with_passive_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  const bool sets_spin_count = !std::getenv("GOMP_SPINCOUNT");
  if (sets_spin_count) setenv("GOMP_SPINCOUNT", kSpinCount, 1);
  setenv(kSetByUs, "1", 1);
  execv("/proc/self/exe", argv);
  // Still here: the policy libgomp read is its default; say so.
  std::cerr << "dfwbench: warning: cannot re-execute with OMP_WAIT_POLICY=PASSIVE (" << std::strerror(errno)
            << "); idle OpenMP threads spin before they sleep\n";
  unsetenv("OMP_WAIT_POLICY");
  if (sets_spin_count) unsetenv("GOMP_SPINCOUNT");
  unsetenv(kSetByUs);
}

std::string omp_wait_policy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  if (!policy) return "libgomp default (spins, then sleeps)";
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  return std::string(policy) + (spin ? std::string(", GOMP_SPINCOUNT=") + spin : "") +
         (std::getenv(kSetByUs) ? " (set by dfwbench)" : " (from the environment)");
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

}  // namespace dfw
