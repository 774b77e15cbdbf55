// Small kernels that probe the emulated CUDA device (emu_probe_kernels.cu): each
// host function launches one, synchronises and returns what the test checks.
// They are .cu sources like the project's kernels, translated by cu_to_cpp.py.
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <vector>

namespace emu_probe {

// Every lane's result of __shfl_xor_sync(lane, 1), __shfl_sync(lane, 3, width 8),
// __shfl_up_sync(lane, 2), __shfl_down_sync(lane, 5) and __ballot_sync(lane odd),
// concatenated (5 x 32 values).
std::vector<int> warp_ops();

// __syncthreads_count / _and / _or over a block of `threads` with predicate (tid % 3 == 0).
std::vector<int> barrier_votes(int threads);

// Every thread of `blocks` blocks of 128 adds 1 to one float and one int with
// atomicAdd (the blocks run on several host threads): {float total, int total}.
std::vector<double> atomic_totals(int blocks);

// Block 0's view of an unwritten dynamic shared array of `floats` floats: how many are NaN.
int unwritten_shared_nans(int floats);

// Launches a kernel with `bytes` of dynamic shared memory after optionally raising its
// limit to `opt_in` bytes; returns cudaGetLastError() after the launch.
cudaError_t launch_with_shared(std::size_t bytes, int opt_in);

// D = A B + C for one 16x16x16 (half, bf16) or 16x16x8 (tf32) tile, A and B given
// as floats (rounded to the type), layouts chosen by a_col / b_col; D row-major.
std::vector<float> wmma_tile(const std::string& type, const std::vector<float>& a, const std::vector<float>& b,
                             const std::vector<float>& c, bool a_col, bool b_col);

// D = A B + C for one m16n8k8 tile through kernels/mma_tf32.cuh's mma_m16n8k8_tf32: A
// (16 x 8) and C (16 x 8) row-major, B given as its transpose bt (8 x 8, bt[n][k] = B[k][n]);
// D row-major. helpers = false: each lane places its fragments by the PTX ISA's
// m16n8k8 tf32 tables as the probe transcribes them; true: by mma_tf32.cuh's loaders
// and the m16n8 accumulator coordinates (mma_f16.cuh's).
std::vector<float> mma_tf32_tile(const std::vector<float>& a, const std::vector<float>& bt,
                                 const std::vector<float>& c, bool helpers);

// D = A B (16 x 16 x 16) through kernels/mma_f16.cuh, type "fp16" or "bf16", A and B
// row-major floats (exact in the type), D row-major. helpers = false: each lane places
// its registers by the PTX ISA's m16n8k16 tables as the probe transcribes them, from
// global memory; true: A and B staged in shared memory (in_global: in global memory,
// loaded element by element, TileSpace::any) as their rows or transposed (a_cols,
// b_cols) and loaded by mma_f16.cuh's loaders, D placed by store_acc_16x16.
struct MmaF16Loads {
  bool helpers = false, a_cols = false, b_cols = false, in_global = false;
};
std::vector<float> mma_f16_tile(const std::string& type, const std::vector<float>& a, const std::vector<float>& b,
                                MmaF16Loads how);

// cp.async through kernels/cp_async.cuh, 32 threads, one 16-byte chunk (4 floats) per
// thread per group, src = 256 floats: group A copies chunk l of src (lane l; src-size 16,
// 8 where l % 4 == 2, 0 where l % 4 == 3), group B chunk 32 + l. Returns 512 floats, four
// blocks of 128 by lane chunk: A's chunk after cp.async.wait_group 1; B's chunk before its
// wait; B's chunk after wait_group 0; then, after a __syncthreads, lane l + 1's A chunk.
std::vector<float> cp_async_groups(const std::vector<float>& src);

// Faulting kernels: each returns the error of the synchronising call after it.
cudaError_t divergent_barrier();        // even and odd warps at different __syncthreads
cudaError_t exit_before_barrier();      // warp 1 returns, the others wait at a barrier
cudaError_t half_warp_shuffle();        // lanes 0-15 shuffle with a full mask
cudaError_t misaligned_wmma_load();     // a load from a pointer 16 bytes past alignment
cudaError_t odd_ldm_wmma_load();        // ldm = 12 halves (24 bytes)
cudaError_t ldmatrix_from_global();     // ldmatrix's row addresses in global memory
cudaError_t cp_async_to_global();       // a cp.async destination in global memory
cudaError_t cp_async_misaligned();      // a cp.async source 4 bytes past alignment
cudaError_t cp_async_never_waited();    // a thread exits with a committed group unwaited

// A kernel whose threads read a neighbour's shared slot with (barrier = true) or without
// a __syncthreads in between; returns how many threads read the value the neighbour wrote.
int neighbour_reads(bool barrier);

}  // namespace emu_probe
