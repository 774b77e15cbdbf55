// recurrent/cpu/fp32: token by token, one (b, h) per thread, the state kept in
// cache; no per-token state is stored. O(T dv m) per sequence.
#include <omp.h>

#include <algorithm>

#include "../impl.hpp"
#include "cpu_case.hpp"
#include "threading.hpp"
#include "features.hpp"

namespace dfw {
namespace {

class RecurrentPrepared final : public Prepared {
 public:
  RecurrentPrepared(const Variant& v, const Problem& p)
      : var_(v), c_(v, p), threads_(omp_get_max_threads()),
        features_(threads_ * 2 * p.shape.T * p.m), vt_(threads_ * c_.rows) {}

  void run() override {
    const int64_t BH = c_.shape.B * c_.shape.H;
    for_each_head(BH, BH * c_.shape.T * c_.rows * c_.m, HeadSchedule::dynamic,
                  [&](int64_t bh, int thread) { run_head(bh, thread); });
  }
  Output output() const override { return c_.output(); }

 private:
  void run_head(int64_t bh, int thread) {
    const HeadView h = c_.head(bh);
    const int64_t T = h.T, m = h.m, dv = h.dv, rows = c_.rows;
    float* fq = features_.data() + thread * 2 * T * m;  // (T, m)
    float* fk = fq + T * m;                             // (T, m)
    float* vt = vt_.data() + thread * rows;             // (rows) value, 1 appended for z
    compute_features(var_, h.features, h.q, T, h.dk, m, fq);
    compute_features(var_, h.features, h.k, T, h.dk, m, fk);
    c_.reset_state(bh);
    float* S = c_.state_of(bh);
    float* y = c_.y_of(bh);
    if (c_.normalise) vt[dv] = 1.f;
    for (int64_t t = 0; t < T; ++t) {
      std::copy(h.v + t * dv, h.v + (t + 1) * dv, vt);
      var_.rule->step(S, rows, m, fk + t * m, vt, h.gates_at(t));
      read_output(S, dv, m, c_.normalise, fq + t * m, y + t * dv);
    }
  }

  Variant var_;
  CpuCase c_;
  int threads_;
  HostBuffer<float> features_;  // per thread: phi(q), phi(k) of one sequence
  HostBuffer<float> vt_;        // per thread: one augmented value
};

class RecurrentCpu final : public Impl {
 public:
  FormKey key() const override { return {"recurrent", "cpu", "fp32"}; }
  std::string unsupported_reason(const Variant& v, Mode mode) const override {
    if (!v.defined()) return v.undefined_reason;
    if (!v.rule->stateful()) return "softmax has no recurrent form (see blocked, decode)";
    if (mode != Mode::sequence) return "recurrent is a whole-sequence form (see decode)";
    return "";
  }
  std::unique_ptr<Prepared> prepare(const Variant& v, const Problem& p, const RunOptions&) const override {
    return std::make_unique<RecurrentPrepared>(v, p);
  }
};

}  // namespace

std::unique_ptr<Impl> make_recurrent_cpu_impl() { return std::make_unique<RecurrentCpu>(); }

}  // namespace dfw
