#include "problem.hpp"

namespace dfw {

HeadView head_view(const Shape& s, int64_t m, const InputPointers& in, int64_t bh) {
  const int64_t h = bh % s.H;
  auto at = [](const float* base, int64_t offset) { return base ? base + offset : nullptr; };
  HeadView v{};
  v.T = s.T;
  v.dk = s.dk;
  v.dv = s.dv;
  v.m = m;
  v.q = at(in.q, bh * s.T * s.dk);
  v.k = at(in.k, bh * s.T * s.dk);
  v.v = at(in.v, bh * s.T * s.dv);
  v.gate = at(in.gate, bh * s.T);
  v.beta = at(in.beta, bh * s.T);
  v.gate_v = at(in.gate_v, bh * s.T * s.dv);
  v.gate_k = at(in.gate_k, bh * s.T * m);
  v.s0 = at(in.s0, bh * s.dv * m);
  v.features.w = at(in.w, h * m * s.dk);
  v.features.b = at(in.b, h * m);
  v.features.omega = at(in.omega, h * m * s.dk);
  return v;
}

InputPointers Problem::pointers() const {
  auto p = [](const std::vector<float>& t) { return t.empty() ? nullptr : t.data(); };
  return {p(q), p(k), p(v), p(gate), p(beta), p(gate_v), p(gate_k), p(w), p(b), p(omega), p(s0)};
}

}  // namespace dfw
