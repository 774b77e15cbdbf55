// Launch of the chunked backward of the gated-linear family (form "chunked", fp32) on
// the used features phi(q), phi(k): S_t = (a_t b_t^T) * S_{t-1} + c_t v_t phi(k_t)^T,
// y_t = S_t phi(q_t) [/ (z_t . phi(q_t) + eps)], parallel over chunks of C <= 16
// tokens (docs/MATH.md "The chunked backward"). It fills the same outputs as the
// recurrent walk (recurrent_backward_kernel.cuh), so the form around it is shared.
#pragma once

#include <cuda_runtime.h>

#include "recurrent_backward_kernel.cuh"

namespace dfw {

// a.delta must be false; a.every is the chunk length C (chunked_backward_chunk,
// chunked_backward_sizes.hpp); a.work holds chunked_backward_work(...).floats floats.
// Every token's dfq, dfk, db, sum_da, dc, dv_out and dgate_v are written (nothing need
// be zeroed first), ds0 when given, then the scalar gate's gradient. a.dyn and a.den
// are not used. Throws std::invalid_argument for sizes it does not take,
// std::runtime_error when the device's shared memory is too small for the layout.
void launch_chunked_backward(const RecurrentBackwardLaunch& a, cudaStream_t stream);

}  // namespace dfw
