// recurrent/cuda/fp32 backward of the stateful rules, as variants/cpu/
// recurrent_backward_cpu.cpp on the device: the features of q and k
// (feature_backward_kernel.cu), the state's reverse walk from checkpoints every C
// tokens (recurrent_backward_kernel.cu: delta, or any gated-linear rule whose factors
// its FactorForm names), then the feature maps' VJPs into dq, dk (and dw, db).
// Device memory beyond the inputs and gradients: four (B, H, T, m) feature rows (two
// more when sum-normalised), up to four (B, H, T) rows of the walk's sums (sum_da and dc
// of the gated-linear rules, dy . n and the denominator when normalised), a scalar
// key factor's (B, H, T, m) dL/db, and the walk's workspace of
// (T / C + C + 1) rows of m per state row (checkpoints, not every state).
#include <algorithm>
#include <stdexcept>

#include "backward_impl.hpp"
#include "cpu/recurrent_backward.hpp"
#include "cuda_forms.hpp"
#include "cuda_prepared.hpp"
#include "device_inputs.hpp"
#include "feature_backward_kernel.cuh"
#include "recurrent_backward_kernel.cuh"
#include "recurrent_backward_sizes.hpp"

namespace dfw {
namespace {

GateFactor gate_factor(Factor f) {
  switch (f) {
    case Factor::one: return GateFactor::one;
    case Factor::gate: return GateFactor::gate;
    case Factor::one_minus_gate: return GateFactor::one_minus_gate;
    case Factor::gate_rows: return GateFactor::gate_rows;
    case Factor::computed: break;
  }
  throw std::invalid_argument("recurrent/cuda backward: a computed factor has no kernel");
}

bool is_scalar(GateFactor f) { return f == GateFactor::gate || f == GateFactor::one_minus_gate; }

class RecurrentBackwardPrepared final : public CudaPreparedBackward {
 public:
  RecurrentBackwardPrepared(const Variant& v, const Problem& p, const std::vector<float>& dy, int64_t every)
      : in_(p, stream()), dy_(dy.size()), dq_(p.q.size()), dk_(p.k.size()), dv_(p.v.size()),
        dgate_(p.gate.size()), dbeta_(p.beta.size()), dgate_v_(p.gate_v.size()), dgate_k_(p.gate_k.size()),
        ds0_(p.s0.size()), dw_(p.w.size()), db_feat_(p.b.size()) {
    const Shape& s = p.shape;
    const int64_t BH = s.B * s.H, tokens = BH * s.T, columns = tokens * p.m;
    dy_.upload(dy, stream());
    for (auto* b : {&fq_raw_, &fk_raw_, &dfq_, &dfk_}) *b = DeviceBuffer<float>(columns);
    if (v.sum_normalise) {
      fq_used_ = DeviceBuffer<float>(columns);
      fk_used_ = DeviceBuffer<float>(columns);
    }
    RecurrentBackwardLaunch& a = walk_;
    a.delta = !v.rule->is_gated_linear();
    a.normalise = v.normalise;
    a.norm_eps = float(kNormEps);
    a.BH = BH;
    a.T = s.T;
    a.dv = int(s.dv);
    a.m = int(p.m);
    a.every = int(std::clamp<int64_t>(every, 1, std::max<int64_t>(s.T, 1)));
    if (!a.delta) {
      const FactorForm f = v.rule->factor_form();
      a.a = gate_factor(f.a);
      a.b = gate_factor(f.b);
      a.c = gate_factor(f.c);
      sum_da_ = DeviceBuffer<float>(tokens);
      dc_ = DeviceBuffer<float>(tokens);
      a.sum_da = sum_da_.data();
      a.dc = dc_.data();
      if (a.b == GateFactor::gate_rows) a.db = dgate_k_.data();
      else if (is_scalar(a.b)) {
        db_scratch_ = DeviceBuffer<float>(columns);
        a.db = db_scratch_.data();
      }
      if (a.a == GateFactor::gate_rows) a.dgate_v = dgate_v_.data();
      if (!dgate_.empty()) a.dgate = dgate_.data();
    } else {
      a.dbeta = dbeta_.data();
    }
    if (v.normalise) {
      dyn_ = DeviceBuffer<float>(tokens);
      den_ = DeviceBuffer<float>(tokens);
      a.dyn = dyn_.data();
      a.den = den_.data();
    }
    a.fq = used(fq_used_, fq_raw_);
    a.fk = used(fk_used_, fk_raw_);
    a.v = in_.v.data();
    a.dy = dy_.data();
    a.gate = or_null(in_.gate);
    a.beta = or_null(in_.beta);
    a.gate_v = or_null(in_.gate_v);
    a.gate_k = or_null(in_.gate_k);
    a.s0 = or_null(in_.s0);
    work_ = DeviceBuffer<float>(recurrent_backward_workspace_floats(BH, a.T, a.dv, a.m, a.every, a.normalise));
    a.work = work_.data();
    a.dfq = dfq_.data();
    a.dfk = dfk_.data();
    a.dv_out = dv_.data();
    a.ds0 = ds0_.empty() ? nullptr : ds0_.data();

    FeatureRowsLaunch f;
    f.phi = *cuda_feature_kind(v);
    f.sum_normalise = v.sum_normalise;
    f.rows = tokens;
    f.T = s.T;
    f.H = s.H;
    f.dk = int(s.dk);
    f.m = int(p.m);
    f.w = or_null(in_.w);
    f.b = or_null(in_.b);
    f.omega = or_null(in_.omega);
    f.dw = dw_.empty() ? nullptr : dw_.data();
    f.db = db_feat_.empty() ? nullptr : db_feat_.data();
    q_side_ = k_side_ = f;
    side(q_side_, in_.q, fq_raw_, fq_used_, dfq_, dq_);
    side(k_side_, in_.k, fk_raw_, fk_used_, dfk_, dk_);
  }

  void run() override {
    for (DeviceBuffer<float>* b : {&dw_, &db_feat_})  // added to by both sides
      if (!b->empty()) DFW_CUDA_CHECK(cudaMemsetAsync(b->data(), 0, sizeof(float) * b->size(), stream()));
    launch_feature_rows(q_side_, stream());
    launch_feature_rows(k_side_, stream());
    launch_recurrent_backward(walk_, stream());
    launch_feature_vjp(q_side_, stream());
    launch_feature_vjp(k_side_, stream());
  }

  Gradients gradients() const override {
    auto read = [this](const DeviceBuffer<float>& b) { return b.empty() ? std::vector<double>{} : widen(b.download(stream())); };
    Gradients g;
    g.q = read(dq_);
    g.k = read(dk_);
    g.v = read(dv_);
    g.gate = read(dgate_);
    g.beta = read(dbeta_);
    g.gate_v = read(dgate_v_);
    g.gate_k = read(dgate_k_);
    g.s0 = read(ds0_);
    g.w = read(dw_);
    g.b = read(db_feat_);
    return g;
  }

 private:
  static const float* used(const DeviceBuffer<float>& used, const DeviceBuffer<float>& raw) {
    return used.empty() ? raw.data() : used.data();
  }
  static void side(FeatureRowsLaunch& f, const DeviceBuffer<float>& x, DeviceBuffer<float>& raw,
                   DeviceBuffer<float>& used_rows, DeviceBuffer<float>& d, DeviceBuffer<float>& dx) {
    f.x = x.data();
    f.raw = raw.data();
    f.used = used_rows.empty() ? raw.data() : used_rows.data();
    f.d = d.data();
    f.dx = dx.data();
  }

  DeviceInputs<float> in_;
  DeviceBuffer<float> dy_;                               // (B, H, T, dv)
  DeviceBuffer<float> dq_, dk_, dv_, dgate_, dbeta_, dgate_v_, dgate_k_, ds0_;  // shaped as the inputs
  DeviceBuffer<float> dw_, db_feat_;                     // (H, m, dk), (H, m) relu_proj
  DeviceBuffer<float> fq_raw_, fk_raw_, fq_used_, fk_used_;  // (B, H, T, m); used: sum-normalised only
  DeviceBuffer<float> dfq_, dfk_;                        // (B, H, T, m) dL/d(used features)
  DeviceBuffer<float> sum_da_, dc_, dyn_, den_;          // (B, H, T)
  DeviceBuffer<float> db_scratch_;                       // (B, H, T, m) a scalar b's dL/db
  DeviceBuffer<float> work_;                             // the walk's checkpoints and chunk states
  RecurrentBackwardLaunch walk_;
  FeatureRowsLaunch q_side_, k_side_;
};

class RecurrentBackwardCuda final : public BackwardImpl {
 public:
  FormKey key() const override { return {"recurrent", "cuda", "fp32"}; }
  bool takes_chunk() const override { return true; }  // the checkpoint length
  std::string unsupported_reason(const Variant& v) const override {
    if (std::string r = cuda_unavailable_reason(); !r.empty()) return r;
    if (!v.defined()) return v.undefined_reason;
    if (!v.rule->stateful()) return "softmax has no recurrent form";
    if (std::string r = stateful_backward_unsupported_reason(v); !r.empty()) return r;
    if (!uses_factor_vjp(*v.rule) && cuda_rule_kind(v) != RuleKind::delta)
      return "no CUDA backward takes rule " + v.rule->name() + " (its factors are computed)";
    if (!cuda_feature_kind(v)) return "no CUDA kernel for feature map " + v.phi->name();
    return "";
  }
  std::unique_ptr<PreparedBackward> prepare(const Variant& v, const Problem& p, const std::vector<float>& dy,
                                            const RunOptions& opts) const override {
    if (const std::string r = unsupported_reason(v); !r.empty())
      throw std::invalid_argument(key().str() + " backward: " + r);
    if (p.m > kRecurrentBackwardMaxM)
      throw std::invalid_argument("CUDA recurrent backward takes m <= " + std::to_string(kRecurrentBackwardMaxM));
    return std::make_unique<RecurrentBackwardPrepared>(v, p, dy, opts.chunk);
  }
};

}  // namespace

std::unique_ptr<BackwardImpl> make_recurrent_backward_cuda_impl() {
  return std::make_unique<RecurrentBackwardCuda>();
}

}  // namespace dfw
