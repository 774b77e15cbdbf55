// Device memory of the emulated runtime: cudaMalloc'd blocks are host memory
// (256-byte aligned, NaN bytes until written, the bytes past the requested size
// poisoned for AddressSanitizer), registered so that copies and frees can check
// that a device pointer lies inside a live allocation. The device holds at most
// DFWBENCH_EMU_DEVICE_MB (default 4096) MiB; beyond, cudaMalloc reports
// cudaErrorMemoryAllocation as a full device does.
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "device_memory.hpp"
#include "runtime_state.hpp"

namespace emu {
namespace {

std::mutex g_mutex;
std::map<const char*, std::size_t> g_blocks;  // base -> requested bytes
std::size_t g_used = 0;

bool inside_locked(const void* p, std::size_t bytes) {
  const char* c = static_cast<const char*>(p);
  auto it = g_blocks.upper_bound(c);
  if (it == g_blocks.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}

// Whether [p, p + bytes) lies in device memory (kind = the side of a copy that is the device).
bool device_range(const void* p, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return inside_locked(p, bytes);
}

cudaError_t check_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = device_range(dst, bytes), src_dev = device_range(src, bytes);
  switch (kind) {
    case cudaMemcpyHostToHost: return cudaSuccess;
    case cudaMemcpyHostToDevice: return dst_dev ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToHost: return src_dev ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToDevice: return dst_dev && src_dev ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDefault: return cudaSuccess;
  }
  return cudaErrorInvalidValue;
}

}  // namespace

std::size_t device_memory_bytes() {
  static const std::size_t bytes = [] {
    const char* v = std::getenv("DFWBENCH_EMU_DEVICE_MB");
    return std::size_t(v ? std::atoll(v) : 4096) << 20;
  }();
  return bytes;
}

std::size_t device_memory_used() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_used;
}

}  // namespace emu

using emu::record;

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (cudaError_t e = emu::sticky_error()) return e;
  if (!ptr) return record(cudaErrorInvalidValue);
  const std::size_t rounded = (std::max<std::size_t>(size, 1) + 255) / 256 * 256;
  {
    std::lock_guard<std::mutex> lock(emu::g_mutex);
    if (rounded > emu::device_memory_bytes() - emu::g_used) return record(cudaErrorMemoryAllocation);
  }
  char* p = static_cast<char*>(std::aligned_alloc(256, rounded));
  if (!p) return record(cudaErrorMemoryAllocation);
  std::memset(p, 0xff, rounded);
#if defined(__SANITIZE_ADDRESS__)
  __asan_poison_memory_region(p + size, rounded - size);
#endif
  std::lock_guard<std::mutex> lock(emu::g_mutex);
  emu::g_blocks[p] = size;
  emu::g_used += rounded;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  char* p = static_cast<char*>(ptr);
  std::size_t size = 0;
  {
    std::lock_guard<std::mutex> lock(emu::g_mutex);
    auto it = emu::g_blocks.find(p);
    if (it == emu::g_blocks.end()) return record(cudaErrorInvalidValue);
    size = it->second;
    emu::g_blocks.erase(it);
    emu::g_used -= (std::max<std::size_t>(size, 1) + 255) / 256 * 256;
  }
#if defined(__SANITIZE_ADDRESS__)
  __asan_unpoison_memory_region(p, (std::max<std::size_t>(size, 1) + 255) / 256 * 256);
#endif
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  const std::size_t used = emu::device_memory_used();
  *total = emu::device_memory_bytes();
  *free_bytes = *total - used;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (cudaError_t e = emu::sticky_error()) return e;
  if (cudaError_t e = emu::check_copy(dst, src, count, kind)) return record(e);
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!emu::is_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
  if (!emu::is_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  if (width > dpitch || width > spitch) return record(cudaErrorInvalidValue);
  for (size_t r = 0; r < height; ++r)
    if (cudaError_t e = cudaMemcpy(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch,
                                   width, kind))
      return e;
  return cudaSuccess;
}

cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (cudaError_t e = emu::sticky_error()) return e;
  if (count == 0) return cudaSuccess;
  if (!emu::device_range(ptr, count)) return record(cudaErrorInvalidValue);
  std::memset(ptr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream) {
  if (!emu::is_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  return cudaMemset(ptr, value, count);
}

}  // extern "C"
