// The cuBLAS calls of the GPU ceilings (cuda_ceilings.cpp), on the emulated
// device: a handle, its stream and math mode, and cublasGemmEx as a plain
// column-major reference GEMM (fp32 / fp16 / bf16 operands, fp32 compute).
// It exists so the same sources build; the emulator's times are never used
// (dfwbench bench refuses to time an emulated device).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <vector>

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t mode = CUBLAS_DEFAULT_MATH;
};

namespace {

float load(const void* p, cudaDataType t, std::size_t i) {
  switch (t) {
    case CUDA_R_16F: return __half2float(static_cast<const __half*>(p)[i]);
    case CUDA_R_16BF: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

void store(void* p, cudaDataType t, std::size_t i, float v) {
  switch (t) {
    case CUDA_R_16F: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    case CUDA_R_16BF: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<float*>(p)[i] = v;
  }
}

bool supported(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF; }

}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  handle->mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusString(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_NOT_SUPPORTED (emulated cuBLAS)";
}

// C = alpha op(A) op(B) + beta C, column-major, fp32 accumulation.
cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void* alpha, const void* A, cudaDataType at, int lda, const void* B, cudaDataType bt,
                            int ldb, const void* beta, void* C, cudaDataType ct, int ldc, cublasComputeType_t compute,
                            cublasGemmAlgo_t) {
  if (!supported(at) || !supported(bt) || !supported(ct) || compute != CUBLAS_COMPUTE_32F ||
      (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float acc = 0.f;
      for (int x = 0; x < k; ++x) {
        const std::size_t ia = ta == CUBLAS_OP_N ? std::size_t(x) * lda + i : std::size_t(i) * lda + x;
        const std::size_t ib = tb == CUBLAS_OP_N ? std::size_t(j) * ldb + x : std::size_t(x) * ldb + j;
        acc += load(A, at, ia) * load(B, bt, ib);
      }
      const std::size_t ic = std::size_t(j) * ldc + i;
      store(C, ct, ic, a * acc + (b != 0.f ? b * load(C, ct, ic) : 0.f));
    }
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
