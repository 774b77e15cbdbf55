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

// Best rate over `windows` timed windows of `work` (one call does `amount` units:
// bytes or FLOPs), after one call that is not timed. Each window calls it until
// the window has lasted min_window_s; `fewest_calls` gets the fewest calls a
// window needed. Returns units per second.
template <class Work>
double best_window_rate(Work&& work, double amount, int windows, double min_window_s, int& fewest_calls) {
  work();
  double best = 0;
  fewest_calls = 0;
  for (int w = 0; w < windows; ++w) {
    const auto start = Clock::now();
    int calls = 0;
    double seconds = 0;
    do {
      work();
      ++calls;
      seconds = seconds_since(start);
    } while (seconds < min_window_s);
    best = std::max(best, amount * calls / seconds);
    fewest_calls = w == 0 ? calls : std::min(fewest_calls, calls);
  }
  return best;
}

// Best copy rate in GB/s (read + write bytes), every thread copying its own slice.
double copy_gbps(int64_t bytes, const CpuCeilingOptions& opts, int& fewest_calls) {
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
  auto copy = [&] {
#pragma omp parallel num_threads(threads)
    {
      int64_t b, n;
      slice(omp_get_thread_num(), b, n);
      std::memcpy(dst.get() + b, src.get() + b, n);
    }
  };
  return best_window_rate(copy, 2.0 * double(half), opts.windows, opts.min_window_s, fewest_calls) / 1e9;
}

// Best SGEMM rate in GFLOP/s: `threads` independent n x n x n products at once.
double sgemm_gflops(int64_t n, const CpuCeilingOptions& opts, int threads, int& fewest_calls) {
  std::vector<Eigen::MatrixXf> a(threads), b(threads), c(threads);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    a[t] = Eigen::MatrixXf::Random(n, n);
    b[t] = Eigen::MatrixXf::Random(n, n);
    c[t] = Eigen::MatrixXf::Zero(n, n);
    c[t].noalias() = a[t] * b[t];  // warm-up
  }
  auto products = [&] {
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      c[t].noalias() = a[t] * b[t];
    }
  };
  const double flops = double(threads) * 2.0 * double(n) * double(n) * double(n);
  return best_window_rate(products, flops, opts.windows, opts.min_window_s, fewest_calls) / 1e9;
}

}  // namespace

Ceilings measure_cpu_ceilings(const CpuCeilingOptions& opts) {
  Ceilings c;
  c.backend = "cpu";
  c.threads = omp_get_max_threads();
  const ContentionWindow contention;
  int copies = 0, single_products = 0, products = 0;
  c.gbps = copy_gbps(opts.copy_bytes, opts, copies);
  c.gflops_single = sgemm_gflops(opts.gemm_n, opts, 1, single_products);
  c.gflops = sgemm_gflops(opts.gemm_n, opts, c.threads, products);
  c.contention = contention.measure(c.threads);
  const std::string windows = "best of " + std::to_string(opts.windows) + " windows of >= " +
                              std::to_string(int(opts.min_window_s * 1e3 + 0.5)) + " ms (at least ";
  c.bandwidth_method = "memcpy of " + std::to_string(opts.copy_bytes / 2) + " B over " + std::to_string(c.threads) +
                       " threads, read + write bytes, " + windows + std::to_string(copies) + " copies each)";
  c.gemm_method = "Eigen SGEMM " + std::to_string(opts.gemm_n) + "^3, one per thread on " +
                  std::to_string(c.threads) + " threads, " + windows + std::to_string(products) +
                  " products each; one thread: " + std::to_string(single_products) + ")";
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
