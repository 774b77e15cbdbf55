#include "accuracy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "half_convert.hpp"

namespace dfw {

ErrorStats compare(const std::vector<double>& x, const std::vector<double>& ref) {
  ErrorStats e;
  if (x.size() != ref.size()) {
    e.finite = false;
    e.rel_l2 = e.max_abs = INFINITY;
    return e;
  }
  double diff2 = 0, ref2 = 0, maxdiff = 0, maxref = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) e.finite = false;
    const double d = x[i] - ref[i];
    diff2 += d * d;
    ref2 += ref[i] * ref[i];
    maxdiff = std::max(maxdiff, std::abs(d));
    maxref = std::max(maxref, std::abs(ref[i]));
  }
  e.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  e.max_abs = maxref > 0 ? maxdiff / maxref : maxdiff;
  if (!e.finite) e.rel_l2 = e.max_abs = INFINITY;
  return e;
}

GradientErrors compare_gradients(const Gradients& x, const Gradients& ref) {
  GradientErrors g;
  const auto xs = x.tensors(), refs = ref.tensors();
  if (xs.size() != refs.size()) g.same_tensors = false;
  for (std::size_t i = 0; i < refs.size() && g.same_tensors; ++i) {
    if (xs[i].first != refs[i].first) {
      g.same_tensors = false;
      break;
    }
    const std::string& name = refs[i].first;
    const double factor = name == "q" || name == "k" || name == "w" || name == "b" ? ref.normaliser_conditioning
                          : name == "gate"                                         ? ref.gate_conditioning
                                                                                   : 1.0;
    const ErrorStats e = compare(*xs[i].second, *refs[i].second);
    if (!e.finite) g.worst.finite = false;
    if (g.worst_tensor.empty() || e.rel_l2 / factor > g.worst.rel_l2) {
      g.worst.rel_l2 = e.rel_l2 / factor;
      g.worst_tensor = name;
      g.worst_factor = factor;
    }
    g.worst.max_abs = std::max(g.worst.max_abs, e.max_abs / factor);
  }
  if (!g.same_tensors) {
    g.worst.finite = false;
    g.worst.rel_l2 = g.worst.max_abs = INFINITY;
  }
  return g;
}

double CaseErrors::worst_rel_l2() const { return std::max(y.rel_l2, state.rel_l2); }

CaseErrors compare_outputs(const Output& x, const Output& ref) {
  CaseErrors c;
  c.y = compare(x.y, ref.y);
  // The state and normaliser compare as one tensor.
  std::vector<double> xs = x.state, rs = ref.state;
  xs.insert(xs.end(), x.z.begin(), x.z.end());
  rs.insert(rs.end(), ref.z.begin(), ref.z.end());
  c.state = compare(xs, rs);
  return c;
}

double rel_l2_limit(const std::string& dtype) {
  if (dtype == "fp64" || dtype == "fp32") return 1e-4;
  if (dtype == "fp16") return 5e-3;
  if (dtype == "bf16") return 2e-2;
  throw std::invalid_argument("unknown dtype '" + dtype + "'");
}

double max_abs_limit(const std::string& dtype) { return 10 * rel_l2_limit(dtype); }

bool within_limits(const CaseErrors& e, const std::string& dtype, double factor) {
  return e.finite() && e.y.rel_l2 <= factor * rel_l2_limit(dtype) && e.state.rel_l2 <= factor * rel_l2_limit(dtype) &&
         e.y.max_abs <= factor * max_abs_limit(dtype);
}

std::string dtype_range_problem(const std::string& dtype, const std::vector<double>& ref_y) {
  if (dtype != "fp16" || ref_y.empty()) return "";
  double peak = 0;
  for (double y : ref_y) peak = std::max(peak, std::fabs(y));
  char buf[128];
  if (peak > 65504) {
    std::snprintf(buf, sizeof buf, "max |y| = %.3g is past fp16's largest value (65504)", peak);
    return buf;
  }
  if (peak > 0 && peak < 0x1p-14) {  // an all-zero y is exact in fp16
    std::snprintf(buf, sizeof buf, "max |y| = %.3g is below fp16's normal range (2^-14)", peak);
    return buf;
  }
  return "";
}

namespace {

template <class T>
void round_through(std::vector<float>& x) {
  for (float& e : x) e = to_float(from_float<T>(e));
}

}  // namespace

Problem with_qkv_rounded_to(const Problem& p, const std::string& dtype) {
  if (dtype == "fp32" || dtype == "fp64") return p;
  Problem r = p;
  for (std::vector<float>* x : {&r.q, &r.k, &r.v}) {
    if (dtype == "fp16") round_through<Fp16>(*x);
    else if (dtype == "bf16") round_through<Bf16>(*x);
    else throw std::invalid_argument("unknown dtype '" + dtype + "'");
  }
  return r;
}

bool compares_on_rounded_inputs(const Variant& v, const std::string& dtype) {
  return (dtype == "fp16" || dtype == "bf16") && !v.tolerance_reason().empty();
}

}  // namespace dfw
