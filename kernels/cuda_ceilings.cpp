// cuda_device_info, cuda_device_free_bytes and measure_gpu_ceilings: device attributes, free memory, a timed
// cudaMemcpyAsync device-to-device and timed cuBLAS GEMMs at fp32/fp16/bf16.
#include "cuda_ceilings.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "cuda_raii.hpp"
#include "device_buffer.hpp"
#include "impl.hpp"

namespace dfw {
namespace {

void require_device() {
  if (const std::string r = cuda_unavailable_reason(); !r.empty()) throw std::runtime_error("CUDA: " + r);
}

std::string version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

int attribute(cudaDeviceAttr a, int dev) {
  int v = 0;
  DFW_CUDA_CHECK(cudaDeviceGetAttribute(&v, a, dev));
  return v;
}

class CublasHandle {
 public:
  CublasHandle() {
    if (cublasCreate(&h_) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasCreate failed");
  }
  ~CublasHandle() { cublasDestroy(h_); }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + ": " + cublasGetStatusString(s));
}

// Median milliseconds of `reps` timed calls of work(stream), after two warm-ups.
template <class F>
double median_ms(const CudaStream& stream, int reps, F work) {
  CudaEvent start, stop;
  for (int i = 0; i < 2; ++i) work(stream.get());
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    start.record(stream.get());
    work(stream.get());
    stop.record(stream.get());
    stop.synchronize();
    ms.push_back(stop.ms_since(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double gemm_tflops(const CudaStream& stream, cublasHandle_t h, cudaDataType_t type, int n) {
  const std::size_t elem = type == CUDA_R_32F ? 4 : 2;
  DeviceBuffer<unsigned char> a(elem * n * n), b(elem * n * n), c(elem * n * n);
  DFW_CUDA_CHECK(cudaMemsetAsync(a.data(), 0, a.size(), stream.get()));
  DFW_CUDA_CHECK(cudaMemsetAsync(b.data(), 0, b.size(), stream.get()));
  check_cublas(cublasSetStream(h, stream.get()), "cublasSetStream");
  const float alpha = 1.f, beta = 0.f;
  const double ms = median_ms(stream, 5, [&](cudaStream_t) {
    check_cublas(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.data(), type, n, b.data(), type, n,
                              &beta, c.data(), type, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
  });
  return 2.0 * double(n) * n * n / (ms * 1e-3) / 1e12;
}

}  // namespace

int64_t cuda_device_free_bytes() {
  require_device();
  std::size_t free_bytes = 0, total_bytes = 0;
  DFW_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return int64_t(free_bytes);
}

CudaDeviceInfo cuda_device_info() {
  require_device();
  int dev = 0;
  DFW_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  DFW_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  CudaDeviceInfo info;
  info.name = prop.name;
  info.compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  info.sm_count = prop.multiProcessorCount;
  info.sm_clock_mhz = attribute(cudaDevAttrClockRate, dev) / 1000.0;
  info.memory_clock_mhz = attribute(cudaDevAttrMemoryClockRate, dev) / 1000.0;
  info.memory_bus_bits = attribute(cudaDevAttrGlobalMemoryBusWidth, dev);
  info.l2_bytes = attribute(cudaDevAttrL2CacheSize, dev);
  info.memory_bytes = int64_t(prop.totalGlobalMem);
  int driver = 0, runtime = 0;
  DFW_CUDA_CHECK(cudaDriverGetVersion(&driver));
  DFW_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  info.driver_version = version_string(driver);
  info.runtime_version = version_string(runtime);
  return info;
}

CudaCeilings measure_gpu_ceilings() {
  require_device();
  CudaStream stream;
  NvtxRange range("measure_gpu_ceilings");
  CudaCeilings c;
  c.copy_bytes = int64_t(512) << 20;
  {
    DeviceBuffer<unsigned char> src(c.copy_bytes), dst(c.copy_bytes);
    DFW_CUDA_CHECK(cudaMemsetAsync(src.data(), 1, src.size(), stream.get()));
    const double ms = median_ms(stream, 7, [&](cudaStream_t s) {
      DFW_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.size(), cudaMemcpyDeviceToDevice, s));
    });
    c.copy_gb_per_s = 2.0 * double(c.copy_bytes) / (ms * 1e-3) / 1e9;
  }
  c.gemm_n = 4096;
  CublasHandle h;
  check_cublas(cublasSetMathMode(h.get(), CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");  // no TF32 for fp32
  c.gemm_fp32_tflops = gemm_tflops(stream, h.get(), CUDA_R_32F, int(c.gemm_n));
  check_cublas(cublasSetMathMode(h.get(), CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  c.gemm_fp16_tflops = gemm_tflops(stream, h.get(), CUDA_R_16F, int(c.gemm_n));
  c.gemm_bf16_tflops = gemm_tflops(stream, h.get(), CUDA_R_16BF, int(c.gemm_n));
  return c;
}

}  // namespace dfw
