// Why the CUDA forms cannot run here, asked once of the runtime; launches nothing.
// cuda_device_count_problem: no device, or no driver at all. The runtime answers
// "CUDA driver version is insufficient for CUDA runtime version" both for an old
// driver and for none; with no NVIDIA kernel module (/proc/driver/nvidia/version)
// and no driver library (libcuda.so.1) it is the latter, and the reason says so.
// cuda_kernel_image_problem: whether this binary holds code the current device
// can run (sm_90 SASS / compute_90 PTX by default), so an older GPU is reported
// once, clearly, instead of failing in every kernel launch.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <unistd.h>

#include <string>

namespace dfw {
namespace {

__global__ void kernel_image_probe() {}

bool nvidia_driver_present() {
  if (::access("/proc/driver/nvidia/version", F_OK) == 0) return true;
  void* lib = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (lib) ::dlclose(lib);
  return lib != nullptr;
}

}  // namespace

std::string cuda_device_count_problem() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorInsufficientDriver && !nvidia_driver_present())
    return "no NVIDIA driver found (no /proc/driver/nvidia/version, no libcuda.so.1)";
  if (err != cudaSuccess) return cudaGetErrorString(err);
  if (count == 0) return "no CUDA device found";
  return "";
}

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
