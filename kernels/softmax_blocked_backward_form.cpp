// blocked/cuda/fp32 backward of softmax attention, as variants/cpu/
// softmax_blocked_backward_cpu.cpp on the device: the flash prefill kernel recomputes
// y and each row's log-sum-exp, then the flash backward kernels turn dy into dq, dk,
// dv by tiles (no T x T matrix). Device memory: the inputs, dy, y and the gradients
// (each (B, H, T, d)) and two (B, H, T) rows.
#include "backward_impl.hpp"
#include "cuda_forms.hpp"
#include "cuda_prepared.hpp"
#include "device_inputs.hpp"
#include "flash_backward_kernel.cuh"
#include "flash_prefill_kernel.cuh"

namespace dfw {
namespace {

class SoftmaxBackwardPrepared final : public CudaPreparedBackward {
 public:
  SoftmaxBackwardPrepared(const Problem& p, const std::vector<float>& dy)
      : in_(p, stream()),
        dy_(dy.size()),
        y_(p.v.size()),
        lse_(p.shape.B * p.shape.H * p.shape.T),
        delta_(lse_.size()),
        dq_(p.q.size()),
        dk_(p.k.size()),
        dv_(p.v.size()) {
    dy_.upload(dy, stream());
    fwd_.BH = bwd_.BH = p.shape.B * p.shape.H;
    fwd_.T_len = bwd_.T_len = p.shape.T;
    fwd_.dk = bwd_.dk = int(p.shape.dk);
    fwd_.dv = bwd_.dv = int(p.shape.dv);
    fwd_.q = bwd_.q = in_.q.data();
    fwd_.k = bwd_.k = in_.k.data();
    fwd_.v = bwd_.v = in_.v.data();
    fwd_.y = y_.data();
    fwd_.lse = lse_.data();
    bwd_.y = y_.data();
    bwd_.lse = lse_.data();
    bwd_.dy = dy_.data();
    bwd_.delta = delta_.data();
    bwd_.dq = dq_.data();
    bwd_.dk_out = dk_.data();
    bwd_.dv_out = dv_.data();
  }

  void run() override {
    launch_flash_prefill(fwd_, stream());
    launch_flash_backward(bwd_, stream());
  }

  Gradients gradients() const override {
    Gradients g;
    g.q = widen(dq_.download(stream()));
    g.k = widen(dk_.download(stream()));
    g.v = widen(dv_.download(stream()));
    return g;
  }

 private:
  DeviceInputs<float> in_;
  DeviceBuffer<float> dy_, y_;    // (B, H, T, dv)
  DeviceBuffer<float> lse_;       // (B, H, T) log-sum-exp of each row's scaled scores
  DeviceBuffer<float> delta_;     // (B, H, T) dy_t . y_t
  DeviceBuffer<float> dq_, dk_;   // (B, H, T, dk)
  DeviceBuffer<float> dv_;        // (B, H, T, dv)
  FlashPrefillLaunch<float> fwd_;
  FlashBackwardLaunch bwd_;
};

class SoftmaxBlockedBackwardCuda final : public BackwardImpl {
 public:
  FormKey key() const override { return {"blocked", "cuda", "fp32"}; }
  std::string unsupported_reason(const Variant& v) const override {
    if (std::string r = cuda_unavailable_reason(); !r.empty()) return r;
    if (!v.defined()) return v.undefined_reason;
    return v.rule->stateful() ? "the blocked form is softmax attention's" : "";
  }
  std::unique_ptr<PreparedBackward> prepare(const Variant& v, const Problem& p, const std::vector<float>& dy,
                                            const RunOptions&) const override {
    if (const std::string r = unsupported_reason(v); !r.empty())
      throw std::invalid_argument(key().str() + " backward: " + r);
    if (p.shape.dk > kFlashBackwardMaxD || p.shape.dv > kFlashBackwardMaxD)
      throw std::invalid_argument("CUDA softmax backward takes dk, dv <= " + std::to_string(kFlashBackwardMaxD));
    return std::make_unique<SoftmaxBackwardPrepared>(p, dy);
  }
};

}  // namespace

std::unique_ptr<BackwardImpl> make_softmax_blocked_backward_cuda_impl() {
  return std::make_unique<SoftmaxBlockedBackwardCuda>();
}

}  // namespace dfw
