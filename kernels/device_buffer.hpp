// DeviceBuffer<T>: an owning device array (RAII, move-only) whose bytes are
// counted by MemoryTracker::device(); an allocation the device cannot satisfy
// throws dfw::OutOfMemory so a sweep records the case as OOM and goes on.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "cuda_check.hpp"
#include "impl.hpp"
#include "memory_tracker.hpp"

namespace dfw {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n) {
    if (n == 0) return;
    const std::size_t bytes = n * sizeof(T);
    const cudaError_t err = cudaMalloc(reinterpret_cast<void**>(&data_), bytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // reset the runtime's last-error slot
      throw OutOfMemory("device: cannot allocate " + std::to_string(bytes) + " bytes");
    }
    if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
    bytes_ = bytes;
    MemoryTracker::device().add(bytes_);
  }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
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

  // Host -> device of exactly size() elements, synchronous on the stream (the
  // host vector may be a temporary). Throws on a size mismatch.
  void upload(const std::vector<T>& host, cudaStream_t stream) {
    if (host.size() != n_) throw std::logic_error("DeviceBuffer::upload: size mismatch");
    if (!n_) return;
    DFW_CUDA_CHECK(cudaMemcpyAsync(data_, host.data(), bytes_, cudaMemcpyHostToDevice, stream));
    DFW_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  // Device -> host, synchronous on the stream.
  std::vector<T> download(cudaStream_t stream) const {
    std::vector<T> host(n_);
    if (n_) {
      DFW_CUDA_CHECK(cudaMemcpyAsync(host.data(), data_, bytes_, cudaMemcpyDeviceToHost, stream));
      DFW_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    return host;
  }

 private:
  void release() {
    if (data_) {
      cudaFree(data_);  // a destructor cannot throw; a failed free leaves nothing to do
      MemoryTracker::device().remove(bytes_);
    }
    data_ = nullptr;
    n_ = bytes_ = 0;
  }
  void swap(DeviceBuffer& o) {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    std::swap(bytes_, o.bytes_);
  }
  T* data_ = nullptr;
  std::size_t n_ = 0;
  std::size_t bytes_ = 0;
};

// A pointer or nullptr for an empty buffer (an absent optional input).
template <class T>
const T* or_null(const DeviceBuffer<T>& b) {
  return b.empty() ? nullptr : b.data();
}

}  // namespace dfw
