// DFW_CUDA_CHECK(call): throws std::runtime_error "file:line: call: <cuda error
// string>" when a CUDA runtime call fails. DFW_CUDA_CHECK_LAUNCH() after a kernel
// launch checks the launch itself (bad configuration, no kernel image).
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace dfw {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + what + ": " +
                           cudaGetErrorString(err));
}

}  // namespace dfw

#define DFW_CUDA_CHECK(call)                                                      \
  do {                                                                            \
    const cudaError_t dfw_err_ = (call);                                          \
    if (dfw_err_ != cudaSuccess) ::dfw::throw_cuda_error(dfw_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define DFW_CUDA_CHECK_LAUNCH() DFW_CUDA_CHECK(cudaGetLastError())
