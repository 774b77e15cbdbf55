// collect_machine_info: git through popen, /proc/cpuinfo, compiler macros, and
// the GPU's identity from kernels/cuda_ceilings.hpp when asked; machine_id.
#include "machine_info.hpp"

#include <omp.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "cuda_ceilings.hpp"

#ifndef DFWBENCH_SOURCE_DIR
#define DFWBENCH_SOURCE_DIR "."
#endif
#ifndef DFWBENCH_CXX_FLAGS
#define DFWBENCH_CXX_FLAGS "unknown"
#endif

namespace dfw {
namespace {

struct PipeCloser {
  void operator()(FILE* f) const { pclose(f); }
};

// stdout of a shell command with trailing newlines removed; empty on failure.
std::string command_output(const std::string& cmd) {
  std::unique_ptr<FILE, PipeCloser> pipe(popen(cmd.c_str(), "r"));
  if (!pipe) return "";
  std::string out;
  std::array<char, 256> buf;
  while (fgets(buf.data(), int(buf.size()), pipe.get())) out += buf.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string git_commit() {
  const std::string dir = std::string("'") + DFWBENCH_SOURCE_DIR + "'";
  const std::string head = command_output("git -C " + dir + " rev-parse --short HEAD 2>/dev/null");
  if (head.empty()) return "unknown";
  // Outputs of runs (results/, plots/, REPORT.md) do not make the code dirty.
  const std::string dirty = command_output(
      "git -C " + dir + " status --porcelain --untracked-files=no -- . ':!results' ':!plots' ':!REPORT.md' "
      "2>/dev/null | head -n 1");
  return dirty.empty() ? head : head + "-dirty";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "unknown";
}

// From /proc/cpuinfo's flags (what the CPU runs, not what the binary was built for).
std::string cpu_isa() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    const std::string flags = line + " ";
    if (flags.find(" avx512f ") != std::string::npos) return "avx512";
    if (flags.find(" avx2 ") != std::string::npos) return "avx2";
    return "";
  }
  return "";
}

std::string compiler() {
#if defined(__clang__)
  return std::string("Clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("GNU ") + __VERSION__;
#else
  return "unknown";
#endif
}

// From kernels/cuda_ceilings.hpp; fields stay empty when no device answers.
void fill_gpu(MachineInfo& m) {
  try {
    const CudaDeviceInfo d = cuda_device_info();
    m.gpu_name = d.name;
    m.gpu_driver = d.driver_version + " (runtime " + d.runtime_version + ")";
    m.gpu_clocks = "sm " + std::to_string(int(d.sm_clock_mhz)) + " MHz, memory " +
                   std::to_string(int(d.memory_clock_mhz)) + " MHz";
  } catch (const std::exception&) {
  }
}

// Lower-case alphanumeric words of a CPU or GPU name, joined by '-', without the
// words that do not tell one machine from another.
std::string name_slug(const std::string& name) {
  std::string text = name.substr(0, name.find('@'));  // "... CPU @ 2.90GHz": the clock is not the model
  std::string slug, word;
  auto flush = [&] {
    if (!word.empty() && word != "r" && word != "tm" && word != "cpu" && word != "processor")
      slug += (slug.empty() ? "" : "-") + word;
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      word += char(std::tolower(static_cast<unsigned char>(c)));
    else
      flush();
  }
  flush();
  return slug.empty() ? "unknown" : slug;
}

}  // namespace

std::string machine_id(const std::string& backend, const std::string& name, int cpus, const std::string& isa) {
  if (backend == "cuda") {
    if (name.empty()) throw std::runtime_error("machine id: no GPU name (no usable CUDA device)");
    return "gpu-" + name_slug(name);
  }
  return "cpu-" + name_slug(name) + (isa.empty() ? "" : "-" + isa) + "-" + std::to_string(cpus) + "c";
}

std::string machine_id(const MachineInfo& m, const std::string& backend) {
  return machine_id(backend, backend == "cuda" ? m.gpu_name : m.cpu_model, m.cpus_online, m.cpu_isa);
}

MachineInfo collect_machine_info(bool cuda) {
  MachineInfo m;
  m.commit = git_commit();
  m.compiler = compiler();
  m.cxx_flags = DFWBENCH_CXX_FLAGS;
  m.cpu_model = cpu_model();
  m.cpu_isa = cpu_isa();
  m.threads = omp_get_max_threads();
  m.cpus_online = int(sysconf(_SC_NPROCESSORS_ONLN));
  if (cuda) fill_gpu(m);
  return m;
}

}  // namespace dfw
