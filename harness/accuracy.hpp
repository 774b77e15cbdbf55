// Comparison of a form's output against the float64 reference (docs/MATH.md "Accuracy").
#pragma once

#include <string>
#include <vector>

#include "backward_impl.hpp"
#include "problem.hpp"
#include "variant.hpp"

namespace dfw {

struct ErrorStats {
  double rel_l2 = 0;   // |x - ref|_2 / |ref|_2 (absolute when |ref| = 0)
  double max_abs = 0;  // max |x - ref| / max |ref| (absolute when max |ref| = 0)
  bool finite = true;  // no NaN or Inf in x
};

ErrorStats compare(const std::vector<double>& x, const std::vector<double>& ref);

// Worst of y, state and z.
struct CaseErrors {
  ErrorStats y, state;
  double worst_rel_l2() const;
  bool finite() const { return y.finite && state.finite; }
};
CaseErrors compare_outputs(const Output& x, const Output& ref);

// A backward form's gradients against the reference's, each tensor's errors divided
// by its own factor (ref.normaliser_conditioning for q, k, w, b, ref.gate_conditioning
// for gate; 1 for the rest):
// the worst scaled relative L2 and max-abs, and the tensor with the worst relative L2.
struct GradientErrors {
  ErrorStats worst;           // scaled: compare with the dtype's limits
  std::string worst_tensor;
  double worst_factor = 1;    // the factor of worst_tensor
  bool same_tensors = true;   // the form returned exactly the reference's tensors
};
GradientErrors compare_gradients(const Gradients& x, const Gradients& ref);

// check's verdict: finite, and y's relative L2 and max-abs and the state's relative
// L2 within the dtype's limits times `factor` (Variant::tolerance_factor()).
bool within_limits(const CaseErrors& e, const std::string& dtype, double factor);

// docs/MATH.md's default relative L2 limits per dtype; max-abs limit is 10x that.
double rel_l2_limit(const std::string& dtype);
double max_abs_limit(const std::string& dtype);

// Empty when outputs in `dtype` can hold the reference's y; otherwise why not: fp16's
// largest finite value is 65504 and its normal numbers start at 2^-14, so a reference
// past the first, or wholly below the second but not zero (every output a subnormal
// with a few bits), is beyond any fp16 form whatever its kernel does.
std::string dtype_range_problem(const std::string& dtype, const std::vector<double>& ref_y);

// `p` with q, k and v rounded to `dtype` (fp32: unchanged), as a form with that input
// dtype receives them (gates, feature parameters and s0 stay fp32 in every form).
Problem with_qkv_rounded_to(const Problem& p, const std::string& dtype);

// True when `v`'s rows in `dtype` compare with the reference of with_qkv_rounded_to:
// a signed map's normaliser (Variant::tolerance_reason) amplifies the half-precision
// rounding of q and k, which is the inputs' error, not the form's (docs/MATH.md).
bool compares_on_rounded_inputs(const Variant& v, const std::string& dtype);

}  // namespace dfw
