// Built when no CUDA compiler was found: the CUDA forms are absent from the list.
#include <memory>
#include <vector>

#include "impl.hpp"

namespace dfw {

void append_cuda_impls(std::vector<std::unique_ptr<Impl>>&) {}

std::string cuda_unavailable_reason() { return "dfwbench was built without a CUDA compiler"; }

}  // namespace dfw
