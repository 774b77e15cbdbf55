// The CUDA backward forms of the stateful rules, fp32, on the features of q and k
// (feature_backward_kernel.cu), then the feature maps' VJPs into dq, dk (and dw, db):
//   recurrent/cuda/fp32: as variants/cpu/recurrent_backward_cpu.cpp, the state's
//     reverse walk from checkpoints every C tokens (recurrent_backward_kernel.cu: delta,
//     or any gated-linear rule whose factors its FactorForm names);
//   chunked/cuda/fp32: as variants/cpu/chunked_backward_cpu.cpp, the gated-linear rules
//     over chunks of C <= 16 tokens (chunked_backward_kernel.cu).
// Both fill the same per-token sums, so they share everything around the walk.
// Device memory beyond the inputs and gradients: four (B, H, T, m) feature rows (two
// more when sum-normalised), up to four (B, H, T) rows of the walk's sums (sum_da and dc
// of the gated-linear rules, dy . n and the denominator when normalised, recurrent), a
// scalar key factor's (B, H, T, m) dL/db, and the walk's workspace: recurrent, (T / C +
// C + 1) rows of m per state row (checkpoints, not every state); chunked, two states
// per chunk and the output weights (chunked_backward_sizes.hpp).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "backward_impl.hpp"
#include "chunked_backward_kernel.cuh"
#include "chunked_backward_sizes.hpp"
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

// Which walk a prepared backward launches.
enum class Walk { recurrent, chunked };

class StatefulBackwardPrepared final : public CudaPreparedBackward {
 public:
  // every: the checkpoint length (recurrent) or the chunk length asked for (chunked).
  StatefulBackwardPrepared(const Variant& v, const Problem& p, const std::vector<float>& dy, int64_t every, Walk walk)
      : walk_kind_(walk), in_(p, stream()), dy_(dy.size()), dq_(p.q.size()), dk_(p.k.size()), dv_(p.v.size()),
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
    const int rows = int(s.dv) + (v.normalise ? 1 : 0);
    a.every = walk == Walk::chunked ? chunked_backward_chunk(every, int(p.m), rows)
                                    : int(std::clamp<int64_t>(every, 1, std::max<int64_t>(s.T, 1)));
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
    if (v.normalise && walk == Walk::recurrent) {
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
    work_ = DeviceBuffer<float>(walk == Walk::chunked
                                    ? chunked_backward_work(BH, a.T, a.every, a.m, rows).floats
                                    : recurrent_backward_workspace_floats(BH, a.T, a.dv, a.m, a.every, a.normalise));
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
    if (walk_kind_ == Walk::chunked) launch_chunked_backward(walk_, stream());
    else launch_recurrent_backward(walk_, stream());
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

  Walk walk_kind_;
  DeviceInputs<float> in_;
  DeviceBuffer<float> dy_;                               // (B, H, T, dv)
  DeviceBuffer<float> dq_, dk_, dv_, dgate_, dbeta_, dgate_v_, dgate_k_, ds0_;  // shaped as the inputs
  DeviceBuffer<float> dw_, db_feat_;                     // (H, m, dk), (H, m) relu_proj
  DeviceBuffer<float> fq_raw_, fk_raw_, fq_used_, fk_used_;  // (B, H, T, m); used: sum-normalised only
  DeviceBuffer<float> dfq_, dfk_;                        // (B, H, T, m) dL/d(used features)
  DeviceBuffer<float> sum_da_, dc_, dyn_, den_;          // (B, H, T)
  DeviceBuffer<float> db_scratch_;                       // (B, H, T, m) a scalar b's dL/db
  DeviceBuffer<float> work_;                             // the walk's checkpoints and chunk states, or chunked's
  RecurrentBackwardLaunch walk_;
  FeatureRowsLaunch q_side_, k_side_;
};

// What both forms share: their refusals (the rule's own first), and prepare around the walk.
class StatefulBackwardCuda : public BackwardImpl {
 public:
  bool takes_chunk() const override { return true; }  // checkpoint or chunk length
  std::string unsupported_reason(const Variant& v) const override {
    if (std::string r = cuda_unavailable_reason(); !r.empty()) return r;
    if (!v.defined()) return v.undefined_reason;
    if (std::string r = rule_reason(v); !r.empty()) return r;
    if (std::string r = stateful_backward_unsupported_reason(v); !r.empty()) return r;
    if (!cuda_feature_kind(v)) return "no CUDA kernel for feature map " + v.phi->name();
    return "";
  }
  std::unique_ptr<PreparedBackward> prepare(const Variant& v, const Problem& p, const std::vector<float>& dy,
                                            const RunOptions& opts) const override {
    if (const std::string r = unsupported_reason(v); !r.empty())
      throw std::invalid_argument(key().str() + " backward: " + r);
    if (const std::string r = width_reason(v, p); !r.empty()) throw std::invalid_argument(r);
    return std::make_unique<StatefulBackwardPrepared>(v, p, dy, opts.chunk, walk());
  }

 protected:
  virtual std::string rule_reason(const Variant& v) const = 0;                      // "" when the rule is taken
  virtual std::string width_reason(const Variant& v, const Problem& p) const = 0;  // "" when the widths are
  virtual Walk walk() const = 0;
};

class RecurrentBackwardCuda final : public StatefulBackwardCuda {
 public:
  FormKey key() const override { return {"recurrent", "cuda", "fp32"}; }

 private:
  std::string rule_reason(const Variant& v) const override {
    if (!v.rule->stateful()) return "softmax has no recurrent form";
    if (!uses_factor_vjp(*v.rule) && cuda_rule_kind(v) != RuleKind::delta)
      return "no CUDA backward takes rule " + v.rule->name() + " (its factors are computed)";
    return "";
  }
  std::string width_reason(const Variant&, const Problem& p) const override {
    return p.m > kRecurrentBackwardMaxM ? "CUDA recurrent backward takes m <= " + std::to_string(kRecurrentBackwardMaxM)
                                        : "";
  }
  Walk walk() const override { return Walk::recurrent; }
};

class ChunkedBackwardCuda final : public StatefulBackwardCuda {
 public:
  FormKey key() const override { return {"chunked", "cuda", "fp32"}; }
  // At most 16 tokens per chunk (fewer for wide states: chunked_backward_chunk).
  int64_t effective_chunk(int64_t chunk) const override {
    return std::clamp<int64_t>(chunk, 1, kChunkedBackwardMaxLen);
  }

 private:
  std::string rule_reason(const Variant& v) const override {
    if (!v.rule->is_gated_linear() || !uses_factor_vjp(*v.rule))
      return v.rule->name() + " is not in the gated-linear family with a factor form (chunked: add, gated, decay)";
    return "";
  }
  std::string width_reason(const Variant& v, const Problem& p) const override {
    const int64_t rows = p.shape.dv + (v.normalise ? 1 : 0);
    if (p.m <= kChunkedBackwardMaxWidth && rows <= kChunkedBackwardMaxWidth) return "";
    return "CUDA chunked backward takes m and the state rows (dv, + 1 when normalised) <= " +
           std::to_string(kChunkedBackwardMaxWidth);
  }
  Walk walk() const override { return Walk::chunked; }
};

}  // namespace

std::unique_ptr<BackwardImpl> make_recurrent_backward_cuda_impl() {
  return std::make_unique<RecurrentBackwardCuda>();
}

std::unique_ptr<BackwardImpl> make_chunked_backward_cuda_impl() { return std::make_unique<ChunkedBackwardCuda>(); }

}  // namespace dfw
