// Analytic cost of one case: floating-point operations, compulsory bytes moved and
// the size of the carried state (fast-weight state or KV cache), so every timing
// also reads as GFLOP/s and GB/s against the machine's measured ceilings
// (the flash-attention flops() / ggml op_flops habit).
//
// Symbols (per batch element and head, B*H of them): dk, dv, m; rows = dv + 1 when
// the output is normalised (z rides as an extra state row), else dv; e = bytes per
// element of the dtype (fp32 4, fp16/bf16 2, fp64 8); the state is always fp32 (4 B).
// T is the sequence length (sequence mode) or the context length (decode step).
//
// FLOPs (a multiply and an add each count 1; exp, log, divide count 1; nothing for
// loads, copies or comparisons):
//   phi(x) per row:   the map's flops_per_row() (identity 0; elu1 m; dpfp 2dk + m;
//                     relu_proj 2m dk + 2m; favor 2m dk + 3dk + 3m); sum-normalised maps + 2m
//   rule update per state element: the rule's cost(), step u (add 2, gated 3,
//                     scalar_decay 3, delta 4 (S phi(k) and the rank-1 write), decay 4
//                     ((alpha_i beta_j) S_ij + v_i k_j)) and carry (add 0, gated 1,
//                     scalar_decay 1, decay 2: decaying the carried state per chunk).
//                     A rule or map that declares no cost is refused, never guessed.
//   output:           2 rows m (S phi(q)); normalised outputs add dv divides per
//                     token in every stateful form
//   recurrent / decode step, per token: 2 phi + (u + 2) rows m (+ dv)
//   chunked, per chunk of c tokens (the last chunk may be short):
//                     2c phi + c(c+1) m (causal scores, diagonal included)
//                     + c(c+1) rows (scores x values) + 2c m rows (queries x incoming
//                     state) + 2c m rows (state update K^T V) + carry rows m
//                     (decaying the carried state); elementwise gate scaling inside
//                     the chunk is not counted
//   softmax, sequence: T(T+1)(dk + dv) (causal pairs, diagonal included: q.k and
//                     p v); the softmax itself (max, exp, sum) is not counted
//   softmax, decode:  n = T + 1 cached tokens: 2n(dk + dv)
//
// Bytes (compulsory traffic: every tensor read or written once):
//   sequence, stateful: e T (2dk + dv + g + dv) + 4 rows m (final state written)
//   decode, stateful:   e (2dk + dv + g + dv) + 2 * 4 rows m (state read and written)
//   sequence, softmax:  e T (2dk + dv + dv)
//   decode, softmax:    e [(2dk + dv) (new token) + (T + 1)(dk + dv) (cache read)
//                       + (dk + dv) (new k, v appended) + dv (output)]
//   g = gate values per token, from the rule's gate_inputs(): the scalar gate 1 (gated,
//   scalar_decay), beta 1 (delta), the gate rows dv + m (decay), none 0 (add).
//   Feature-map parameters add e H (m dk + m) (relu_proj) or e H m dk (favor), once.
//
// State bytes (what a next token needs): stateful 4 B H rows m; softmax the KV
// cache, e B H n (dk + dv) with n = T + 1 (decode) or T (after a sequence).
#pragma once

#include <cstdint>
#include <string>

#include "impl.hpp"
#include "shape.hpp"
#include "variant.hpp"

namespace dfw {

struct Cost {
  double flops = 0;        // floating-point operations of one run
  double bytes = 0;        // compulsory bytes read + written by one run
  double state_bytes = 0;  // carried state or KV cache
};

// Bytes per element of a dtype name (fp64, fp32, fp16, bf16); throws
// std::invalid_argument for anything else.
int64_t dtype_bytes(const std::string& dtype);

// form: recurrent | chunked | blocked | decode | reference (reference counts as
// recurrent / softmax pairs). shape.T as described above. chunk is read by the
// chunked form only. Throws std::invalid_argument for an undefined variant or a
// chunk < 1 with the chunked form, or a rule or map that declares no cost.
Cost estimate_cost(const Variant& v, const std::string& form, Mode mode, const Shape& shape, int64_t chunk,
                   const std::string& dtype);

// A backward form's run over the whole sequence (docs/MATH.md section 9), from the
// forward's cost of the same form: recurrent runs the step twice (its forward pass
// and each checkpointed chunk's recompute) and the step's VJP costs about two steps:
// 4x the FLOPs; chunked recomputes one of the forward's two state-sized products per
// chunk (the state at its start) and adds five (the incoming state's outputs, dq, dk,
// dv, the state's gradient), with about three times the forward's work on the pairs
// inside a chunk: 3x; blocked softmax recomputes the forward's two products per tile and
// adds five (P, dv, dP, dq, dk: FlashAttention-2's count): 3.5x. Bytes: the
// inputs read twice, dy read, one gradient per input written (2x the forward's
// plus dy). with_forward: the forward form's run added (bench --pass fwdbwd).
Cost estimate_backward_cost(const Variant& v, const std::string& form, const Shape& shape, int64_t chunk,
                            const std::string& dtype, bool with_forward);

}  // namespace dfw
