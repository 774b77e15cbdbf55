// An update rule (docs/MATH.md "Update rules"): how the fast-weight state changes per token.
// Adding one: write a class deriving RuleOf<YourRule> in rules/, with the metadata
// below and  template <class R> static void step(S, rows, m, fk, v, gates),
// then add one line to the list in registry.cpp. The float64 reference, the fp32
// recurrent form and the decode step then come for free; a rule that can be
// written as S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T also says so through
// gated_linear_factors() and gets the chunked form.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace dfw {

// Which gate tensors a rule reads (docs/MATH.md shapes per (b, h, t)).
enum GateInputs : unsigned {
  kNoGates = 0,
  kScalarGate = 1u << 0,  // gate   (B, H, T)       gated: g_t in (0, 1]
  kScalarBeta = 1u << 1,  // beta   (B, H, T)       delta: beta_t in (0, 1]
  kDecayGates = 1u << 2,  // gate_v (B, H, T, dv), gate_k (B, H, T, m)   decay
};

// The gates of one token; fields a rule does not read stay at their defaults.
template <class R>
struct TokenGates {
  R g = R(1);              // scalar gate (gated)
  R beta = R(1);           // scalar write strength (delta)
  const R* a = nullptr;    // (dv) value-side gate alpha_t (decay)
  const R* b = nullptr;    // (m)  key-side gate beta_t (decay)
};

class Rule {
 public:
  virtual ~Rule() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual bool stateful() const { return true; }          // false: softmax (KV cache)
  virtual bool supports_normalisation() const = 0;        // z-normalised output defined
  virtual bool needs_bounded_keys() const { return false; }  // delta: |phi(k)| <= 1
  virtual unsigned gate_inputs() const = 0;

  // One token: update S (rows, m) in place. rows = dv, or dv + 1 when the output is
  // normalised: the last row is z and v[dv] = 1 (z follows the same rule with v = 1).
  virtual void step(double* S, int64_t rows, int64_t m, const double* fk, const double* v,
                    const TokenGates<double>& g) const = 0;
  virtual void step(float* S, int64_t rows, int64_t m, const float* fk, const float* v,
                    const TokenGates<float>& g) const = 0;

  // Gated-linear family: S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T.
  // Fills the gate values a_t (rows) and b_t (m), in (0, 1], and returns c_t.
  // Only called when is_gated_linear().
  virtual bool is_gated_linear() const { return false; }
  // True only when every a_t, b_t is 1 and c_t is 1 (add): the chunked form then
  // skips the decay factors. The default keeps a new rule on the general path.
  virtual bool gates_are_ones() const { return false; }
  // True only when a_t is the gate_v row, b_t the gate_k row exactly as given, and
  // c_t is 1 (decay): the chunked form may then read the gate rows in place
  // instead of asking gated_linear_factors() token by token.
  virtual bool factors_are_gate_rows() const { return false; }
  virtual float gated_linear_factors(const TokenGates<float>& g, int64_t rows, int64_t m, float* a, float* b) const {
    return 0.f;
  }
};

// Implements both precisions of step() from one template in the derived rule.
template <class Derived>
class RuleOf : public Rule {
 public:
  void step(double* S, int64_t rows, int64_t m, const double* fk, const double* v,
            const TokenGates<double>& g) const override {
    Derived::step_impl(S, rows, m, fk, v, g);
  }
  void step(float* S, int64_t rows, int64_t m, const float* fk, const float* v,
            const TokenGates<float>& g) const override {
    Derived::step_impl(S, rows, m, fk, v, g);
  }
};

std::unique_ptr<Rule> make_softmax_rule();
std::unique_ptr<Rule> make_add_rule();
std::unique_ptr<Rule> make_gated_rule();
std::unique_ptr<Rule> make_delta_rule();
std::unique_ptr<Rule> make_decay_rule();

}  // namespace dfw
