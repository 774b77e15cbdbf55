// Error state of the emulated runtime: the per-host-thread last error, the
// sticky error a kernel fault leaves (until cudaDeviceReset), and the error
// names and strings.
#include <cstdio>
#include <mutex>

#include "runtime_state.hpp"

namespace emu {
namespace {

thread_local cudaError_t t_last = cudaSuccess;
std::mutex g_mutex;
cudaError_t g_sticky = cudaSuccess;

}  // namespace

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) t_last = e;
  return e;
}

cudaError_t sticky_error() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_sticky;
}

void set_sticky(cudaError_t e, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_sticky == cudaSuccess) g_sticky = e;
  }
  std::fprintf(stderr, "emulated CUDA device: %s\n", message.c_str());
  record(e);
}

void clear_errors() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sticky = cudaSuccess;
  t_last = cudaSuccess;
}

}  // namespace emu

extern "C" {

cudaError_t cudaGetLastError(void) {
  const cudaError_t sticky = emu::sticky_error();
  if (sticky != cudaSuccess) return sticky;
  const cudaError_t e = emu::t_last;
  emu::t_last = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) {
  const cudaError_t sticky = emu::sticky_error();
  return sticky != cudaSuccess ? sticky : emu::t_last;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulated device: see the fault report on stderr)";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNotSupported: return "operation not supported";
    default: return "unknown error";
  }
}

cudaError_t cudaDeviceReset(void) {
  emu::clear_errors();
  return cudaSuccess;
}

}  // extern "C"
