// device_limits (device_limits.hpp): two device attributes, read once.
#include "device_limits.hpp"

#include <cuda_runtime.h>

#include "cuda_check.hpp"

namespace dfw {

const DeviceLimits& device_limits() {
  static const DeviceLimits limits = [] {
    DeviceLimits l;
    int dev = 0;
    DFW_CUDA_CHECK(cudaGetDevice(&dev));
    DFW_CUDA_CHECK(cudaDeviceGetAttribute(&l.sms, cudaDevAttrMultiProcessorCount, dev));
    DFW_CUDA_CHECK(cudaDeviceGetAttribute(&l.max_shared_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return l;
  }();
  return limits;
}

}  // namespace dfw
