// The roofline bound of cuda rows (harness/roofline.hpp): max(bytes / 4.3 TB/s,
// FLOPs / 790 TFLOP/s) in ms, from the cost model's numbers; which side binds;
// refusal of negative or non-finite inputs; the roofline_ms column round-trips
// through the results CSV and stays empty on a row that has none (cpu).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "cost_model.hpp"
#include "results_row.hpp"
#include "roofline.hpp"
#include "variant.hpp"

namespace dfw {
namespace {

TEST(Roofline, NominalH200Rates) {
  EXPECT_DOUBLE_EQ(kH200NominalCopyBytesPerS, 4.3e12);
  EXPECT_DOUBLE_EQ(kH200NominalBf16FlopsPerS, 790e12);
}

TEST(Roofline, TheSlowerOfCopyAndGemmBinds) {
  EXPECT_DOUBLE_EQ(roofline_ms(0, 4.3e9), 1.0);          // 4.3 GB at 4.3 TB/s
  EXPECT_DOUBLE_EQ(roofline_ms(790e9, 0), 1.0);          // 790 GFLOP at 790 TFLOP/s
  EXPECT_DOUBLE_EQ(roofline_ms(1.58e12, 4.3e9), 2.0);    // compute-bound
  EXPECT_DOUBLE_EQ(roofline_ms(790e9, 8.6e9), 2.0);      // memory-bound
  EXPECT_DOUBLE_EQ(roofline_ms(0, 0), 0.0);
}

TEST(Roofline, RefusesNegativeOrNonFiniteCosts) {
  EXPECT_THROW(roofline_ms(-1, 0), std::invalid_argument);
  EXPECT_THROW(roofline_ms(0, -1), std::invalid_argument);
  EXPECT_THROW(roofline_ms(std::numeric_limits<double>::quiet_NaN(), 0), std::invalid_argument);
  EXPECT_THROW(roofline_ms(0, std::numeric_limits<double>::infinity()), std::invalid_argument);
}

TEST(Roofline, PaperPrefillSoftmaxIsComputeBoundAndDfwDecodeMemoryBound) {
  // softmax blocked at B = 32, H = 1, T = 1920, d = 64, fp16: T(T+1)(dk+dv) FLOPs per
  // head dwarf e T (2dk + 2dv) bytes, so the GEMM side binds.
  const Shape prefill{32, 1, 1920, 64, 64};
  const Cost s = estimate_cost(parse_variant("softmax"), "blocked", Mode::sequence, prefill, 64, "fp16");
  EXPECT_DOUBLE_EQ(roofline_ms(s.flops, s.bytes), 1e3 * s.flops / 790e12);
  EXPECT_GT(s.flops / 790e12, s.bytes / 4.3e12);
  // One dfw decode step reads and writes the fp32 state: the copy side binds.
  const Cost d = estimate_cost(parse_variant("dfw"), "decode", Mode::decode_step, Shape{32, 1, 1, 64, 64}, 0, "fp16");
  EXPECT_DOUBLE_EQ(roofline_ms(d.flops, d.bytes), 1e3 * d.bytes / 4.3e12);
}

TEST(Roofline, ColumnRoundTripsAndIsEmptyWithoutABound) {
  ResultRow r;
  r.preset = "paper-prefill"; r.variant = "softmax"; r.spec = "softmax"; r.form = "blocked"; r.backend = "cuda";
  r.dtype = "fp16"; r.mode = "prefill"; r.status = "ok"; r.time_median_ms = 0.5;
  r.roofline_ms = 0.0123;
  const std::string line = r.to_csv_line();
  EXPECT_EQ(split_csv_line(line).back(), "0.0123");
  EXPECT_DOUBLE_EQ(parse_result_row(line, 2).roofline_ms, 0.0123);
  r.backend = "cpu";
  r.roofline_ms = 0;
  EXPECT_EQ(split_csv_line(r.to_csv_line()).back(), "");
}

}  // namespace
}  // namespace dfw
