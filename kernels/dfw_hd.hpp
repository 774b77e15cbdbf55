// DFW_HD marks arithmetic shared by the CUDA kernels and the CPU tile tests:
// __host__ __device__ under nvcc, nothing under a plain C++ compiler.
#pragma once

// DFW_UNROLL asks nvcc to unroll the next loop (register arrays stay registers).
#ifdef __CUDACC__
#define DFW_HD __host__ __device__ __forceinline__
#else
#define DFW_HD inline
#endif
#ifdef __CUDA_ARCH__
#define DFW_UNROLL _Pragma("unroll")
#else
#define DFW_UNROLL
#endif
