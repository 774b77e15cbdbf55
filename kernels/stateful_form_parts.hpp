// Internal: the pieces the two stateful-rule forms (fast_weight_forms.cpp,
// chunked_prefill_form.cpp) share: the launch fields taken from the variant, the
// problem's sizes and its device inputs; the device state (B, H, rows, m) split
// into an Output's state (B, H, dv, m) and z (B, H, m); the gate rows of a rule the
// decay kernels run on factors made on the host (kernel_kinds.hpp).
#pragma once

#include <algorithm>
#include <vector>

#include "cuda_forms.hpp"
#include "device_inputs.hpp"

namespace dfw {

// Launch is FastWeightLaunch<T> or ChunkedPrefillLaunch<T>; rows = dv (+ 1 for z).
// The fields a form sets per launch (tokens, state pointers, y) are left alone.
template <class Launch, class T>
void fill_launch_inputs(Launch& a, const Variant& v, const Problem& p, int rows, const DeviceInputs<T>& in) {
  a.rule = *cuda_rule_kind(v);
  a.phi = *cuda_feature_kind(v);
  a.normalise = v.normalise;
  a.norm_eps = float(kNormEps);
  a.BH = p.shape.B * p.shape.H;
  a.H = p.shape.H;
  a.dk = int(p.shape.dk);
  a.dv = int(p.shape.dv);
  a.m = int(p.m);
  a.rows = rows;
  a.q = in.q.data();
  a.k = in.k.data();
  a.v = in.v.data();
  a.gate = or_null(in.gate);
  a.gate_v = or_null(in.gate_v);
  a.gate_k = or_null(in.gate_k);
  a.w = or_null(in.w);
  a.b = or_null(in.b);
  a.omega = or_null(in.omega);
}

// Replaces in.gate_v, in.gate_k with the rule's factors a_t (B, H, T, dv) and
// b_t (B, H, T, m) from gated_linear_factors() (c_t is 1: kernel_kinds.hpp).
template <class T>
void upload_factor_gate_rows(const Variant& v, const Problem& p, DeviceInputs<T>& in, cudaStream_t s) {
  const int64_t BH = p.shape.B * p.shape.H, tokens = p.shape.T, dv = p.shape.dv, m = p.m;
  std::vector<float> a(BH * tokens * dv), b(BH * tokens * m);
  for (int64_t bh = 0; bh < BH; ++bh) {
    const HeadView h = p.head(bh);
    for (int64_t t = 0; t < tokens; ++t) {
      const int64_t at = bh * tokens + t;
      v.rule->gated_linear_factors(h.gates_at(t), dv, m, a.data() + at * dv, b.data() + at * m);
    }
  }
  in.gate_v = DeviceBuffer<float>(a.size());
  in.gate_k = DeviceBuffer<float>(b.size());
  in.gate_v.upload(a, s);
  in.gate_k.upload(b, s);
}

// s: (BH, rows, m) as downloaded; rows = dv + 1 when normalised (z is row dv).
inline void split_state_rows(const std::vector<float>& s, int64_t BH, int64_t dv, int64_t m, int rows, bool normalise,
                             Output& o) {
  o.state.resize(BH * dv * m);
  if (normalise) o.z.resize(BH * m);
  for (int64_t bh = 0; bh < BH; ++bh) {
    const float* src = s.data() + bh * rows * m;
    std::copy(src, src + dv * m, o.state.begin() + bh * dv * m);
    if (normalise) std::copy(src + dv * m, src + rows * m, o.z.begin() + bh * m);
  }
}

}  // namespace dfw
