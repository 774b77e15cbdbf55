// The GPU's identity and its measured ceilings, for reading a timing as a
// fraction of what the machine can do (GB/s against copy bandwidth, FLOP/s
// against cuBLAS GEMM). Plain C++: callable from the harness in every build; a
// build without CUDA, or a machine without a device, throws std::runtime_error
// carrying cuda_unavailable_reason().
#pragma once

#include <cstdint>
#include <string>

namespace dfw {

struct CudaDeviceInfo {
  std::string name;              // "NVIDIA H200"
  std::string compute_capability;  // "9.0"
  int sm_count = 0;
  double sm_clock_mhz = 0;       // peak SM clock
  double memory_clock_mhz = 0;   // peak memory clock
  int memory_bus_bits = 0;
  int64_t l2_bytes = 0;
  int64_t memory_bytes = 0;      // total device memory
  std::string driver_version;    // CUDA driver API version, "13.0"
  std::string runtime_version;   // CUDA runtime version, "13.0"
};

struct CudaCeilings {
  double copy_gb_per_s = 0;       // device-to-device copy, bytes read + written per second / 1e9
  double gemm_fp32_tflops = 0;    // cuBLAS SGEMM-class (fp32 in, fp32 compute, no TF32)
  double gemm_fp16_tflops = 0;    // cuBLAS GemmEx fp16 in/out, fp32 accumulate
  double gemm_bf16_tflops = 0;    // cuBLAS GemmEx bf16 in/out, fp32 accumulate
  int64_t copy_bytes = 0;         // bytes per copy measured
  int64_t gemm_n = 0;             // n of the n x n x n GEMMs measured
};

// Device 0 (the one the forms use).
CudaDeviceInfo cuda_device_info();

// Free bytes on device 0 now (cudaMemGetInfo), for the memory budget of a case.
int64_t cuda_device_free_bytes();

// Measures the ceilings on device 0: medians of a few timed repetitions after a
// warm-up (about a second in all). Allocates about 3 * 4096^2 * 4 bytes + 2 x 512 MiB.
CudaCeilings measure_gpu_ceilings();

}  // namespace dfw
