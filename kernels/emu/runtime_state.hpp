// Internal state of the emulated CUDA runtime shared by its source files: the
// device's limits, the per-host-thread last error and the sticky error a kernel
// fault leaves, kernels' attributes, and the stream registry.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace emu {

constexpr std::size_t kSharedDefault = 48 * 1024;    // dynamic shared memory without opt-in
constexpr std::size_t kSharedCapacity = 227 * 1024;  // sm_90's opt-in maximum per block
constexpr int kMaxThreadsPerBlock = 1024;

// Returns e after recording it as this host thread's last error (cudaSuccess records
// nothing). A sticky error, once set, is what every later call returns.
cudaError_t record(cudaError_t e);
cudaError_t sticky_error();
void set_sticky(cudaError_t e, const std::string& message);
void clear_errors();

// The largest dynamic shared memory a kernel may be launched with (cudaFuncSetAttribute).
std::size_t max_dynamic_shared(const void* func);

bool is_stream(cudaStream_t s);  // nullptr (the default stream) or a live created stream

}  // namespace emu
