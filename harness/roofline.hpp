// The roofline bound of a cuda case: the least time the cost model's bytes and FLOPs
// (variants/cost_model.hpp) allow at an H200's nominal rates, max(bytes / copy
// bandwidth, FLOPs / bf16 GEMM rate). A bound, never a measurement: the rates are
// fixed nominal constants (not the ceilings a run measures, ceiling_gbps and
// ceiling_gflops), and the cost model counts only compulsory traffic and useful
// FLOPs, so a kernel on an H200 takes at least this long. On another GPU, or for
// fp32 rows (whose FLOPs run below the bf16 tensor-core rate), it is looser still.
// Written as roofline_ms on cuda rows (CSV, JSON) and printed as "bound".
#pragma once

namespace dfw {

// H200 SXM, nominal: about what a device-to-device copy reaches in HBM3e (the
// datasheet's peak is 4.8 TB/s).
constexpr double kH200NominalCopyBytesPerS = 4.3e12;
// H200 SXM, nominal: about what a large dense bf16 (or fp16) GEMM reaches on the
// tensor cores (the datasheet's dense peak is 989 TFLOP/s).
constexpr double kH200NominalBf16FlopsPerS = 790e12;

// max(bytes / kH200NominalCopyBytesPerS, flops / kH200NominalBf16FlopsPerS) in ms.
// Throws std::invalid_argument for a negative or non-finite flops or bytes.
double roofline_ms(double flops, double bytes);

}  // namespace dfw
