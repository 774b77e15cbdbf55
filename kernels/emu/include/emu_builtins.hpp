// The CUDA device built-ins the emulated device offers to translated .cu code:
// threadIdx / blockIdx / blockDim / gridDim / warpSize, __syncthreads (and
// _count/_and/_or), __syncwarp, the _sync shuffles and votes, atomics and the
// device math functions a host compiler lacks. Barriers and collectives record
// their caller's file and line (the .cu, through #line) for fault reports.
#pragma once

// CUDA's headers first: the built-in names below are macros.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "emu_device.hpp"

#define threadIdx (::emu::g_current->thread_idx)
#define blockIdx (::emu::g_current->block_idx)
#define blockDim (::emu::g_current->block_dim)
#define gridDim (::emu::g_current->grid_dim)
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

constexpr int warpSize = 32;

namespace emu {

enum class ShflMode { idx, up, down, bfly };

// One lane's part of a shuffle: its value in, the source lane's value out.
struct ShflLane {
  std::uint64_t value = 0, result = 0;
  int arg = 0, width = 32;
  ShflMode mode = ShflMode::idx;
};
void shfl_complete(void* const* lanes, unsigned mask);

// One lane's part of a vote: its predicate in, the ballot of the mask out.
struct VoteLane {
  int predicate = 0;
  unsigned ballot = 0;
};
void vote_complete(void* const* lanes, unsigned mask);

template <class T>
T shfl(const char* what, ShflMode mode, unsigned mask, T var, int arg, int width, const char* file, int line) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffles move 4 or 8 bytes");
  ShflLane me;
  std::memcpy(&me.value, &var, sizeof(T));
  me.arg = arg;
  me.width = width;
  me.mode = mode;
  warp_collective(what, mask, &me, &shfl_complete, file, line);
  T out;
  std::memcpy(&out, &me.result, sizeof(T));
  return out;
}

inline unsigned vote(const char* what, unsigned mask, int predicate, const char* file, int line) {
  VoteLane me;
  me.predicate = predicate;
  warp_collective(what, mask, &me, &vote_complete, file, line);
  return me.ballot;
}

}  // namespace emu

// ---- barriers ----------------------------------------------------------------
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::emu::block_barrier("__syncthreads", 0, file, line);
}
inline int __syncthreads_count(int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::emu::block_barrier("__syncthreads_count", p, file, line);
}
inline int __syncthreads_and(int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::emu::block_barrier("__syncthreads_and", p, file, line) == int(blockDim.x * blockDim.y * blockDim.z);
}
inline int __syncthreads_or(int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::emu::block_barrier("__syncthreads_or", p, file, line) > 0;
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::emu::vote("__syncwarp", mask, 0, file, line);
}

// ---- shuffles and votes --------------------------------------------------------
template <class T>
T __shfl_sync(unsigned mask, T var, int src, int width = warpSize, const char* file = __builtin_FILE(),
              int line = __builtin_LINE()) {
  return ::emu::shfl("__shfl_sync", ::emu::ShflMode::idx, mask, var, src, width, file, line);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize, const char* file = __builtin_FILE(),
                 int line = __builtin_LINE()) {
  return ::emu::shfl("__shfl_up_sync", ::emu::ShflMode::up, mask, var, int(delta), width, file, line);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
  return ::emu::shfl("__shfl_down_sync", ::emu::ShflMode::down, mask, var, int(delta), width, file, line);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
  return ::emu::shfl("__shfl_xor_sync", ::emu::ShflMode::bfly, mask, var, lane_mask, width, file, line);
}
inline unsigned __ballot_sync(unsigned mask, int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::emu::vote("__ballot_sync", mask, p, file, line);
}
inline int __any_sync(unsigned mask, int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::emu::vote("__any_sync", mask, p, file, line) != 0;
}
inline int __all_sync(unsigned mask, int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::emu::vote("__all_sync", mask, p, file, line) == mask;
}

// ---- atomics (real host atomics: blocks run on several OS threads) ---------------
template <class T>
T atomicAdd(T* address, T val) {
  if constexpr (std::is_integral<T>::value) {
    return __atomic_fetch_add(address, val, __ATOMIC_RELAXED);
  } else {  // float, double: a compare-and-swap loop (the generic builtins take any type)
    T old;
    __atomic_load(address, &old, __ATOMIC_RELAXED);
    T sum = old + val;
    while (!__atomic_compare_exchange(address, &old, &sum, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) sum = old + val;
    return old;
  }
}
template <class T>
T atomicCAS(T* address, T compare, T val) {
  __atomic_compare_exchange_n(address, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;
}
template <class T>
T atomicExch(T* address, T val) {
  return __atomic_exchange_n(address, val, __ATOMIC_RELAXED);
}
template <class T>
T atomicMax(T* address, T val) {
  static_assert(std::is_integral<T>::value, "atomicMax takes integers");
  T old = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (old < val && !__atomic_compare_exchange_n(address, &old, val, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

// ---- loads ---------------------------------------------------------------------------
// __ldg: a load through the read-only data cache on the device; a plain load here.
template <class T>
T __ldg(const T* p) {
  return *p;
}

// ---- device math a host compiler does not declare ----------------------------------
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
constexpr T min(T a, T b) {
  return b < a ? b : a;
}
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
constexpr T max(T a, T b) {
  return a < b ? b : a;
}
