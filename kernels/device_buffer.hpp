// DeviceBuffer<T>: an owning device array (RAII, move-only, TrackedArray) whose bytes are
// counted by MemoryTracker::device(); an allocation the device cannot satisfy
// throws dfw::OutOfMemory so a sweep records the case as OOM and goes on.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_check.hpp"
#include "impl.hpp"
#include "memory_tracker.hpp"
#include "tracked_array.hpp"

namespace dfw {

struct DeviceSpace {
  static void* allocate(std::size_t bytes, std::size_t& allocated) {
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // reset the runtime's last-error slot
      throw OutOfMemory("device: cannot allocate " + std::to_string(bytes) + " bytes");
    }
    if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
    allocated = bytes;
    return p;
  }
  static void release(void* p) { cudaFree(p); }  // cannot throw; a failed free leaves nothing to do
  static MemoryTracker& tracker() { return MemoryTracker::device(); }
};

template <class T>
class DeviceBuffer : public TrackedArray<T, DeviceSpace> {
 public:
  using TrackedArray<T, DeviceSpace>::TrackedArray;

  // Host -> device of exactly size() elements, synchronous on the stream (the
  // host vector may be a temporary). Throws on a size mismatch.
  void upload(const std::vector<T>& host, cudaStream_t stream) {
    if (host.size() != this->size()) throw std::logic_error("DeviceBuffer::upload: size mismatch");
    if (this->empty()) return;
    DFW_CUDA_CHECK(
        cudaMemcpyAsync(this->data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice, stream));
    DFW_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  // Device -> host, synchronous on the stream.
  std::vector<T> download(cudaStream_t stream) const {
    std::vector<T> host(this->size());
    if (!host.empty()) {
      DFW_CUDA_CHECK(
          cudaMemcpyAsync(host.data(), this->data(), host.size() * sizeof(T), cudaMemcpyDeviceToHost, stream));
      DFW_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    return host;
  }
};

// A pointer or nullptr for an empty buffer (an absent optional input).
template <class T>
const T* or_null(const DeviceBuffer<T>& b) {
  return b.empty() ? nullptr : b.data();
}

}  // namespace dfw
