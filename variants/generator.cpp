#include "generator.hpp"

#include <cmath>
#include <random>
#include <stdexcept>

#include <Eigen/QR>

#include "eigen_types.hpp"

namespace dfw {
namespace {

void fill_normal(std::vector<float>& out, int64_t n, std::mt19937_64& rng, float scale = 1.f) {
  std::normal_distribution<float> dist(0.f, scale);
  out.resize(n);
  for (auto& x : out) x = dist(rng);
}

// Gate values of width n per token, `count` tokens.
void fill_gates(std::vector<float>& out, int64_t count, int64_t n, GateSet set, std::mt19937_64& rng) {
  out.resize(count * n);
  const float lo = 1.f / float(std::max<int64_t>(n, 4)), hi = 1.f - lo;
  std::uniform_real_distribution<float> uni(lo, hi);
  std::uniform_real_distribution<float> near_one(0.9f, 1.f);
  std::uniform_real_distribution<float> slow(0.95f, 1.f);
  for (int64_t t = 0; t < count; ++t)
    for (int64_t i = 0; i < n; ++i) {
      float& g = out[t * n + i];
      switch (set) {
        case GateSet::uniform_init: g = uni(rng); break;
        case GateSet::ones: g = 1.f; break;
        case GateSet::tiny: g = 1e-6f; break;
        // runs of 5 tokens alternate: tiny gates, then gates near 1
        case GateSet::mixed: g = ((t / 5) % 2 == 0) ? 1e-6f : near_one(rng); break;
        case GateSet::slow: g = slow(rng); break;
      }
    }
}

void check_size(const char* name, const std::vector<float>& t, int64_t want, bool required) {
  if (t.empty() && !required && want > 0) return;
  if (int64_t(t.size()) != want)
    throw std::invalid_argument(std::string(name) + ": has " + std::to_string(t.size()) + " values, expected " +
                                std::to_string(want));
}

void check_finite(const char* name, const std::vector<float>& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(t[i]))
      throw std::invalid_argument(std::string(name) + ": non-finite value at flat index " + std::to_string(i));
}

void check_gate_range(const char* name, const std::vector<float>& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!(t[i] > 0.f && t[i] <= 1.f))
      throw std::invalid_argument(std::string(name) + ": gate value " + std::to_string(t[i]) + " at flat index " +
                                  std::to_string(i) + " is outside (0, 1]");
}

}  // namespace

const char* gate_set_name(GateSet g) {
  switch (g) {
    case GateSet::uniform_init: return "uniform";
    case GateSet::ones: return "ones";
    case GateSet::tiny: return "tiny";
    case GateSet::mixed: return "mixed";
    case GateSet::slow: return "slow";
  }
  return "?";
}

GateSet parse_gate_set(const std::string& name) {
  for (GateSet g : {GateSet::uniform_init, GateSet::ones, GateSet::tiny, GateSet::mixed, GateSet::slow})
    if (name == gate_set_name(g)) return g;
  throw std::invalid_argument("unknown gate set '" + name + "' (uniform, ones, tiny, mixed, slow)");
}

Problem generate_problem(const Variant& variant, const Shape& shape, const GeneratorOptions& opts) {
  if (!variant.defined()) throw std::invalid_argument(variant.name + ": " + variant.undefined_reason);
  const int64_t m = variant.m(shape.dk);
  validate_shape(shape, m);
  Problem p;
  p.shape = shape;
  p.m = m;
  std::mt19937_64 rng(opts.seed);
  const int64_t BH = shape.B * shape.H, T = shape.T;
  fill_normal(p.q, BH * T * shape.dk, rng);
  fill_normal(p.k, BH * T * shape.dk, rng);
  fill_normal(p.v, BH * T * shape.dv, rng);
  const Rule& rule = *variant.rule;
  if (rule.needs_bounded_keys() && !variant.sum_normalise) {
    // identity map: the inputs carry |k_t| <= 1 (L2-normalised, as DeltaNet does).
    MatMap<float> k(p.k.data(), BH * T, shape.dk);
    k.rowwise().normalize();
  }
  const unsigned gates = rule.gate_inputs();
  if (gates & kScalarGate) fill_gates(p.gate, BH * T, 1, opts.gates, rng);
  if (gates & kScalarBeta) fill_gates(p.beta, BH * T, 1, opts.gates, rng);
  if (gates & kDecayGates) {
    fill_gates(p.gate_v, BH * T, shape.dv, opts.gates, rng);
    fill_gates(p.gate_k, BH * T, m, opts.gates, rng);
  }
  if (variant.phi && variant.phi->needs_projection()) {
    fill_normal(p.w, shape.H * m * shape.dk, rng, 1.f / std::sqrt(float(shape.dk)));
    fill_normal(p.b, shape.H * m, rng, 0.1f);
  }
  if (variant.phi && variant.phi->needs_omega()) {
    // Orthogonal blocks of dk rows (QR of a Gaussian), rows rescaled by chi(dk) norms.
    p.omega.resize(shape.H * m * shape.dk);
    std::normal_distribution<double> nd(0.0, 1.0);
    for (int64_t h = 0; h < shape.H; ++h)
      for (int64_t r0 = 0; r0 < m; r0 += shape.dk) {
        RowMat<double> g(shape.dk, shape.dk);
        for (int64_t i = 0; i < g.size(); ++i) g.data()[i] = nd(rng);
        Eigen::HouseholderQR<RowMat<double>> qr(g);
        RowMat<double> q = qr.householderQ();
        for (int64_t r = r0; r < std::min(m, r0 + shape.dk); ++r) {
          double chi = 0;
          for (int64_t i = 0; i < shape.dk; ++i) {
            const double x = nd(rng);
            chi += x * x;
          }
          for (int64_t i = 0; i < shape.dk; ++i)
            p.omega[(h * m + r) * shape.dk + i] = float(q(r - r0, i) * std::sqrt(chi));
        }
      }
  }
  if (opts.with_initial_state) fill_normal(p.s0, BH * shape.dv * m, rng, 0.1f);
  return p;
}

void validate_problem(const Variant& variant, const Problem& p) {
  const Shape& s = p.shape;
  validate_shape(s, p.m);
  const int64_t BH = s.B * s.H;
  check_size("q", p.q, BH * s.T * s.dk, true);
  check_size("k", p.k, BH * s.T * s.dk, true);
  check_size("v", p.v, BH * s.T * s.dv, true);
  const unsigned gates = variant.rule->gate_inputs();
  if (gates & kScalarGate) check_size("gate", p.gate, BH * s.T, true);
  if (gates & kScalarBeta) check_size("beta", p.beta, BH * s.T, true);
  if (gates & kDecayGates) {
    check_size("gate_v", p.gate_v, BH * s.T * s.dv, true);
    check_size("gate_k", p.gate_k, BH * s.T * p.m, true);
  }
  if (variant.phi && variant.phi->needs_projection()) {
    check_size("w", p.w, s.H * p.m * s.dk, true);
    check_size("b", p.b, s.H * p.m, true);
  }
  if (variant.phi && variant.phi->needs_omega()) check_size("omega", p.omega, s.H * p.m * s.dk, true);
  if (!p.s0.empty()) {
    if (!variant.rule->stateful()) throw std::invalid_argument("s0: softmax has no state");
    check_size("s0", p.s0, BH * s.dv * p.m, false);
  }
  const std::pair<const char*, const std::vector<float>*> all[] = {
      {"q", &p.q}, {"k", &p.k}, {"v", &p.v}, {"gate", &p.gate}, {"beta", &p.beta}, {"gate_v", &p.gate_v},
      {"gate_k", &p.gate_k}, {"w", &p.w}, {"b", &p.b}, {"omega", &p.omega}, {"s0", &p.s0}};
  for (const auto& [name, t] : all) check_finite(name, *t);
  check_gate_range("gate", p.gate);
  check_gate_range("beta", p.beta);
  check_gate_range("gate_v", p.gate_v);
  check_gate_range("gate_k", p.gate_k);
  if (variant.rule->needs_bounded_keys() && !variant.sum_normalise) {
    ConstMatMap<float> k(p.k.data(), BH * s.T, s.dk);
    for (int64_t i = 0; i < k.rows(); ++i)
      if (k.row(i).norm() > 1.f + 1e-4f)
        throw std::invalid_argument("k: row " + std::to_string(i) + " has |k| = " + std::to_string(k.row(i).norm()) +
                                    " > 1; delta with the identity map needs L2-bounded keys (docs/MATH.md)");
  }
}

std::vector<float> generate_dy(const Problem& p, uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  std::normal_distribution<float> normal;
  std::vector<float> dy(p.v.size());
  for (float& x : dy) x = normal(rng);
  return dy;
}

}  // namespace dfw
