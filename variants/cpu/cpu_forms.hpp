// Internal: pieces of the CPU forms shared between their files.
#pragma once

#include <memory>

#include "../impl.hpp"

namespace dfw {

// softmax against a KV cache (decode/cpu/fp32 for the softmax rule).
std::unique_ptr<Prepared> make_softmax_decode_cpu(const Problem& p, Mode mode);

}  // namespace dfw
