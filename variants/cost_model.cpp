// The formulas of cost_model.hpp, written out once.
#include "cost_model.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace dfw {
namespace {

// FLOPs of phi on one row of dk values, as the map declares them.
double feature_flops(const Variant& v, double dk, double m) {
  if (!v.phi) return 0;
  const std::optional<double> f = v.phi->flops_per_row(dk, m);
  if (!f) throw std::invalid_argument("feature map " + v.phi->name() + " declares no cost (flops_per_row)");
  return *f + (v.sum_normalise ? 2 * m : 0);
}

// The rule's declared cost of its state update.
RuleCost rule_cost(const Variant& v) {
  const std::optional<RuleCost> c = v.rule->cost();
  if (!c) throw std::invalid_argument("rule " + v.rule->name() + " declares no cost (Rule::cost)");
  return *c;
}

// Gate values read per token.
double gate_values_per_token(const Variant& v, double dv, double m) {
  const unsigned g = v.rule->gate_inputs();
  double n = 0;
  if (g & kScalarGate) n += 1;
  if (g & kScalarBeta) n += 1;
  if (g & kDecayGates) n += dv + m;
  return n;
}

// Feature-map parameters, read once per call (all heads).
double feature_param_values(const Variant& v, double H, double dk, double m) {
  if (!v.phi) return 0;
  if (v.phi->needs_projection()) return H * (m * dk + m);
  if (v.phi->needs_omega()) return H * m * dk;
  return 0;
}

}  // namespace

int64_t dtype_bytes(const std::string& dtype) {
  if (dtype == "fp64") return 8;
  if (dtype == "fp32") return 4;
  if (dtype == "fp16" || dtype == "bf16") return 2;
  throw std::invalid_argument("unknown dtype '" + dtype + "' (fp64, fp32, fp16, bf16)");
}

Cost estimate_cost(const Variant& v, const std::string& form, Mode mode, const Shape& s, int64_t chunk,
                   const std::string& dtype) {
  if (!v.defined()) throw std::invalid_argument(v.name + ": " + v.undefined_reason);
  const double e = double(dtype_bytes(dtype));
  const double BH = double(s.B) * double(s.H), T = double(s.T), dk = double(s.dk), dv = double(s.dv);
  const bool decode = mode == Mode::decode_step;
  Cost c;

  if (!v.rule->stateful()) {
    if (decode) {
      const double n = T + 1;
      c.flops = BH * 2 * n * (dk + dv);
      c.bytes = BH * e * ((2 * dk + dv) + n * (dk + dv) + (dk + dv) + dv);
      c.state_bytes = BH * e * n * (dk + dv);
    } else {
      c.flops = BH * T * (T + 1) * (dk + dv);
      c.bytes = BH * e * T * (2 * dk + dv + dv);
      c.state_bytes = BH * e * T * (dk + dv);
    }
    return c;
  }

  const double m = double(v.m(s.dk));
  const double rows = dv + (v.normalise ? 1 : 0);
  const double phi = feature_flops(v, dk, m);
  const RuleCost u = rule_cost(v);
  const double divides = v.normalise ? dv : 0;
  const double per_token_io = 2 * dk + dv + gate_values_per_token(v, dv, m) + dv;  // q, k, v, gates in; y out
  const double params = e * feature_param_values(v, double(s.H), dk, m);
  const double state = 4 * rows * m;
  c.state_bytes = BH * state;

  if (decode) {
    c.flops = BH * (2 * phi + (u.step_flops + 2) * rows * m + divides);
    c.bytes = BH * (e * per_token_io + 2 * state) + params;
    return c;
  }

  c.bytes = BH * (e * T * per_token_io + state) + params;
  if (form == "chunked") {
    if (chunk < 1) throw std::invalid_argument("chunked form needs a chunk >= 1");
    double per_head = 0;
    for (int64_t t0 = 0; t0 < s.T; t0 += chunk) {
      const double n = double(std::min<int64_t>(chunk, s.T - t0));
      per_head += 2 * n * phi + n * (n + 1) * m + n * (n + 1) * rows + 4 * n * m * rows + u.carry_flops * rows * m +
                  n * divides;
    }
    c.flops = BH * per_head;
  } else {
    c.flops = BH * T * (2 * phi + (u.step_flops + 2) * rows * m + divides);
  }
  return c;
}

Cost estimate_backward_cost(const Variant& v, const std::string& form, const Shape& shape, int64_t chunk,
                            const std::string& dtype, bool with_forward) {
  const Cost fwd = estimate_cost(v, form, Mode::sequence, shape, chunk, dtype);
  const double flops_factor = !v.rule->stateful() ? 3.5 : form == "chunked" ? 3.0 : 4.0;
  const double dy = double(shape.B) * double(shape.H) * double(shape.T) * double(shape.dv) * double(dtype_bytes(dtype));
  Cost c;
  c.flops = flops_factor * fwd.flops + (with_forward ? fwd.flops : 0);
  c.bytes = 2 * fwd.bytes + dy + (with_forward ? fwd.bytes : 0);
  c.state_bytes = fwd.state_bytes;
  return c;
}

}  // namespace dfw
