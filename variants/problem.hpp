// The inputs of one case (docs/MATH.md shapes, row-major, float32 values) and the
// outputs every form returns for comparison (float64 copies).
#pragma once

#include <cstdint>
#include <vector>

#include "feature_map.hpp"
#include "rule.hpp"
#include "shape.hpp"

namespace dfw {

// Views of one (b, h) sequence, row-major; nullptr where absent. HeadView: inside
// a Problem (float32); the float64 reference backward widens one to HeadInput<double>.
template <class R>
struct HeadInput {
  int64_t T, dk, dv, m;
  const R* q;       // (T, dk)
  const R* k;       // (T, dk)
  const R* v;       // (T, dv)
  const R* gate;    // (T)      or nullptr
  const R* beta;    // (T)      or nullptr
  const R* gate_v;  // (T, dv)  or nullptr
  const R* gate_k;  // (T, m)   or nullptr
  const R* s0;      // (dv, m)  or nullptr (zero initial state)
  FeatureParams<R> features;

  TokenGates<R> gates_at(int64_t t) const {
    TokenGates<R> g;
    if (gate) g.g = gate[t];
    if (beta) g.beta = beta[t];
    if (gate_v) g.a = gate_v + t * dv;
    if (gate_k) g.b = gate_k + t * m;
    return g;
  }
};
using HeadView = HeadInput<float>;

// Raw pointers to every input tensor (nullptr when absent), in Problem's layout.
struct InputPointers {
  const float *q, *k, *v, *gate, *beta, *gate_v, *gate_k, *w, *b, *omega, *s0;
};

// The (b, h) sequence bh = b * H + h of tensors laid out as in Problem.
HeadView head_view(const Shape& s, int64_t m, const InputPointers& in, int64_t bh);

struct Problem {
  Shape shape;
  int64_t m = 0;               // feature width
  std::vector<float> q, k;     // (B, H, T, dk)
  std::vector<float> v;        // (B, H, T, dv)
  std::vector<float> gate;     // (B, H, T)       gated
  std::vector<float> beta;     // (B, H, T)       delta
  std::vector<float> gate_v;   // (B, H, T, dv)   decay
  std::vector<float> gate_k;   // (B, H, T, m)    decay
  std::vector<float> w, b;     // (H, m, dk), (H, m)   relu_proj
  std::vector<float> omega;    // (H, m, dk)      favor
  std::vector<float> s0;       // (B, H, dv, m)   optional initial state

  InputPointers pointers() const;
  HeadView head(int64_t bh) const { return head_view(shape, m, pointers(), bh); }
};

struct Output {
  std::vector<double> y;      // (B, H, T, dv)
  std::vector<double> state;  // (B, H, dv, m); empty for softmax
  std::vector<double> z;      // (B, H, m) normaliser state; empty unless normalised
};

}  // namespace dfw
