// Asynchronous global -> shared copies (sm_80+ cp.async), 16 bytes at a time:
//   cp_async_16(dst, src, src_bytes)  cp.async.cg.shared.global [dst], [src], 16, src_bytes:
//                                     the first src_bytes (0 or 16 here; 0 reads nothing)
//                                     from src, zeros for the rest;
//   cp_async_commit()                 cp.async.commit_group: the copies issued since the last
//                                     commit become one group;
//   cp_async_wait_group<N>()          cp.async.wait_group N: this thread's groups but the N
//                                     newest are complete; other threads see the bytes only
//                                     after a barrier that follows their issuers' waits.
// Addresses are 16-byte aligned; dst in shared memory, src in global memory. Every asm
// has a memory clobber, so no shared access moves across it. On the
// emulated device (kernels/emu/include/async_copy.hpp) the destination holds NaN from
// the issue until the wait, so an early read or a premature reuse shows.
#pragma once

#include <cstdint>

namespace dfw {

__device__ __forceinline__ void cp_async_16(void* dst, const void* src, int src_bytes) {
#if defined(__CUDACC__)
  const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(__cvta_generic_to_global(src)),
               "r"(src_bytes)
               : "memory");
#else
  ::emu::cp_async_16(dst, src, src_bytes);
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDACC__)
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#else
  ::emu::cp_async_commit();
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait_group() {
#if defined(__CUDACC__)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#else
  ::emu::cp_async_wait_group(N);
#endif
}

}  // namespace dfw
