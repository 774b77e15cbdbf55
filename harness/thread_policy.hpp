// How the CPU forms' OpenMP threads behave: how many there are and how an idle
// one waits. libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, in a
// constructor that runs when the library is loaded, before main(); setting them
// in main() changes nothing. So dfwbench's main() calls
// reexec_with_passive_wait_policy() first: when the environment names no policy
// it sets OMP_WAIT_POLICY=PASSIVE with GOMP_SPINCOUNT=1000 (unless that is set)
// and executes the same binary again (same pid, same arguments), so the libgomp of
// the process that runs the forms has read them. An idle thread spins for at most
// 1000 pauses (tens of microseconds, so the next region of a decode sweep finds it
// awake), then sleeps (futex) instead of holding a core that another timed
// thread, or another process, needs.
#pragma once

#include <string>

namespace dfw {

// Sets OMP_WAIT_POLICY=PASSIVE (and GOMP_SPINCOUNT=1000) and re-executes /proc/self/exe with argv when the
// environment has no OMP_WAIT_POLICY; returns when it has one (or when the
// re-execution failed, after taking the setting back out of the environment so
// that omp_wait_policy() stays true to what libgomp read).
void reexec_with_passive_wait_policy(char** argv);

// The policy libgomp read at load time: "PASSIVE, GOMP_SPINCOUNT=1000 (set by dfwbench)",
// "ACTIVE (from the environment)", ... or "libgomp default (spins, then sleeps)".
std::string omp_wait_policy();

// Cores this process may run on (sched_getaffinity), at least 1.
int available_cores();

}  // namespace dfw
