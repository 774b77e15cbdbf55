// HostBuffer<T>: an owning, 64-byte aligned, zero-initialised host array whose
// bytes are counted by MemoryTracker::host(). Move-only (RAII, TrackedArray).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "memory_tracker.hpp"
#include "tracked_array.hpp"

namespace dfw {

struct HostSpace {
  static void* allocate(std::size_t bytes, std::size_t& allocated) {
    if (bytes > SIZE_MAX - 63) throw std::bad_alloc();
    allocated = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, allocated);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, allocated);
    return p;
  }
  static void release(void* p) { std::free(p); }
  static MemoryTracker& tracker() { return MemoryTracker::host(); }
};

template <class T>
class HostBuffer : public TrackedArray<T, HostSpace> {
 public:
  using TrackedArray<T, HostSpace>::TrackedArray;
  T& operator[](std::size_t i) { return this->data()[i]; }
  const T& operator[](std::size_t i) const { return this->data()[i]; }
};

}  // namespace dfw
