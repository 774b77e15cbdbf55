// Ceilings measured in-run: CPU copy bandwidth and SGEMM rate (ceilings.hpp),
// and the GPU ceilings read through kernels/cuda_ceilings.hpp.
#include "ceilings.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "cuda_ceilings.hpp"

namespace dfw {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<char, FreeDeleter>;

AlignedBytes aligned_bytes(int64_t n) {
  const std::size_t rounded = std::size_t((n + 4095) / 4096 * 4096);
  AlignedBytes p(static_cast<char*>(std::aligned_alloc(4096, rounded)));
  if (!p) throw std::bad_alloc();
  return p;
}

// Best copy rate in GB/s (read + write bytes), every thread copying its own slice.
double copy_gbps(int64_t bytes, int repeats) {
  const int64_t half = std::max<int64_t>(bytes / 2, 4096);
  AlignedBytes src = aligned_bytes(half), dst = aligned_bytes(half);
  const int threads = omp_get_max_threads();
  auto slice = [&](int t, int64_t& begin, int64_t& len) {
    const int64_t per = (half / threads + 63) / 64 * 64;
    begin = std::min<int64_t>(half, per * t);
    len = std::min<int64_t>(half - begin, per);
  };
#pragma omp parallel num_threads(threads)
  {  // first touch by the thread that later copies the slice
    int64_t b, n;
    slice(omp_get_thread_num(), b, n);
    std::memset(src.get() + b, 1, n);
    std::memset(dst.get() + b, 0, n);
  }
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
#pragma omp parallel num_threads(threads)
    {
      int64_t b, n;
      slice(omp_get_thread_num(), b, n);
      std::memcpy(dst.get() + b, src.get() + b, n);
    }
    const double s = seconds_since(start);
    best = std::max(best, 2.0 * double(half) / s / 1e9);
  }
  return best;
}

// Best SGEMM rate in GFLOP/s: `threads` independent n x n x n products at once.
double sgemm_gflops(int64_t n, int repeats, int threads) {
  std::vector<Eigen::MatrixXf> a(threads), b(threads), c(threads);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    a[t] = Eigen::MatrixXf::Random(n, n);
    b[t] = Eigen::MatrixXf::Random(n, n);
    c[t] = Eigen::MatrixXf::Zero(n, n);
    c[t].noalias() = a[t] * b[t];  // warm-up
  }
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      c[t].noalias() = a[t] * b[t];
    }
    const double s = seconds_since(start);
    best = std::max(best, double(threads) * 2.0 * double(n) * double(n) * double(n) / s / 1e9);
  }
  return best;
}

}  // namespace

Ceilings measure_cpu_ceilings(const CpuCeilingOptions& opts) {
  Ceilings c;
  c.backend = "cpu";
  c.threads = omp_get_max_threads();
  c.gbps = copy_gbps(opts.copy_bytes, opts.copy_repeats);
  c.gflops_single = sgemm_gflops(opts.gemm_n, opts.gemm_repeats, 1);
  c.gflops = sgemm_gflops(opts.gemm_n, opts.gemm_repeats, c.threads);
  c.bandwidth_method = "memcpy of " + std::to_string(opts.copy_bytes / 2) + " B over " + std::to_string(c.threads) +
                       " threads, read + write bytes, best of " + std::to_string(opts.copy_repeats);
  c.gemm_method = "Eigen SGEMM " + std::to_string(opts.gemm_n) + "^3, one per thread on " +
                  std::to_string(c.threads) + " threads, best of " + std::to_string(opts.gemm_repeats);
  return c;
}

double fraction_of(double achieved, double ceiling) { return ceiling > 0 ? achieved / ceiling : 0.0; }

Ceilings measure_cuda_ceilings(const std::string& dtype) {
  const CudaCeilings g = measure_gpu_ceilings();
  Ceilings c;
  c.backend = "cuda";
  c.gbps = g.copy_gb_per_s;
  const double tflops = dtype == "fp16" ? g.gemm_fp16_tflops : dtype == "bf16" ? g.gemm_bf16_tflops : g.gemm_fp32_tflops;
  c.gflops = tflops * 1e3;
  c.gemm_method = "cuBLAS " + dtype + " GEMM " + std::to_string(g.gemm_n) + "^3 (fp32 accumulate" +
                  (dtype == "fp32" ? ", no TF32" : "") + "), median";
  c.bandwidth_method = "cudaMemcpy device to device of " + std::to_string(g.copy_bytes) + " B, read + write bytes, median";
  return c;
}

}  // namespace dfw
