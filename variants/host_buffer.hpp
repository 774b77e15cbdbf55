// HostBuffer<T>: an owning, 64-byte aligned, zero-initialised host array whose
// bytes are counted by MemoryTracker::host(). Move-only (RAII).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "memory_tracker.hpp"

namespace dfw {

template <class T>
class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(std::size_t n) : n_(n) {
    if (n == 0) return;
    if (n > SIZE_MAX / sizeof(T) - 64) throw std::bad_alloc();
    std::size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!data_) throw std::bad_alloc();
    std::memset(static_cast<void*>(data_), 0, bytes);
    bytes_ = bytes;
    MemoryTracker::host().add(bytes_);
  }
  ~HostBuffer() { release(); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  HostBuffer(HostBuffer&& o) noexcept { swap(o); }
  HostBuffer& operator=(HostBuffer&& o) noexcept {
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
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

 private:
  void release() {
    if (data_) {
      std::free(data_);
      MemoryTracker::host().remove(bytes_);
    }
    data_ = nullptr;
    n_ = bytes_ = 0;
  }
  void swap(HostBuffer& o) {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    std::swap(bytes_, o.bytes_);
  }
  T* data_ = nullptr;
  std::size_t n_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace dfw
