// cuda_kernel_image_problem: launches nothing; asks the runtime whether this
// binary holds code the current device can run (sm_90 SASS / compute_90 PTX by
// default), so an older GPU is reported once, clearly, instead of failing in
// every kernel launch.
#include <cuda_runtime.h>

#include <string>

namespace dfw {
namespace {

__global__ void kernel_image_probe() {}

}  // namespace

std::string cuda_kernel_image_problem() {
  cudaFuncAttributes attr{};
  const cudaError_t err = cudaFuncGetAttributes(&attr, kernel_image_probe);
  if (err == cudaSuccess) return "";
  cudaGetLastError();
  int dev = 0, major = 0, minor = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
  return std::string(cudaGetErrorString(err)) + " (device is sm_" + std::to_string(major * 10 + minor) +
         "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" + std::to_string(major * 10 + minor) + ")";
}

}  // namespace dfw
