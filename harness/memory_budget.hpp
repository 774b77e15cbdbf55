// How much memory a bench case may plan to use: what the process can really get
// (the host's MemAvailable, the room under any cgroup memory limit, the device's
// free memory), capped by a limit the user imposes (--memory-limit), less a
// safety margin. A case whose MemoryPlan (memory_plan.hpp) exceeds the budget is
// recorded as `oom` without allocating anything.
#pragma once

#include <cstdint>
#include <string>

#include "memory_plan.hpp"

namespace dfw {

// MemAvailable from a /proc/meminfo-format file, in bytes; -1 when absent.
int64_t read_mem_available(const std::string& meminfo_path = "/proc/meminfo");

// The least room (limit - usage) over the process's memory cgroup and its
// ancestors: cgroup v2 memory.max - memory.current, v1 memory.limit_in_bytes -
// memory.usage_in_bytes. proc_cgroup is a /proc/self/cgroup-format file; the
// controllers are looked up under cgroup_root (v2 at cgroup_root and
// cgroup_root/unified, v1 at cgroup_root/memory), each hierarchy at the
// process's path and, for a namespaced mount, at its root. -1 when no level
// sets a limit ("max", or v1's page-rounded LONG_MAX).
int64_t cgroup_memory_room(const std::string& proc_cgroup = "/proc/self/cgroup",
                           const std::string& cgroup_root = "/sys/fs/cgroup");

// --memory-limit: "BYTES" (suffixes K, M, G, T: powers of 1024) or "N%" of the
// memory available. Throws std::invalid_argument on anything else or on 0.
struct MemoryLimit {
  int64_t bytes = 0;     // > 0: at most this many bytes
  double fraction = 0;   // > 0: at most this fraction of the available memory
};
MemoryLimit parse_memory_limit(const std::string& text);

// The safety margin kept free of any plan, from the memory available:
//   host:   64 MiB + 5% of it. 64 MiB covers what the process holds beside the
//           planned arrays while a case runs (Google Benchmark's and the results
//           store's bookkeeping, glibc arenas, thread stacks, Eigen's blocking
//           buffers in large products); 5% because MemAvailable is the kernel's
//           estimate (it counts page cache that may not all be reclaimable) and
//           other processes keep allocating between the check and the case.
//   device: 256 MiB + 5% of it: the CUDA context's own allocations after the
//           check, the L2 flush buffer (2x L2, allocated on the first timed run),
//           cuBLAS work space, and the chunked form's spill workspace, which the
//           plan does not count.
int64_t host_margin(int64_t available);
int64_t device_margin(int64_t available);

struct MemoryBudget {
  int64_t host_available = -1;    // min(MemAvailable, cgroup room); -1 unknown
  int64_t device_available = -1;  // cudaMemGetInfo free bytes; -1 when not a CUDA case
  int64_t host_limit = -1;        // the imposed limit on the host side; -1 none
  int64_t device_limit = -1;      // on the device side
  int64_t host_bytes = -1;        // what a plan may use on the host; -1: no bound known
  int64_t device_bytes = -1;      // on the device; -1: no bound
};

// The budget from what is available and the imposed limit (which caps the
// host and the device alike; a fraction is of each side's available memory).
MemoryBudget make_budget(int64_t host_available, int64_t device_available, const MemoryLimit& limit);

// Reads the host now (and the device when cuda is set) and makes the budget.
MemoryBudget current_budget(const MemoryLimit& limit, bool cuda);

// Empty when the plan fits; otherwise the note of the oom row, e.g.
// "planned 64.4 GB host > budget 22.1 GB (available 23.3 GB less margin 1.23 GB)"
// (decimal units, 3 significant digits).
std::string memory_shortfall(const MemoryPlan& plan, const MemoryBudget& budget);

}  // namespace dfw
