// chunked/cuda: the gated-linear family (add, gated, decay) over whole sequences,
// chunkwise on tensor cores (kernels/chunked_prefill_kernel.cu), fp16 and bf16.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "impl.hpp"

namespace dfw {

// Empty when chunked/cuda computes this variant in this mode, else why not.
std::string chunked_prefill_unsupported_reason(const Variant& v, Mode mode);

// The case ready to run: inputs on the device, the y (B, H, T, dv) and state
// (B, H, rows, m) outputs; its Prepared derives CudaPrepared. dtype: fp16 or bf16.
// Throws std::invalid_argument for an unsupported variant or dtype, or sizes the
// kernel does not take (shared memory per block over the device's limit).
std::unique_ptr<Prepared> make_chunked_prefill_cuda(const Variant& v, const Problem& p, int64_t chunk,
                                                    const std::string& dtype);

}  // namespace dfw
