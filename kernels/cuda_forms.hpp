// Internal: the CUDA forms' pieces shared between their files.
#pragma once

#include <memory>
#include <string>

#include "backward_impl.hpp"
#include "impl.hpp"
#include "kernel_kinds.hpp"

namespace dfw {

// Stateful rules. recurrent_form: one launch over the sequence (form "recurrent");
// otherwise one launch per token on a carried state (form "decode"), as
// variants/cpu/decode_cpu.cpp. dtype: fp32, fp16 or bf16.
std::unique_ptr<Prepared> make_fast_weight_cuda(const Variant& v, const Problem& p, Mode mode, bool recurrent_form,
                                                const std::string& dtype);

// Softmax against a KV cache (form "decode"), as variants/cpu/softmax_decode_cpu.cpp.
std::unique_ptr<Prepared> make_softmax_decode_cuda(const Problem& p, Mode mode, const std::string& dtype);

// Softmax over whole sequences, flash-style (form "blocked").
std::unique_ptr<Prepared> make_softmax_blocked_cuda(const Problem& p, const std::string& dtype);

// Softmax through cuDNN's fused scaled-dot-product attention (form "cudnn", fp16 / bf16):
// causal prefill over whole sequences (sequence) or one step against a KV cache
// (decode_step). cudnn_unavailable_reason(): empty where cuDNN runs here, else why not
// (built without it, libcudnn not loadable, the emulated device).
std::string cudnn_unavailable_reason();
std::unique_ptr<Prepared> make_softmax_cudnn(const Problem& p, Mode mode, const std::string& dtype);

// Softmax's backward over whole sequences, flash-style (form "blocked", fp32).
std::unique_ptr<BackwardImpl> make_softmax_blocked_backward_cuda_impl();

// The stateful rules' backward from checkpointed states (form "recurrent", fp32).
std::unique_ptr<BackwardImpl> make_recurrent_backward_cuda_impl();

// The gated-linear rules' backward over chunks (form "chunked", fp32).
std::unique_ptr<BackwardImpl> make_chunked_backward_cuda_impl();

// Empty when the runtime sees a device, else the reason: the runtime's error,
// "no NVIDIA driver found" when neither its kernel module nor libcuda.so.1 is
// present, or "no CUDA device found".
std::string cuda_device_count_problem();

// Empty when the kernels can run on the current device, else the reason
// (no kernel image for its architecture, ...). Needs a device.
std::string cuda_kernel_image_problem();

}  // namespace dfw
