// recurrent/cpu/fp32 backward: the reverse-time recurrence of RecurrentBackward<float>,
// one (b, h) per thread, with the state kept every C tokens (C = the chunk option)
// and each chunk's states recomputed from its checkpoint, so a thread holds
// (T / C + C + 1) states instead of T. Gradients are fp32, accumulated in fp32.
#include <omp.h>

#include <algorithm>

#include "../backward_impl.hpp"
#include "../host_buffer.hpp"
#include "recurrent_backward.hpp"
#include "threading.hpp"

namespace dfw {
namespace {

class RecurrentBackwardPrepared final : public PreparedBackward {
 public:
  RecurrentBackwardPrepared(const Variant& v, const Problem& p, const std::vector<float>& dy, int64_t every)
      : var_(v), p_(p), dy_(dy), every_(std::clamp<int64_t>(every, 1, p.shape.T)),
        rows_(p.shape.dv + (v.normalise ? 1 : 0)), threads_(omp_get_max_threads()),
        work_size_(recurrent_backward_workspace(p.shape.T, p.m, rows_, every_)), work_(threads_ * work_size_),
        dq_(p.q.size()), dk_(p.k.size()), dv_(p.v.size()), dgate_(p.gate.size()), dbeta_(p.beta.size()),
        dgate_v_(p.gate_v.size()), dgate_k_(p.gate_k.size()), ds0_(p.s0.size()),
        dw_bh_(p.w.empty() ? 0 : p.shape.B * p.shape.H * p.m * p.shape.dk),
        db_bh_(p.b.empty() ? 0 : p.shape.B * p.shape.H * p.m) {}

  void run() override {
    const Shape& s = p_.shape;
    const int64_t BH = s.B * s.H;
    std::fill(dw_bh_.data(), dw_bh_.data() + dw_bh_.size(), 0.f);
    std::fill(db_bh_.data(), db_bh_.data() + db_bh_.size(), 0.f);
    for_each_head(BH, 3 * BH * s.T * rows_ * p_.m, HeadSchedule::dynamic,
                  [&](int64_t bh, int thread) { run_head(bh, thread); });
  }

  Gradients gradients() const override {
    Gradients g;
    g.q = widened(dq_);
    g.k = widened(dk_);
    g.v = widened(dv_);
    g.gate = widened(dgate_);
    g.beta = widened(dbeta_);
    g.gate_v = widened(dgate_v_);
    g.gate_k = widened(dgate_k_);
    g.s0 = widened(ds0_);
    const Shape& s = p_.shape;
    g.w = sum_over_batch(dw_bh_.empty() ? nullptr : dw_bh_.data(), s.B, s.H, p_.m * s.dk);
    g.b = sum_over_batch(db_bh_.empty() ? nullptr : db_bh_.data(), s.B, s.H, p_.m);
    return g;
  }

 private:
  void run_head(int64_t bh, int thread) {
    const Shape& s = p_.shape;
    const int64_t T = s.T, m = p_.m;
    const HeadView in = p_.head(bh);
    auto at = [](HostBuffer<float>& b, int64_t offset) { return b.empty() ? nullptr : b.data() + offset; };
    const HeadGrads<float> out{at(dq_, bh * T * s.dk), at(dk_, bh * T * s.dk), at(dv_, bh * T * s.dv),
                               at(dgate_, bh * T), at(dbeta_, bh * T), at(dgate_v_, bh * T * s.dv),
                               at(dgate_k_, bh * T * m), at(ds0_, bh * s.dv * m),
                               {at(dw_bh_, bh * m * s.dk), at(db_bh_, bh * m)}};
    RecurrentBackward<float>(var_, T, s.dv, m, every_, work_.data() + thread * work_size_)
        .run(in, dy_.data() + bh * T * s.dv, out, nullptr);
  }

  Variant var_;
  const Problem& p_;
  const std::vector<float>& dy_;
  int64_t every_, rows_;
  int threads_;
  int64_t work_size_;
  HostBuffer<float> work_;  // per thread: features, checkpoints, one chunk's states
  HostBuffer<float> dq_, dk_, dv_, dgate_, dbeta_, dgate_v_, dgate_k_, ds0_;  // shaped as the inputs
  HostBuffer<float> dw_bh_, db_bh_;  // (B * H, m, dk), (B * H, m): summed over the batch on read
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
