#include "cpu_case.hpp"

#include <algorithm>

namespace dfw {
namespace {

HostBuffer<float> copy_of(const std::vector<float>& src) {
  HostBuffer<float> out(src.size());
  std::copy(src.begin(), src.end(), out.data());
  return out;
}

const float* ptr(const HostBuffer<float>& b) { return b.empty() ? nullptr : b.data(); }

}  // namespace

CpuInputs::CpuInputs(const Problem& p)
    : shape(p.shape),
      m(p.m),
      q(copy_of(p.q)),
      k(copy_of(p.k)),
      v(copy_of(p.v)),
      gate(copy_of(p.gate)),
      beta(copy_of(p.beta)),
      gate_v(copy_of(p.gate_v)),
      gate_k(copy_of(p.gate_k)),
      w(copy_of(p.w)),
      b(copy_of(p.b)),
      omega(copy_of(p.omega)),
      s0(copy_of(p.s0)) {}

HeadView CpuInputs::head(int64_t bh) const {
  return head_view(shape, m,
                   {ptr(q), ptr(k), ptr(v), ptr(gate), ptr(beta), ptr(gate_v), ptr(gate_k), ptr(w), ptr(b),
                    ptr(omega), ptr(s0)},
                   bh);
}

CpuCase::CpuCase(const Variant& variant, const Problem& p)
    : CpuInputs(p),
      rows(p.shape.dv + (variant.normalise ? 1 : 0)),
      normalise(variant.normalise),
      y(p.shape.B * p.shape.H * p.shape.T * p.shape.dv),
      state(variant.rule->stateful() ? p.shape.B * p.shape.H * rows * p.m : 0) {}

void CpuCase::reset_state(int64_t bh) {
  float* s = state_of(bh);
  std::fill(s, s + rows * m, 0.f);
  if (!s0.empty()) std::copy(s0.data() + bh * shape.dv * m, s0.data() + (bh + 1) * shape.dv * m, s);
}

Output CpuCase::output() const {
  Output out;
  out.y.assign(y.data(), y.data() + y.size());
  if (state.empty()) return out;
  const int64_t BH = shape.B * shape.H;
  out.state.resize(BH * shape.dv * m);
  if (normalise) out.z.resize(BH * m);
  for (int64_t bh = 0; bh < BH; ++bh) {
    const float* s = state.data() + bh * rows * m;
    std::copy(s, s + shape.dv * m, out.state.begin() + bh * shape.dv * m);
    if (normalise) std::copy(s + shape.dv * m, s + rows * m, out.z.begin() + bh * m);
  }
  return out;
}

}  // namespace dfw
