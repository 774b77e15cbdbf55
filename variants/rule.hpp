// An update rule (docs/MATH.md "Update rules"): how the fast-weight state changes per token.
// Adding one is one new file in rules/ and no edit anywhere else (README "Adding a variant"):
//   1. a class deriving RuleOf<YourRule> with the metadata below, cost(), and
//      template <class R> static void step_impl(S, rows, m, fk, v, gates);
//   2. one registrar line:  const RegisterRule<YourRule> kRegistered;  (registry.hpp).
// CMake compiles every .cpp in rules/. The fp32 recurrent form and the decode step
// (and, outside the gated-linear family, the float64 reference) come from
// step_impl; a rule that can be written as
// S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T also says so through
// is_gated_linear() and gated_linear_factors() and gets the chunked form, a float64
// reference built from those factors (not from its step), and the CUDA forms whose
// kernels take its factor_form().
// Backward (docs/MATH.md "Gradients"): a gated-linear rule whose factor_form() is
// not Factor::computed gets its gradient from the factors; any other rule adds
//   template <class R> static void step_vjp_impl(S_prev, rows, m, fk, v, gates, dS, dS_prev, dfk, dv, dgates);
// or its backward forms are UNSUPPORTED with that reason.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace dfw {

// Which gate tensors a rule reads (docs/MATH.md shapes per (b, h, t)).
enum GateInputs : unsigned {
  kNoGates = 0,
  kScalarGate = 1u << 0,  // gate   (B, H, T)       gated, scalar_decay: g_t in (0, 1]
  kScalarBeta = 1u << 1,  // beta   (B, H, T)       delta: beta_t in (0, 1]
  kDecayGates = 1u << 2,  // gate_v (B, H, T, dv), gate_k (B, H, T, m)   decay
};

// The gates of one token; fields a rule does not read stay at their defaults.
template <class R>
struct TokenGates {
  R g = R(1);              // scalar gate (gated, scalar_decay)
  R beta = R(1);           // scalar write strength (delta)
  const R* a = nullptr;    // (dv) value-side gate alpha_t (decay)
  const R* b = nullptr;    // (m)  key-side gate beta_t (decay)
};

// The gradients of one token's gate inputs; a rule writes the fields it reads.
template <class R>
struct GateGrads {
  R g = R(0);          // scalar gate
  R beta = R(0);       // scalar write strength
  R* a = nullptr;      // (dv) value-side gate, written
  R* b = nullptr;      // (m)  key-side gate, written
};

// How a gated-linear rule makes each factor from a token's gate inputs, for forms
// that compute the factors themselves (the CUDA kernels are chosen by it; the CPU
// chunked form skips the gates or reads them in place). computed: only
// gated_linear_factors() knows.
enum class Factor { one, gate, one_minus_gate, gate_rows, computed };
struct FactorForm {
  Factor a = Factor::computed;  // (rows) value side: 1, g_t, or the gate_v row
  Factor b = Factor::computed;  // (m) key side: 1, or the gate_k row
  Factor c = Factor::computed;  // write scale: 1, or 1 - g_t
};

// The cost of a rule's state update (variants/cost_model.hpp), FLOPs per state
// element: step, one token (recurrent and decode forms); carry, decaying the
// carried state once per chunk (chunked form). Bytes come from gate_inputs().
struct RuleCost {
  double step_flops = 0;
  double carry_flops = 0;
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
  // Empty: no cost declared, and cost_model refuses the variant (no silent default).
  // Only stateful rules are asked (softmax's cost is its own, in cost_model.cpp).
  virtual std::optional<RuleCost> cost() const { return std::nullopt; }

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
  virtual float gated_linear_factors(const TokenGates<float>& g, int64_t rows, int64_t m, float* a, float* b) const {
    return 0.f;
  }
  // How those factors come from the gate inputs; the default keeps a new rule on
  // the general paths (computed token by token).
  virtual FactorForm factor_form() const { return {}; }
  // Every a_t, b_t and c_t is 1 (add): the chunked form skips the decay factors.
  bool gates_are_ones() const {
    const FactorForm f = factor_form();
    return f.a == Factor::one && f.b == Factor::one && f.c == Factor::one;
  }
  // a_t is the gate_v row, b_t the gate_k row as given, c_t is 1 (decay): the
  // chunked form may read the gate rows in place.
  bool factors_are_gate_rows() const {
    const FactorForm f = factor_form();
    return f.a == Factor::gate_rows && f.b == Factor::gate_rows && f.c == Factor::one;
  }

  // Backward of one step, for rules outside the factor path: given S_{t-1} (rows, m)
  // and dS = dL/dS_t, write dS_prev = dL/dS_{t-1}, dfk (m), dv (rows) and the gate
  // gradients.
  virtual bool has_step_vjp() const { return false; }
  virtual void step_vjp(const double* S_prev, int64_t rows, int64_t m, const double* fk, const double* v,
                        const TokenGates<double>& g, const double* dS, double* dS_prev, double* dfk, double* dv,
                        GateGrads<double>& dg) const = 0;
  virtual void step_vjp(const float* S_prev, int64_t rows, int64_t m, const float* fk, const float* v,
                        const TokenGates<float>& g, const float* dS, float* dS_prev, float* dfk, float* dv,
                        GateGrads<float>& dg) const = 0;
};

template <class D, class = void>
struct RuleHasStepVjp : std::false_type {};
template <class D>
struct RuleHasStepVjp<D, std::void_t<decltype(&D::template step_vjp_impl<double>)>> : std::true_type {};

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
  bool has_step_vjp() const override { return RuleHasStepVjp<Derived>::value; }
  void step_vjp(const double* S_prev, int64_t rows, int64_t m, const double* fk, const double* v,
                const TokenGates<double>& g, const double* dS, double* dS_prev, double* dfk, double* dv,
                GateGrads<double>& dg) const override {
    step_vjp_of(S_prev, rows, m, fk, v, g, dS, dS_prev, dfk, dv, dg);
  }
  void step_vjp(const float* S_prev, int64_t rows, int64_t m, const float* fk, const float* v,
                const TokenGates<float>& g, const float* dS, float* dS_prev, float* dfk, float* dv,
                GateGrads<float>& dg) const override {
    step_vjp_of(S_prev, rows, m, fk, v, g, dS, dS_prev, dfk, dv, dg);
  }

 private:
  template <class R>
  void step_vjp_of(const R* S_prev, int64_t rows, int64_t m, const R* fk, const R* v, const TokenGates<R>& g,
                   const R* dS, R* dS_prev, R* dfk, R* dv, GateGrads<R>& dg) const {
    if constexpr (RuleHasStepVjp<Derived>::value)
      Derived::step_vjp_impl(S_prev, rows, m, fk, v, g, dS, dS_prev, dfk, dv, dg);
    else
      throw std::logic_error("rule " + name() + " declares no step_vjp");
  }
};

}  // namespace dfw
