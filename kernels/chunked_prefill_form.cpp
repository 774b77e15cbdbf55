// chunked/cuda for the gated-linear family (every rule whose factors a kernel takes,
// kernel_kinds.hpp; every feature map; z-normalisation for add and gated): the chunked
// tensor-core prefill per run (three launches: chunk states, scan, outputs), from s0,
// as variants/cpu/chunked_cpu.cpp computes it.
// State (B, H, rows, m) fp32, rows = dv (+ 1 for z, the layout the decode form
// carries); q, k, v, y in the dtype (fp16 or bf16). The device workspace holds every
// chunk's state and the per-block arrays that do not fit in shared memory (long
// chunks, wide heads).
#include <stdexcept>
#include <vector>

#include "chunked_prefill_form.hpp"
#include "chunked_prefill_kernel.cuh"
#include "cuda_forms.hpp"
#include "cuda_prepared.hpp"
#include "stateful_form_parts.hpp"

namespace dfw {
namespace {

template <class T>
class ChunkedPrefillPrepared final : public CudaPrepared {
 public:
  ChunkedPrefillPrepared(const Variant& v, const Problem& p, int64_t chunk)
      : shape_(p.shape), m_(p.m), rows_(int(p.shape.dv + (v.normalise ? 1 : 0))), normalise_(v.normalise),
        in_(p, stream()), y_(p.shape.B * p.shape.H * p.shape.T * p.shape.dv),
        state_(p.shape.B * p.shape.H * rows_ * p.m) {
    if (cuda_gate_rows_from_factors(v)) upload_factor_gate_rows(v, p, in_, stream());
    fill_launch_inputs(a_, v, p, rows_, in_);
    a_.T_len = shape_.T;
    a_.chunk = int(chunk);
    a_.s0 = or_null(in_.s0);
    a_.s_out = state_.data();
    a_.y = y_.data();
    workspace_ = DeviceBuffer<unsigned char>(chunked_prefill_workspace_bytes(a_));
    a_.workspace = workspace_.empty() ? nullptr : workspace_.data();
  }

  void run() override { launch_chunked_prefill(a_, stream()); }

  Output output() const override {
    Output o;
    o.y = widen(y_.download(stream()));
    const std::vector<float> s = state_.download(stream());
    split_state_rows(s, shape_.B * shape_.H, shape_.dv, m_, rows_, normalise_, o);
    return o;
  }

 private:
  Shape shape_;
  int64_t m_;
  int rows_;
  bool normalise_;
  DeviceInputs<T> in_;
  DeviceBuffer<T> y_;          // (B, H, T, dv)
  DeviceBuffer<float> state_;  // (B, H, rows, m)
  DeviceBuffer<unsigned char> workspace_;  // chunk states and decay totals; spilled per-block arrays
  ChunkedPrefillLaunch<T> a_;
};

}  // namespace

std::string chunked_prefill_unsupported_reason(const Variant& v, Mode mode) {
  if (!v.defined()) return v.undefined_reason;
  if (!v.rule->is_gated_linear()) return "chunked covers the gated-linear rules, not " + v.rule->name();
  if (!cuda_rule_kind(v)) return "no CUDA chunked kernel takes the factors of rule " + v.rule->name();
  if (!cuda_feature_kind(v)) return "no CUDA kernel for feature map " + v.phi->name();
  if (mode != Mode::sequence) return "chunked is a whole-sequence form (see decode)";
  // The z row rides in the half-precision tensor-core tiles beside v; a signed map's
  // z.phi(q) cancels towards 0 and leaves that rounding no accurate digit (docs/MATH.md).
  if (!v.tolerance_reason().empty())
    return "the normaliser z.phi(q) of a signed map cancels, and this form computes it from fp16/bf16 tiles; "
           "the recurrent form keeps it fp32";
  return "";
}

std::unique_ptr<Prepared> make_chunked_prefill_cuda(const Variant& v, const Problem& p, int64_t chunk,
                                                    const std::string& dtype) {
  if (const std::string r = chunked_prefill_unsupported_reason(v, Mode::sequence); !r.empty())
    throw std::invalid_argument("chunked/cuda: " + r);
  if (chunk < 1 || chunk > int64_t(INT32_MAX)) throw std::invalid_argument("chunked/cuda: chunk must be >= 1");
  if (p.m > kChunkedPrefillMaxWidth || p.shape.dv > kChunkedPrefillMaxWidth)
    throw std::invalid_argument("chunked/cuda takes m, dv <= " + std::to_string(kChunkedPrefillMaxWidth) +
                                " (m = " + std::to_string(p.m) + ", dv = " + std::to_string(p.shape.dv) + ")");
  if (dtype == "fp16") return std::make_unique<ChunkedPrefillPrepared<Fp16>>(v, p, chunk);
  if (dtype == "bf16") return std::make_unique<ChunkedPrefillPrepared<Bf16>>(v, p, chunk);
  throw std::invalid_argument("chunked/cuda takes fp16 or bf16 (tensor-core tiles), not " + dtype);
}

}  // namespace dfw
