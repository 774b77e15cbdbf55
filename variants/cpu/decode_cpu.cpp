// decode/cpu/fp32: generation one token at a time. Stateful rules: features of
// the new token, one fused rule step on the carried (dv, m) state, the output;
// O(dv m) per token whatever the context length. Softmax: a KV cache
// (softmax_decode_cpu.cpp), O(T d) per token.
#include <omp.h>

#include <algorithm>
#include <stdexcept>

#include "../impl.hpp"
#include "cpu_case.hpp"
#include "threading.hpp"
#include "cpu_forms.hpp"
#include "features.hpp"

namespace dfw {
namespace {

class StatefulDecodePrepared final : public Prepared {
 public:
  StatefulDecodePrepared(const Variant& v, const Problem& p, Mode mode)
      : var_(v), c_(v, p), mode_(mode), threads_(omp_get_max_threads()),
        scratch_(threads_ * (2 * p.m + c_.rows)) {
    if (mode == Mode::decode_step && p.shape.T != 1)
      throw std::invalid_argument("a decode step of a stateful rule takes one token (T = 1) and s0");
    for (int64_t bh = 0; bh < p.shape.B * p.shape.H; ++bh) c_.reset_state(bh);
  }

  // sequence: every token from s0; decode_step: the last token, from the carried state.
  void run() override {
    const int64_t BH = c_.shape.B * c_.shape.H, T = c_.shape.T;
    const int64_t work = BH * (mode_ == Mode::sequence ? T : 1) * c_.rows * c_.m;
    for_each_head(BH, work, HeadSchedule::even, [&](int64_t bh, int thread) {
      float* scratch = scratch_.data() + thread * (2 * c_.m + c_.rows);
      if (mode_ == Mode::sequence) {
        c_.reset_state(bh);
        for (int64_t t = 0; t < T; ++t) step(bh, t, t, scratch);
      } else {
        step(bh, T - 1, 0, scratch);
      }
    });
  }
  Output output() const override { return c_.output(); }

 private:
  // Token t of head bh; its output goes to row out_t of y.
  void step(int64_t bh, int64_t t, int64_t out_t, float* scratch) {
    const HeadView h = c_.head(bh);
    const int64_t m = h.m, dv = h.dv;
    float* fq = scratch;       // (m)
    float* fk = fq + m;        // (m)
    float* vt = fk + m;        // (rows)
    compute_features(var_, h.features, h.q + t * h.dk, 1, h.dk, m, fq);
    compute_features(var_, h.features, h.k + t * h.dk, 1, h.dk, m, fk);
    std::copy(h.v + t * dv, h.v + (t + 1) * dv, vt);
    if (c_.normalise) vt[dv] = 1.f;
    float* S = c_.state_of(bh);
    var_.rule->step(S, c_.rows, m, fk, vt, h.gates_at(t));
    read_output(S, dv, m, c_.normalise, fq, c_.y_of(bh) + out_t * dv);
  }

  Variant var_;
  CpuCase c_;
  Mode mode_;
  int threads_;
  HostBuffer<float> scratch_;  // per thread: phi(q), phi(k), augmented v
};

class DecodeCpu final : public Impl {
 public:
  FormKey key() const override { return {"decode", "cpu", "fp32"}; }
  std::string unsupported_reason(const Variant& v, Mode) const override { return v.undefined_reason; }
  std::unique_ptr<Prepared> prepare(const Variant& v, const Problem& p, const RunOptions& o) const override {
    if (!v.rule->stateful()) return make_softmax_decode_cpu(p, o.mode);
    return std::make_unique<StatefulDecodePrepared>(v, p, o.mode);
  }
};

}  // namespace

std::unique_ptr<Impl> make_decode_cpu_impl() { return std::make_unique<DecodeCpu>(); }

}  // namespace dfw
