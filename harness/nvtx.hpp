// NvtxRange: an RAII NVTX range (push on construction, pop on destruction) so
// Nsight Systems shows every bench case and phase (generate, prepare, warm-up,
// timing). Uses the header-only nvtx3 API when built with CUDA; compiles to
// nothing otherwise.
#pragma once

#include <string>

#ifdef DFWBENCH_HAVE_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

// In its own namespace: kernels/cuda_raii.hpp has a dfw::NvtxRange of its own.
namespace dfw::harness {

class NvtxRange {
 public:
#ifdef DFWBENCH_HAVE_CUDA
  explicit NvtxRange(const std::string& name) { nvtxRangePushA(name.c_str()); }
  ~NvtxRange() { nvtxRangePop(); }
#else
  explicit NvtxRange(const std::string&) {}
#endif
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace dfw::harness
