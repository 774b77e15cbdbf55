// The machine's own ceilings, measured in the same run as the cases they judge:
// memory bandwidth (a large copy, read + write bytes) and the matrix-multiply
// rate (SGEMM with Eigen on the CPU). Every result row carries them, and its
// GFLOP/s and GB/s as fractions of them.
#pragma once

#include <cstdint>
#include <string>

namespace dfw {

struct Ceilings {
  std::string backend;            // cpu | cuda
  int threads = 0;                // threads the all-threads numbers used
  double gflops = 0;              // GEMM rate the cases are judged against (0: not measured)
  double gflops_single = 0;       // one thread (CPU only)
  double gbps = 0;                // copy bandwidth, read + write bytes (0: not measured)
  std::string gemm_method;        // how gflops was measured
  std::string bandwidth_method;   // how gbps was measured
};

struct CpuCeilingOptions {
  int64_t copy_bytes = int64_t{1} << 30;  // bytes moved per copy (half read, half written)
  int copy_repeats = 5;                   // best of
  int64_t gemm_n = 512;                   // square SGEMM size per thread
  int gemm_repeats = 10;                  // best of
};

// CPU: the copy runs over all OpenMP threads (each copies its slice), counted as
// copy_bytes read + written; the SGEMM runs one independent n x n x n product per
// thread at once, as the forms parallelise over batch x heads.
Ceilings measure_cpu_ceilings(const CpuCeilingOptions& opts = {});

// GPU: the copy bandwidth and the cuBLAS GEMM rate of `dtype` (fp32 without TF32,
// fp16 / bf16 with fp32 accumulation) from kernels/cuda_ceilings.hpp, measured on
// device 0. Throws std::runtime_error without a usable device.
Ceilings measure_cuda_ceilings(const std::string& dtype);

// fraction = achieved / ceiling, or 0 when the ceiling was not measured.
double fraction_of(double achieved, double ceiling);

}  // namespace dfw
