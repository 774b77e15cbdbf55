// cp.async on the emulated device, as kernels/cp_async.cuh issues it
// (cp.async.cg.shared.global 16 bytes, commit_group, wait_group). The device may
// write a copy's bytes at any moment between the issue and the wait that covers
// it, so the emulator takes the two ends: at the issue the 16 destination bytes
// become NaN (0xff), at the wait they become the source's bytes (zeros past
// src_bytes). A read before the wait sees NaN, and a copy issued into a buffer
// other threads still read clobbers it, whichever order the schedule picks.
// Both writes run in the kernel's translation unit, where ThreadSanitizer sees
// them. The device's requirements are faults: 16-byte aligned addresses, the
// destination in the block's shared memory, the source outside it.
#pragma once

#include <cstdint>
#include <cstring>

#include "emu_device.hpp"

namespace emu {

inline void cp_async_16(void* dst, const void* src, int src_bytes) {
  if (reinterpret_cast<std::uintptr_t>(dst) % 16 != 0) kernel_fault("cp.async: destination not 16-byte aligned");
  if (!in_dynamic_shared(dst, 16)) kernel_fault("cp.async: destination is not in the block's shared memory");
  if (src_bytes < 0 || src_bytes > 16) kernel_fault("cp.async: src-size outside 0..16");
  if (src_bytes > 0 && reinterpret_cast<std::uintptr_t>(src) % 16 != 0)
    kernel_fault("cp.async: source not 16-byte aligned");
  if (src_bytes > 0 && in_dynamic_shared(src, 1)) kernel_fault("cp.async: source in shared memory (it reads global)");
  std::memset(dst, 0xff, 16);
  async_copies().open.push_back({dst, src, src_bytes});
}

inline void cp_async_commit() {
  AsyncCopies& q = async_copies();
  q.groups.push_back(std::move(q.open));
  q.open.clear();
}

// Completes the oldest committed groups until at most `pending` remain.
inline void cp_async_wait_group(int pending) {
  AsyncCopies& q = async_copies();
  while (int(q.groups.size()) > pending) {
    for (const AsyncCopy& c : q.groups.front()) {
      unsigned char* d = static_cast<unsigned char*>(c.dst);
      if (c.src_bytes > 0) std::memcpy(d, c.src, std::size_t(c.src_bytes));
      std::memset(d + c.src_bytes, 0, std::size_t(16 - c.src_bytes));
    }
    q.groups.pop_front();
  }
}

}  // namespace emu
