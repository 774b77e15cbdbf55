// The emulated device's interface for device code: the current GPU thread's
// coordinates, the block barrier, warp collectives, dynamic shared memory and
// kernel faults. Implemented by block_runner.cpp; the CUDA names built on it
// are in emu_builtins.hpp and mma.h.
#pragma once

#include <vector_types.h>

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

namespace emu {

// What device code reads as threadIdx, blockIdx, blockDim, gridDim.
struct ThreadState {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
  unsigned lane = 0, warp = 0;  // lane and warp of the linear thread index
};

// The GPU thread running on this OS thread (set by the block runner before each switch).
extern __thread const ThreadState* g_current;

// Completes a warp collective once every lane of its mask has arrived: gets each
// participating lane's argument (nullptr for the others) and writes their results.
using CollectiveFn = void (*)(void* const* lane_args, unsigned mask);

// On a complete() compiled into a kernel's translation unit: its reads and writes of
// other lanes' arguments stay out of ThreadSanitizer's sight (the emulator's own code is
// built uninstrumented), since only __syncwarp orders memory among lanes.
#define DFW_EMU_UNSEEN_BY_TSAN __attribute__((no_sanitize("thread")))

// A warp collective (shuffle, vote, __syncwarp, wmma): blocks until every lane of
// `mask` has called the same collective at the same source line; the last to
// arrive runs complete(). A lane outside its own mask, a mask lane that exited or
// waits elsewhere, is a kernel fault naming the lines.
void warp_collective(const char* what, unsigned mask, void* lane_arg, CollectiveFn complete, const char* file,
                     int line);

// __syncthreads and its _count/_and/_or forms: blocks until every thread of the
// block has reached this same barrier; returns the count of non-zero predicates.
int block_barrier(const char* what, int predicate, const char* file, int line);

// The block's dynamic shared memory (NaN bytes until written).
void* dynamic_shared();

// Whether bytes [p, p + bytes) lie inside this launch's dynamic shared memory.
bool in_dynamic_shared(const void* p, std::size_t bytes);

// Stops the block with an error the launch reports (a sticky launch failure).
[[noreturn]] void kernel_fault(const std::string& message);

// cp.async (async_copy.hpp): the running thread's copies issued and not yet waited
// for, those since its last commit and its committed groups, oldest first. A thread
// that exits with any of them is a kernel fault.
struct AsyncCopy {
  void* dst;
  const void* src;
  int src_bytes;  // of 16; the rest of the 16 bytes is zero-filled
};
struct AsyncCopies {
  std::vector<AsyncCopy> open;
  std::deque<std::vector<AsyncCopy>> groups;
};
AsyncCopies& async_copies();

}  // namespace emu
