// CudaRunTimer::time and the process-wide L2 flush buffer.
#include <algorithm>

#include "cuda_prepared.hpp"

namespace dfw {
namespace {

// A device buffer twice the L2 size, written before each timed run so no case
// starts with its inputs cached. Timing machinery, not part of any case: it is
// allocated once per process and kept out of MemoryTracker::device(), so the
// peak memory a case reports is its own.
class L2Flusher {
 public:
  L2Flusher() {
    int dev = 0, l2 = 0;
    DFW_CUDA_CHECK(cudaGetDevice(&dev));
    DFW_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    bytes_ = std::max<std::size_t>(2 * std::size_t(l2), std::size_t(8) << 20);
    DFW_CUDA_CHECK(cudaMalloc(&buf_, bytes_));
  }
  ~L2Flusher() { cudaFree(buf_); }
  L2Flusher(const L2Flusher&) = delete;
  L2Flusher& operator=(const L2Flusher&) = delete;

  void flush(cudaStream_t s) { DFW_CUDA_CHECK(cudaMemsetAsync(buf_, 0, bytes_, s)); }

 private:
  void* buf_ = nullptr;
  std::size_t bytes_ = 0;
};

L2Flusher& flusher() {
  static L2Flusher f;
  return f;
}

}  // namespace

double CudaRunTimer::time(const std::function<void()>& run) {
  flusher().flush(stream());
  start_.record(stream());
  run();
  stop_.record(stream());
  stop_.synchronize();
  return stop_.ms_since(start_);
}

}  // namespace dfw
