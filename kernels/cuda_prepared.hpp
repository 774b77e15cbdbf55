// CudaPrepared: the base of every CUDA case. Owns the case's stream; timed_run_ms
// flushes the L2 cache (writes a buffer twice the L2 size) and times run() with
// CUDA events on that stream.
#pragma once

#include "cuda_raii.hpp"
#include "impl.hpp"

namespace dfw {

class CudaPrepared : public Prepared {
 public:
  void synchronize() override { stream_.synchronize(); }
  double timed_run_ms() override;

 protected:
  cudaStream_t stream() const { return stream_.get(); }

 private:
  CudaStream stream_;
  CudaEvent start_, stop_;
};

}  // namespace dfw
