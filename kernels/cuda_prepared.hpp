// CudaPrepared, CudaPreparedBackward: the bases of every CUDA case (forward, backward).
// Each owns the case's stream; timed_run_ms flushes the L2 cache (writes a buffer twice
// the L2 size) and times run() with CUDA events on that stream.
#pragma once

#include <functional>

#include "backward_impl.hpp"
#include "cuda_raii.hpp"
#include "impl.hpp"

namespace dfw {

// The stream and events a case times its run() with.
class CudaRunTimer {
 public:
  cudaStream_t stream() const { return stream_.get(); }
  void synchronize() const { stream_.synchronize(); }
  // Flushes the L2, then the milliseconds run (launching on stream()) takes on the device.
  double time(const std::function<void()>& run);

 private:
  CudaStream stream_;
  CudaEvent start_, stop_;
};

// A case (Base: Prepared, or PreparedBackward) whose run() only launches on stream():
// synchronize() waits for it and timed_run_ms() times it on the device.
template <class Base>
class CudaTimed : public Base {
 public:
  void synchronize() override { timer_.synchronize(); }
  double timed_run_ms() override {
    return timer_.time([this] { this->run(); });
  }

 protected:
  cudaStream_t stream() const { return timer_.stream(); }

 private:
  CudaRunTimer timer_;
};

using CudaPrepared = CudaTimed<Prepared>;
// gradients() downloads on the same stream, which waits for run().
using CudaPreparedBackward = CudaTimed<PreparedBackward>;

}  // namespace dfw
