// Launch of the fused recurrent backward of the stateful rules (form "recurrent",
// fp32) on the used features phi(q), phi(k): the state's reverse-time walk from
// checkpoints kept every C tokens, giving dphi(q), dphi(k), dv, the gate-input
// gradients and ds0 (docs/MATH.md "Gradients"). Two rule families:
//   factor:  S_t = (a b^T) * S_{t-1} + c v phi(k)^T, each of a (rows), b (m), c taken
//            from the gate inputs by the rule's FactorForm (add, gated, decay,
//            scalar_decay);
//   delta:   S_t = S_{t-1} + beta (v - S_{t-1} phi(k)) phi(k)^T.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "dfw_hd.hpp"

namespace dfw {

// A factor of the gated-linear family as the kernel reads it (variant.hpp's Factor
// without `computed`, which no kernel takes).
enum class GateFactor : int { one, gate, one_minus_gate, gate_rows };

// A scalar factor's value from the token's gate g (1 for one; gate_rows has no scalar
// value: the kernels read its rows).
DFW_HD float scalar_factor(GateFactor f, float g) {
  return f == GateFactor::gate ? g : f == GateFactor::one_minus_gate ? 1.f - g : 1.f;
}

struct RecurrentBackwardLaunch {
  bool delta = false;                 // the delta rule; otherwise the factor family
  GateFactor a = GateFactor::one, b = GateFactor::one, c = GateFactor::one;
  bool normalise = false;             // y = S phi(q) / (z . phi(q) + norm_eps); z is state row dv
  float norm_eps = 1e-6f;
  int64_t BH = 0, T = 0;
  int dv = 0, m = 0;
  int every = 1;                      // checkpoint length C
  const float *fq = nullptr, *fk = nullptr;  // (BH, T, m) the features the rule uses
  const float* v = nullptr;                  // (BH, T, dv)
  const float* dy = nullptr;                 // (BH, T, dv)
  const float* gate = nullptr;               // (BH, T)      scalar factors
  const float* beta = nullptr;               // (BH, T)      delta
  const float* gate_v = nullptr;             // (BH, T, dv)  a = gate_rows
  const float* gate_k = nullptr;             // (BH, T, m)   b = gate_rows
  const float* s0 = nullptr;                 // (BH, dv, m) or nullptr (zero)
  // Workspace, recurrent_backward_workspace_floats() (recurrent_backward_sizes.hpp) in
  // all, and the gradients; the accumulated ones (*) must be zero before the launch
  // (launch_recurrent_backward does).
  float* work = nullptr;
  float *dfq = nullptr, *dfk = nullptr;      // (BH, T, m) *
  float* db = nullptr;                       // (BH, T, m) * dL/db_t; nullptr when b = one
  float* sum_da = nullptr;                   // (BH, T) * sum over rows of dL/da_t
  float* dc = nullptr;                       // (BH, T) * dL/dc_t
  float* dbeta = nullptr;                    // (BH, T) * delta
  float* dyn = nullptr;                      // (BH, T) * normalised: dy_t . S_t phi(q_t)
  float* den = nullptr;                      // (BH, T) normalised: z_t . phi(q_t) + norm_eps
  float* dv_out = nullptr;                   // (BH, T, dv)
  float* dgate_v = nullptr;                  // (BH, T, dv) a = gate_rows: dL/da_t
  float* dgate = nullptr;                    // (BH, T) a scalar gate's gradient, or nullptr
  float* ds0 = nullptr;                      // (BH, dv, m) or nullptr
};

// Largest feature width the kernels hold in registers (32 lanes x 16 columns).
constexpr int kRecurrentBackwardMaxM = 512;

// Zeroes the accumulated gradients, then launches: the forward walk writing the
// checkpoints (and dy . y when normalised), the reverse walk, and the scalar gate's
// gradient from sum_da, db and dc. Throws std::invalid_argument for sizes it does not take.
void launch_recurrent_backward(const RecurrentBackwardLaunch& a, cudaStream_t stream);

// A scalar gate's gradient (a.dgate) from the walk's sum_da, db and dc by the factor
// form's signs; nothing when a.dgate is nullptr. The chunked backward
// (chunked_backward_kernel.cuh) ends with it too.
void launch_gate_gradient(const RecurrentBackwardLaunch& a, cudaStream_t stream);

}  // namespace dfw
