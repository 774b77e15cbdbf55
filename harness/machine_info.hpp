// What a result was measured on and with: git commit, compiler and flags, CPU
// model and threads, and (CUDA builds) the GPU's name, driver and clocks; and the
// machine id that names the machine's result set (results/<machine-id>/).
#pragma once

#include <string>

namespace dfw {

struct MachineInfo {
  std::string commit;       // `git rev-parse --short HEAD` (+ "-dirty"), or "unknown"
  std::string compiler;     // e.g. "GNU 12.2.0"
  std::string cxx_flags;    // build type and flags the harness was compiled with
  std::string cpu_model;    // /proc/cpuinfo "model name", or "unknown"
  std::string cpu_isa;      // the widest x86 vector ISA the CPU reports: "avx512", "avx2", or empty
  int threads = 0;          // OpenMP threads the CPU forms use
  int cpus_online = 0;      // logical CPUs of the machine (not only those given to the process)
  std::string gpu_name;     // empty without a usable CUDA device
  std::string gpu_driver;   // e.g. "13.0 (runtime 13.0)"
  std::string gpu_clocks;   // e.g. "sm 1980 MHz, memory 2619 MHz"
};

// Runs git in the source tree the binary was built from; queries the GPU only
// when cuda is true.
MachineInfo collect_machine_info(bool cuda);

// The name of the result set a backend's measurements on this machine belong to:
// "cpu-<CPU model>-<ISA>-<N>c" (the widest vector ISA, N logical CPUs) or
// "gpu-<GPU name>", lower case, words joined by '-', without trademarks, "CPU",
// "Processor" or the "@ 2.90GHz" clock. e.g. "cpu-amd-epyc-avx2-2c",
// "cpu-intel-xeon-platinum-8375c-avx512-16c", "gpu-nvidia-h200". The ISA is part
// of the name because a virtual machine may report only "AMD EPYC": a Zen 3 (AVX2)
// and a Zen 4 (AVX-512) then differ in nothing else, and the CPU forms' speed does.
// (Sets made before the ISA was added are named without it.)
// Throws std::runtime_error for cuda when no GPU name is known.
std::string machine_id(const MachineInfo& m, const std::string& backend);
// The same from its parts (cpus is ignored for cuda); testable without the machine.
std::string machine_id(const std::string& backend, const std::string& name, int cpus, const std::string& isa = "");

}  // namespace dfw
