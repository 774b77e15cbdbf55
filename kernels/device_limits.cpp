// device_limits (device_limits.hpp): two device attributes, read once; and the
// opt-in to them per kernel.
#include "device_limits.hpp"

#include <cuda_runtime.h>

#include <mutex>
#include <set>

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

void allow_optin_shared(const void* kernel) {
  static std::mutex mutex;
  static std::set<const void*> done;
  const std::lock_guard<std::mutex> lock(mutex);
  if (done.insert(kernel).second)
    DFW_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        device_limits().max_shared_optin));
}

}  // namespace dfw
