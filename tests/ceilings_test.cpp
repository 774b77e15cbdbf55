// CPU ceilings (ceilings.hpp): every rate is the best of its windows, and every
// window lasts at least min_window_s, so one scheduler time slice cannot make a
// window; the method strings say how they were measured.
#include <gtest/gtest.h>

#include <chrono>

#include "ceilings.hpp"

namespace dfw {
namespace {

TEST(Ceilings, EveryWindowLastsAtLeastTheMinimum) {
  CpuCeilingOptions o;
  o.copy_bytes = int64_t{1} << 20;  // tiny work: many calls per window
  o.gemm_n = 32;
  o.windows = 3;
  o.min_window_s = 0.03;
  const auto start = std::chrono::steady_clock::now();
  const Ceilings c = measure_cpu_ceilings(o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // three rates (copy, one-thread GEMM, all-thread GEMM) x 3 windows x >= 30 ms
  EXPECT_GE(seconds, 3 * 3 * 0.03);
  EXPECT_GT(c.gbps, 0);
  EXPECT_GT(c.gflops, 0);
  EXPECT_GT(c.gflops_single, 0);
  EXPECT_NE(c.gemm_method.find("best of 3 windows of >= 30 ms"), std::string::npos) << c.gemm_method;
  EXPECT_NE(c.bandwidth_method.find("best of 3 windows of >= 30 ms"), std::string::npos) << c.bandwidth_method;
  EXPECT_NE(c.gemm_method.find("products each; one thread: "), std::string::npos) << c.gemm_method;
}

}  // namespace
}  // namespace dfw
