// The memory one bench case will allocate, computed from its shapes before
// anything is allocated, so a case that cannot fit is recorded as `oom` instead
// of being killed by the kernel. The byte counts mirror what the Problem
// (generator.cpp) and each form's Prepared allocate (variants/cpu/*,
// kernels/*_form.cpp); tests/memory_plan_test.cpp holds the CPU plan against
// MemoryTracker's peak and against the allocator's own count.
#pragma once

#include <cstdint>

#include "bench_cases.hpp"

namespace dfw {

struct MemoryPlan {
  int64_t inputs = 0;   // the generated Problem: q, k, v, gates, feature parameters, s0 (host)
  int64_t tracked = 0;  // the form's tracked host buffers: input copies, outputs, state or KV cache, workspace
  int64_t scratch = 0;  // the form's untracked host work arrays (per-thread Eigen scratch, fp64 outputs)
  int64_t device = 0;   // device buffers of a CUDA form: inputs, outputs, state or KV cache, partials
  int64_t host() const { return inputs + tracked + scratch; }
};

// The plan of one case run with `threads` OpenMP threads (the forms size their
// per-thread scratch by omp_get_max_threads()). Form "best" plans the Problem
// once and every candidate form's buffers together (the probe can hold two). A case whose form has no plan
// here (an unknown form) plans its inputs only. Throws std::invalid_argument for
// a shape out of range, as generate_problem would.
MemoryPlan plan_case_memory(const BenchCase& c, int threads);

}  // namespace dfw
