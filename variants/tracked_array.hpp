// TrackedArray<T, Space>: an owning, move-only array of n T (RAII) whose bytes
// are counted by Space::tracker(). Space says where the bytes live:
//   static void* allocate(std::size_t bytes, std::size_t& allocated);  // throws on failure
//   static void release(void* p);                                      // cannot throw
//   static MemoryTracker& tracker();
// HostBuffer (host_buffer.hpp) and DeviceBuffer (kernels/device_buffer.hpp) are
// the two spaces' arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "memory_tracker.hpp"

namespace dfw {

template <class T, class Space>
class TrackedArray {
 public:
  TrackedArray() = default;
  explicit TrackedArray(std::size_t n) : n_(n) {
    if (n == 0) return;
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    data_ = static_cast<T*>(Space::allocate(n * sizeof(T), bytes_));
    Space::tracker().add(bytes_);
  }
  ~TrackedArray() { release(); }
  TrackedArray(const TrackedArray&) = delete;
  TrackedArray& operator=(const TrackedArray&) = delete;
  TrackedArray(TrackedArray&& o) noexcept { swap(o); }
  TrackedArray& operator=(TrackedArray&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }

 private:
  void release() {
    if (data_) {
      Space::release(data_);
      Space::tracker().remove(bytes_);
    }
    data_ = nullptr;
    n_ = bytes_ = 0;
  }
  void swap(TrackedArray& o) {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    std::swap(bytes_, o.bytes_);
  }
  T* data_ = nullptr;
  std::size_t n_ = 0;
  std::size_t bytes_ = 0;  // as allocated (the host rounds up to 64)
};

}  // namespace dfw
