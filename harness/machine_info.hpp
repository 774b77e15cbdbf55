// What a result was measured on and with: git commit, compiler and flags, CPU
// model and threads, and (CUDA builds) the GPU's name, driver and clocks.
#pragma once

#include <string>

namespace dfw {

struct MachineInfo {
  std::string commit;       // `git rev-parse --short HEAD` (+ "-dirty"), or "unknown"
  std::string compiler;     // e.g. "GNU 12.2.0"
  std::string cxx_flags;    // build type and flags the harness was compiled with
  std::string cpu_model;    // /proc/cpuinfo "model name", or "unknown"
  int threads = 0;          // OpenMP threads the CPU forms use
  std::string gpu_name;     // empty without a usable CUDA device
  std::string gpu_driver;   // e.g. "13.0 (runtime 13.0)"
  std::string gpu_clocks;   // e.g. "sm 1980 MHz, memory 2619 MHz"
};

// Runs git in the source tree the binary was built from; queries the GPU only
// when cuda is true.
MachineInfo collect_machine_info(bool cuda);

}  // namespace dfw
