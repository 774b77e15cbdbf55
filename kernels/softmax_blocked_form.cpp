// blocked/cuda for softmax: causal attention over whole sequences with the
// flash-style prefill kernel (fp16 / bf16 tiles on tensor cores, fp32 on CUDA
// cores). As variants/cpu/softmax_blocked_cpu.cpp, without any T x T matrix.
#include "cuda_forms.hpp"
#include "cuda_prepared.hpp"
#include "device_inputs.hpp"
#include "flash_prefill_kernel.cuh"

namespace dfw {
namespace {

template <class T>
class SoftmaxBlockedPrepared final : public CudaPrepared {
 public:
  explicit SoftmaxBlockedPrepared(const Problem& p)
      : in_(p, stream()), y_(p.shape.B * p.shape.H * p.shape.T * p.shape.dv) {
    a_.BH = p.shape.B * p.shape.H;
    a_.T_len = p.shape.T;
    a_.dk = int(p.shape.dk);
    a_.dv = int(p.shape.dv);
    a_.q = in_.q.data();
    a_.k = in_.k.data();
    a_.v = in_.v.data();
    a_.y = y_.data();
  }

  void run() override { launch_flash_prefill(a_, stream()); }

  Output output() const override {
    Output o;
    o.y = widen(y_.download(stream()));
    return o;
  }

 private:
  DeviceInputs<T> in_;
  DeviceBuffer<T> y_;  // (B, H, T, dv)
  FlashPrefillLaunch<T> a_;
};

}  // namespace

std::unique_ptr<Prepared> make_softmax_blocked_cuda(const Problem& p, const std::string& dtype) {
  if (p.shape.dk > kFlashPrefillMaxD || p.shape.dv > kFlashPrefillMaxD)
    throw std::invalid_argument("CUDA softmax prefill takes dk, dv <= " + std::to_string(kFlashPrefillMaxD));
  if (dtype == "fp32") return std::make_unique<SoftmaxBlockedPrepared<float>>(p);
  if (dtype == "fp16") return std::make_unique<SoftmaxBlockedPrepared<Fp16>>(p);
  if (dtype == "bf16") return std::make_unique<SoftmaxBlockedPrepared<Bf16>>(p);
  throw std::invalid_argument("CUDA forms take fp32, fp16 or bf16, not " + dtype);
}

}  // namespace dfw
