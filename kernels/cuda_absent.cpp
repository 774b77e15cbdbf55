// Built when no CUDA compiler was found: the CUDA forms are absent from the list,
// and the device queries say why.
#include <memory>
#include <stdexcept>
#include <vector>

#include "cuda_ceilings.hpp"
#include "backward_impl.hpp"
#include "impl.hpp"

namespace dfw {

void append_cuda_impls(std::vector<std::unique_ptr<Impl>>&) {}

void append_cuda_backward_impls(std::vector<std::unique_ptr<BackwardImpl>>&) {}

std::string cuda_unavailable_reason() { return "dfwbench was built without a CUDA compiler"; }

bool cuda_device_emulated() { return false; }

CudaDeviceInfo cuda_device_info() { throw std::runtime_error("CUDA: " + cuda_unavailable_reason()); }

int64_t cuda_device_free_bytes() { throw std::runtime_error("CUDA: " + cuda_unavailable_reason()); }

CudaCeilings measure_gpu_ceilings() { throw std::runtime_error("CUDA: " + cuda_unavailable_reason()); }

}  // namespace dfw
