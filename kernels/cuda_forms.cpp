// The CUDA implementations, one per (form, dtype): recurrent (stateful rules),
// decode (stateful rules: fused step; softmax: KV cache + flash-decoding) and
// blocked (softmax prefill, flash-style), each in fp32, fp16 and bf16; chunked (the
// gated-linear prefill on tensor cores) and cudnn (softmax through cuDNN's fused attention,
// prefill and decode step; softmax_cudnn_form.cpp) in fp16 and bf16. Backward forms, fp32:
// recurrent (stateful rules, from checkpointed states) and blocked (softmax, flash-style). A stateful rule runs where a
// kernel takes its factors (kernel_kinds.hpp); one no kernel takes is UNSUPPORTED with
// that reason. With no usable device every one reports the driver's reason as
// UNSUPPORTED, and cuda_unavailable_reason() says the same.

#include <memory>
#include <vector>

#include "chunked_prefill_form.hpp"
#include "cuda_forms.hpp"
#include "fast_weight_kernel.cuh"

namespace dfw {

std::string cuda_unavailable_reason() {
  static const std::string reason = [] {
    if (std::string r = cuda_device_count_problem(); !r.empty()) return r;
    return cuda_kernel_image_problem();
  }();
  return reason;
}

bool cuda_device_emulated() {
#ifdef DFW_CUDA_EMULATED
  return true;
#else
  return false;
#endif
}

namespace {

class CudaImpl final : public Impl {
 public:
  CudaImpl(std::string form, std::string dtype) : form_(std::move(form)), dtype_(std::move(dtype)) {}
  FormKey key() const override { return {form_, "cuda", dtype_}; }

  std::string unsupported_reason(const Variant& v, Mode mode) const override {
    if (std::string r = cuda_unavailable_reason(); !r.empty()) return r;
    if (!v.defined()) return v.undefined_reason;
    if (form_ == "chunked") return chunked_prefill_unsupported_reason(v, mode);
    if (form_ == "cudnn")
      return v.rule->stateful() ? "cudnn is cuDNN's fused softmax attention (softmax only)"
                                : cudnn_unavailable_reason();
    if (!v.rule->stateful()) {
      if (form_ == "recurrent") return "softmax has no recurrent form (see blocked, decode)";
      if (form_ == "blocked" && mode != Mode::sequence) return "blocked is a whole-sequence form (see decode)";
      return "";
    }
    if (form_ == "blocked") return "blocked is the softmax prefill form (stateful rules: recurrent)";
    if (!cuda_rule_kind(v)) return "no CUDA kernel takes the factors of rule " + v.rule->name();
    if (!cuda_feature_kind(v)) return "no CUDA kernel for feature map " + v.phi->name();
    if (form_ == "recurrent" && mode != Mode::sequence) return "recurrent is a whole-sequence form (see decode)";
    return "";
  }

  std::unique_ptr<Prepared> prepare(const Variant& v, const Problem& p, const RunOptions& o) const override {
    if (const std::string r = unsupported_reason(v, o.mode); !r.empty())
      throw std::invalid_argument(key().str() + ": " + r);
    if (form_ == "chunked") return make_chunked_prefill_cuda(v, p, o.chunk, dtype_);
    if (form_ == "cudnn") return make_softmax_cudnn(p, o.mode, dtype_);
    if (form_ == "blocked") return make_softmax_blocked_cuda(p, dtype_);
    if (!v.rule->stateful()) return make_softmax_decode_cuda(p, o.mode, dtype_);
    return make_fast_weight_cuda(v, p, o.mode, form_ == "recurrent", dtype_);
  }

 private:
  std::string form_, dtype_;
};

}  // namespace

void append_cuda_impls(std::vector<std::unique_ptr<Impl>>& out) {
  for (const char* form : {"recurrent", "blocked", "decode"})
    for (const char* dtype : {"fp32", "fp16", "bf16"}) out.push_back(std::make_unique<CudaImpl>(form, dtype));
  for (const char* form : {"chunked", "cudnn"})
    for (const char* dtype : {"fp16", "bf16"}) out.push_back(std::make_unique<CudaImpl>(form, dtype));
}

void append_cuda_backward_impls(std::vector<std::unique_ptr<BackwardImpl>>& out) {
  out.push_back(make_recurrent_backward_cuda_impl());
  out.push_back(make_chunked_backward_cuda_impl());
  out.push_back(make_softmax_blocked_backward_cuda_impl());
}

}  // namespace dfw
