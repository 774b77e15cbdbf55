// recurrent/cuda and decode/cuda for the stateful rules (add, gated, delta, decay and
// the gated-linear rules run on the decay kernels, kernel_kinds.hpp;
// every feature map; z-normalisation for add and gated), one Prepared class:
//   recurrent: one fused launch over the whole sequence from s0.
//   decode:    one launch per token on a carried state: sequence mode restarts
//              from s0 and steps every token, decode_step mode steps the one new
//              token (T = 1) from the state carried since prepare (decode_cpu.cpp).
// State (B, H, rows, m) fp32, rows = dv (+ 1 for z); q, k, v, y in the dtype.
#include <stdexcept>

#include "cuda_forms.hpp"
#include "cuda_prepared.hpp"
#include "fast_weight_kernel.cuh"
#include "stateful_form_parts.hpp"

namespace dfw {
namespace {

template <class T>
class FastWeightPrepared final : public CudaPrepared {
 public:
  FastWeightPrepared(const Variant& v, const Problem& p, Mode mode, bool recurrent_form)
      : shape_(p.shape), m_(p.m), rows_(int(p.shape.dv + (v.normalise ? 1 : 0))), mode_(mode),
        recurrent_(recurrent_form), normalise_(v.normalise), in_(p, stream()),
        y_(p.shape.B * p.shape.H * p.shape.T * p.shape.dv) {
    if (mode == Mode::decode_step && p.shape.T != 1)
      throw std::invalid_argument("a decode step of a stateful rule takes one token (T = 1) and s0");
    const int64_t BH = shape_.B * shape_.H;
    // Decode on a normalised variant ping-pongs two states: every row block reads z.
    const int copies = !recurrent_ && normalise_ ? 2 : 1;
    for (int i = 0; i < copies; ++i) state_[i] = DeviceBuffer<float>(BH * rows_ * m_);
    if (!recurrent_) {  // the carried state starts at s0, z row zero
      std::vector<float> init(BH * rows_ * m_, 0.f);
      if (!p.s0.empty())
        for (int64_t bh = 0; bh < BH; ++bh)
          std::copy_n(p.s0.begin() + bh * shape_.dv * m_, shape_.dv * m_, init.begin() + bh * rows_ * m_);
      state_[0].upload(init, stream());
    }
    if (cuda_gate_rows_from_factors(v)) upload_factor_gate_rows(v, p, in_, stream());
    fill_launch_inputs(base_, v, p, rows_, in_);
    base_.sum_normalise = v.sum_normalise;
    base_.beta = or_null(in_.beta);
    base_.T_in = shape_.T;
    base_.y = y_.data();
    base_.y_tokens = shape_.T;
  }

  void run() override {
    FastWeightLaunch<T> a = base_;
    if (recurrent_) {
      a.t0 = 0;
      a.count = shape_.T;
      a.s_in = or_null(in_.s0);
      a.s_in_rows = int(shape_.dv);
      a.s_out = state_[0].data();
      a.y_first = 0;
      launch_fast_weight(a, stream());
      return;
    }
    if (mode_ == Mode::decode_step) {
      step(a, 0, false);
      return;
    }
    for (int64_t t = 0; t < shape_.T; ++t) step(a, t, t == 0);
  }

  Output output() const override {
    Output o;
    o.y = widen(y_.download(stream()));
    const std::vector<float> s = state_[cur_].download(stream());
    split_state_rows(s, shape_.B * shape_.H, shape_.dv, m_, rows_, normalise_, o);
    return o;
  }

 private:
  // Token t from the carried state (from s0 when restart), output row t of y.
  void step(FastWeightLaunch<T>& a, int64_t t, bool restart) {
    const int next = state_[1].empty() ? 0 : 1 - cur_;
    a.t0 = t;
    a.count = 1;
    a.s_in = restart ? or_null(in_.s0) : state_[cur_].data();
    a.s_in_rows = restart ? int(shape_.dv) : rows_;
    a.s_out = state_[next].data();
    a.y_first = t;
    launch_fast_weight(a, stream());
    cur_ = next;
  }

  Shape shape_;
  int64_t m_;
  int rows_;
  Mode mode_;
  bool recurrent_, normalise_;
  DeviceInputs<T> in_;
  DeviceBuffer<float> state_[2];  // (B, H, rows, m); the second only when decode ping-pongs
  int cur_ = 0;                   // which state_ holds the current state
  DeviceBuffer<T> y_;             // (B, H, T, dv)
  FastWeightLaunch<T> base_;
};

}  // namespace

std::unique_ptr<Prepared> make_fast_weight_cuda(const Variant& v, const Problem& p, Mode mode, bool recurrent_form,
                                                const std::string& dtype) {
  if (!cuda_rule_kind(v) || !cuda_feature_kind(v))
    throw std::invalid_argument("no CUDA kernel for " + v.spec());
  if (dtype == "fp32") return std::make_unique<FastWeightPrepared<float>>(v, p, mode, recurrent_form);
  if (dtype == "fp16") return std::make_unique<FastWeightPrepared<Fp16>>(v, p, mode, recurrent_form);
  if (dtype == "bf16") return std::make_unique<FastWeightPrepared<Bf16>>(v, p, mode, recurrent_form);
  throw std::invalid_argument("CUDA forms take fp32, fp16 or bf16, not " + dtype);
}

}  // namespace dfw
