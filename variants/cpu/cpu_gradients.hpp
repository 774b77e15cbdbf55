// The fp32 gradient buffers a CPU backward form of a stateful variant writes, shaped
// as the problem's inputs (empty where the input is absent), and their reading as
// float64 Gradients. w and b get one gradient per (b, h), summed over the batch on read.
// HeadwiseBackward: such a form run one (b, h) per thread over those buffers.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../backward_impl.hpp"
#include "../host_buffer.hpp"
#include "../problem.hpp"
#include "threading.hpp"

namespace dfw {

// b's element `offset`, or nullptr where the input is absent.
inline float* grad_ptr(HostBuffer<float>& b, int64_t offset) { return b.empty() ? nullptr : b.data() + offset; }

struct CpuGradients {
  explicit CpuGradients(const Problem& p)
      : dq(p.q.size()),
        dk(p.k.size()),
        dv(p.v.size()),
        dgate(p.gate.size()),
        dbeta(p.beta.size()),
        dgate_v(p.gate_v.size()),
        dgate_k(p.gate_k.size()),
        ds0(p.s0.size()),
        dw_bh(p.w.empty() ? 0 : p.shape.B * p.shape.H * p.m * p.shape.dk),
        db_bh(p.b.empty() ? 0 : p.shape.B * p.shape.H * p.m) {}

  // dw, db are added to by the heads: zero them before a run.
  void clear_feature_params() {
    std::fill(dw_bh.data(), dw_bh.data() + dw_bh.size(), 0.f);
    std::fill(db_bh.data(), db_bh.data() + db_bh.size(), 0.f);
  }

  Gradients read(const Problem& p) const {
    Gradients g;
    g.q = widened(dq);
    g.k = widened(dk);
    g.v = widened(dv);
    g.gate = widened(dgate);
    g.beta = widened(dbeta);
    g.gate_v = widened(dgate_v);
    g.gate_k = widened(dgate_k);
    g.s0 = widened(ds0);
    const Shape& s = p.shape;
    g.w = sum_over_batch(dw_bh.empty() ? nullptr : dw_bh.data(), s.B, s.H, p.m * s.dk);
    g.b = sum_over_batch(db_bh.empty() ? nullptr : db_bh.data(), s.B, s.H, p.m);
    return g;
  }

  HostBuffer<float> dq, dk, dv, dgate, dbeta, dgate_v, dgate_k, ds0;
  HostBuffer<float> dw_bh, db_bh;  // (B * H, m, dk), (B * H, m)
};

// A backward form that runs each (b, h) on its own, writing g_: run() clears the
// per-head parameter gradients, then runs the heads over the threads.
class HeadwiseBackward : public PreparedBackward {
 public:
  // rows: the state rows (dv, plus z's when normalised), which size a head's work.
  HeadwiseBackward(const Problem& p, int64_t rows) : p_(p), rows_(rows), g_(p) {}

  void run() override {
    const Shape& s = p_.shape;
    const int64_t BH = s.B * s.H;
    g_.clear_feature_params();
    for_each_head(BH, 3 * BH * s.T * rows_ * p_.m, HeadSchedule::dynamic,
                  [&](int64_t bh, int thread) { run_head(bh, thread); });
  }

  Gradients gradients() const override { return g_.read(p_); }

 protected:
  virtual void run_head(int64_t bh, int thread) = 0;  // thread: which per-thread workspace

  const Problem& p_;
  int64_t rows_;
  CpuGradients g_;
};

}  // namespace dfw
