// The emulated device's identity and limits: an H200-like sm_90 part (132 SMs,
// 50 MiB L2, 48 KiB default and 227 KiB opt-in shared memory per block), with
// the memory size of device_memory.hpp; kernels' function attributes; and resident
// blocks per SM from threads and shared memory (the emulated device has no register
// file, so a real device's register limit can only lower that figure).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "device_memory.hpp"
#include "runtime_state.hpp"

namespace emu {
namespace {

std::mutex g_mutex;
std::map<const void*, std::size_t> g_max_shared;  // kernel -> cudaFuncAttributeMaxDynamicSharedMemorySize

constexpr int kSms = 132;
constexpr int kL2Bytes = 50 * 1024 * 1024;
constexpr int kClockKhz = 1980000;
constexpr int kMemoryClockKhz = 3201000;
constexpr int kBusBits = 6144;

}  // namespace

std::size_t max_dynamic_shared(const void* func) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_max_shared.find(func);
  return it == g_max_shared.end() ? kSharedDefault : it->second;
}

}  // namespace emu

using emu::record;

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record(cudaErrorInvalidDevice); }

cudaError_t cudaDriverGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return record(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "Emulated CUDA device (H200-like sm_90, dfwbench kernels/emu)");
  p->totalGlobalMem = emu::device_memory_bytes();
  p->sharedMemPerBlock = emu::kSharedDefault;
  p->sharedMemPerBlockOptin = emu::kSharedCapacity;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->regsPerMultiprocessor = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = emu::kMaxThreadsPerBlock;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->totalConstMem = 65536;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = emu::kSms;
  p->l2CacheSize = emu::kL2Bytes;
  p->memoryBusWidth = emu::kBusBits;
  p->maxThreadsPerMultiProcessor = 2048;
  p->maxBlocksPerMultiProcessor = 32;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return record(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMultiProcessorCount: *value = emu::kSms; break;
    case cudaDevAttrClockRate: *value = emu::kClockKhz; break;
    case cudaDevAttrMemoryClockRate: *value = emu::kMemoryClockKhz; break;
    case cudaDevAttrGlobalMemoryBusWidth: *value = emu::kBusBits; break;
    case cudaDevAttrL2CacheSize: *value = emu::kL2Bytes; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(emu::kSharedDefault); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(emu::kSharedCapacity); break;
    case cudaDevAttrMaxThreadsPerBlock: *value = emu::kMaxThreadsPerBlock; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    default: return record(cudaErrorNotSupported);  // not emulated: say so rather than invent a value
  }
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (cudaError_t e = emu::sticky_error()) return e;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return record(cudaErrorNotSupported);
  if (value < 0 || std::size_t(value) > emu::kSharedCapacity) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(emu::g_mutex);
  emu::g_max_shared[func] = std::size_t(value);
  return cudaSuccess;
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* func) {
  if (cudaError_t e = emu::sticky_error()) return e;
  *attr = cudaFuncAttributes{};
  attr->maxThreadsPerBlock = emu::kMaxThreadsPerBlock;
  attr->maxDynamicSharedSizeBytes = int(emu::max_dynamic_shared(func));
  attr->ptxVersion = 90;
  attr->binaryVersion = 90;
  return cudaSuccess;
}

cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* blocks, const void* func, int block_size,
                                                                   size_t dynamic_shared, unsigned int flags) {
  (void)flags;
  if (cudaError_t e = emu::sticky_error()) return e;
  if (block_size <= 0 || block_size > emu::kMaxThreadsPerBlock || dynamic_shared > emu::max_dynamic_shared(func))
    return record(cudaErrorInvalidValue);
  constexpr int kThreadsPerSm = 2048, kBlocksPerSm = 32;
  constexpr std::size_t kSharedPerSm = 228 * 1024, kReservedPerBlock = 1024;
  const int warps = (block_size + 31) / 32;
  const int by_threads = kThreadsPerSm / (32 * warps);
  const int by_shared = int(kSharedPerSm / (dynamic_shared + kReservedPerBlock));
  *blocks = std::min({kBlocksPerSm, by_threads, by_shared});
  return cudaSuccess;
}

}  // extern "C"
