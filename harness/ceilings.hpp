// The machine's own ceilings, measured in the same run as the cases they judge:
// memory bandwidth (a large copy, read + write bytes) and the matrix-multiply
// rate (SGEMM with Eigen on the CPU). Every result row carries them, and its
// GFLOP/s and GB/s as fractions of them. On the CPU each rate is the best of
// several timed windows, each window long enough (>= min_window_s, many copies
// or products) that one scheduler time slice cannot dominate it; `bench`
// measures them at the start and the end of a run (run_quality.hpp compares).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "contention.hpp"

namespace dfw {

struct Ceilings {
  std::string backend;            // cpu | cuda
  int threads = 0;                // threads the all-threads numbers used
  double gflops = 0;              // GEMM rate the cases are judged against (0: not measured)
  double gflops_single = 0;       // one thread (CPU only)
  double gbps = 0;                // copy bandwidth, read + write bytes (0: not measured)
  std::string gemm_method;        // how gflops was measured
  std::string bandwidth_method;   // how gbps was measured
  // CPU: competing work while measuring (contention.hpp); nullopt when not
  // measured or not reported by the kernel.
  std::optional<Contention> contention;
};

struct CpuCeilingOptions {
  int64_t copy_bytes = int64_t{1} << 30;  // bytes moved per copy (half read, half written)
  int64_t gemm_n = 512;                   // square SGEMM size per thread
  int windows = 5;                        // each rate is the best of this many timed windows
  double min_window_s = 0.1;              // each window repeats its work until it has lasted this long
};

// CPU: the copy runs over all OpenMP threads (each copies its slice), counted as
// copy_bytes read + written; the SGEMM runs one independent n x n x n product per
// thread at once, as the forms parallelise over batch x heads. A window repeats
// the copy or the products until it has lasted min_window_s.
Ceilings measure_cpu_ceilings(const CpuCeilingOptions& opts = {});

// GPU: the copy bandwidth and the cuBLAS GEMM rate of `dtype` (fp32 without TF32,
// fp16 / bf16 with fp32 accumulation) from kernels/cuda_ceilings.hpp, measured on
// device 0. Throws std::runtime_error without a usable device.
Ceilings measure_cuda_ceilings(const std::string& dtype);

// fraction = achieved / ceiling, or 0 when the ceiling was not measured.
double fraction_of(double achieved, double ceiling);

}  // namespace dfw
