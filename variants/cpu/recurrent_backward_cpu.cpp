// recurrent/cpu/fp32 backward: the reverse-time recurrence of RecurrentBackward<float>,
// one (b, h) per thread, with the state kept every C tokens (C = the chunk option)
// and each chunk's states recomputed from its checkpoint, so a thread holds
// (T / C + C + 1) states instead of T. Gradients are fp32, accumulated in fp32.
#include <omp.h>

#include <algorithm>

#include "../backward_impl.hpp"
#include "../host_buffer.hpp"
#include "cpu_gradients.hpp"
#include "recurrent_backward.hpp"

namespace dfw {
namespace {

class RecurrentBackwardPrepared final : public HeadwiseBackward {
 public:
  RecurrentBackwardPrepared(const Variant& v, const Problem& p, const std::vector<float>& dy, int64_t every)
      : HeadwiseBackward(p, p.shape.dv + (v.normalise ? 1 : 0)),
        var_(v),
        dy_(dy),
        every_(std::clamp<int64_t>(every, 1, p.shape.T)),
        work_size_(recurrent_backward_workspace(p.shape.T, p.m, rows_, every_)),
        work_(omp_get_max_threads() * work_size_) {}

 private:
  void run_head(int64_t bh, int thread) override {
    const Shape& s = p_.shape;
    const int64_t T = s.T, m = p_.m;
    const HeadView in = p_.head(bh);
    const HeadGrads<float> out{grad_ptr(g_.dq, bh * T * s.dk),
                               grad_ptr(g_.dk, bh * T * s.dk),
                               grad_ptr(g_.dv, bh * T * s.dv),
                               grad_ptr(g_.dgate, bh * T),
                               grad_ptr(g_.dbeta, bh * T),
                               grad_ptr(g_.dgate_v, bh * T * s.dv),
                               grad_ptr(g_.dgate_k, bh * T * m),
                               grad_ptr(g_.ds0, bh * s.dv * m),
                               {grad_ptr(g_.dw_bh, bh * m * s.dk), grad_ptr(g_.db_bh, bh * m)}};
    RecurrentBackward<float>(var_, T, s.dv, m, every_, work_.data() + thread * work_size_)
        .run(in, dy_.data() + bh * T * s.dv, out, nullptr);
  }

  Variant var_;
  const std::vector<float>& dy_;
  int64_t every_;
  int64_t work_size_;
  HostBuffer<float> work_;  // per thread: features, checkpoints, one chunk's states
};

class RecurrentBackwardCpu final : public BackwardImpl {
 public:
  FormKey key() const override { return {"recurrent", "cpu", "fp32"}; }
  bool takes_chunk() const override { return true; }  // the checkpoint length
  std::string unsupported_reason(const Variant& v) const override {
    if (!v.defined()) return v.undefined_reason;
    if (!v.rule->stateful()) return "softmax has no recurrent form";
    return stateful_backward_unsupported_reason(v);
  }
  std::unique_ptr<PreparedBackward> prepare(const Variant& v, const Problem& p, const std::vector<float>& dy,
                                            const RunOptions& opts) const override {
    return std::make_unique<RecurrentBackwardPrepared>(v, p, dy, opts.chunk);
  }
};

}  // namespace

std::unique_ptr<BackwardImpl> make_recurrent_backward_cpu_impl() { return std::make_unique<RecurrentBackwardCpu>(); }

}  // namespace dfw
