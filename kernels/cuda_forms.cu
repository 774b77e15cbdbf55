// Placeholder until the CUDA forms land: registers none.
#include <memory>
#include <vector>

#include "impl.hpp"

namespace dfw {

void append_cuda_impls(std::vector<std::unique_ptr<Impl>>&) {}

std::string cuda_unavailable_reason() { return "CUDA forms not implemented yet"; }

}  // namespace dfw
