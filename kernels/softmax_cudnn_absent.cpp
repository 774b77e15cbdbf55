// The cudnn form where it cannot be built (no cuDNN headers or frontend at configure
// time, or the emulated device): every case is UNSUPPORTED with the reason CMake gave
// (DFW_CUDNN_ABSENT_REASON).
#include <stdexcept>

#include "cuda_forms.hpp"

namespace dfw {

std::string cudnn_unavailable_reason() { return DFW_CUDNN_ABSENT_REASON; }

std::unique_ptr<Prepared> make_softmax_cudnn(const Problem&, Mode, const std::string&) {
  throw std::runtime_error(cudnn_unavailable_reason());
}

}  // namespace dfw
