// feature_backward: the feature maps of the stateful rules' CUDA backward.
//   feature_rows_kernel: phi(x) of one token row per block (feature_math.hpp's
//     feature_at, as the forward kernels compute it), threads over the m features; the
//     row sum by a block reduction where the variant sum-normalises.
//   feature_vjp_kernel: one token row per block: dL/d(used) back through the sum
//     normalisation (df = (df~ - df~ . f~) / sum f, a zero-sum row passing through),
//     then the map's VJP, threads over dk (identity, elu1: elementwise; relu_proj:
//     W^T (d * [Wx + b > 0]); favor: s Omega^T (d * phi) - s^2 x sum(d * phi); dpfp:
//     dr from both factors of each product, then the two relus).
//   feature_param_grad_kernel (relu_proj): dw[h] += sum over the head's token rows of
//     g x^T, db[h] += sum g; one thread per (h, j, c) or (h, j).
//   Launch: rows kernels grid B*H*T, block 128, shared (dk + 4) floats (rows) or
//   (3 dk + 2 m + 4) floats (vjp); parameter kernel grid ceil(H m (dk + 1) / 128).
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "cuda_raii.hpp"
#include "feature_backward_kernel.cuh"
#include "warp_reduce.cuh"

namespace dfw {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

// The sum of every thread's x over the block; red: kWarps floats of shared memory.
__device__ float block_sum(float x, float* red) {
  x = warp_sum(x);
  __syncthreads();  // red may still be read by an earlier block_sum
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = x;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kWarps; ++w) total += red[w];
  return total;
}

__device__ int64_t head_of(const FeatureRowsLaunch& a, int64_t row) { return (row / a.T) % a.H; }

__global__ void __launch_bounds__(kThreads) feature_rows_kernel(FeatureRowsLaunch a) {
  const int64_t row = blockIdx.x;
  extern __shared__ float sh[];
  float* x = sh;            // (dk)
  float* red = sh + a.dk;   // (kWarps)
  float part = 0.f;
  for (int c = threadIdx.x; c < a.dk; c += kThreads) {
    x[c] = a.x[row * a.dk + c];
    part += x[c] * x[c];
  }
  const float x_sq = block_sum(part, red);  // also makes x visible to every thread
  const FeatureSpec spec = head_feature_spec(a.phi, a.dk, a.m, a.w, a.b, a.omega, head_of(a, row));
  float sum = 0.f;
  for (int j = threadIdx.x; j < a.m; j += kThreads) {
    const float f = feature_at(spec, x, x_sq, j);
    a.raw[row * a.m + j] = f;
    sum += f;
  }
  if (!a.sum_normalise) {
    if (a.used != a.raw)
      for (int j = threadIdx.x; j < a.m; j += kThreads) a.used[row * a.m + j] = a.raw[row * a.m + j];
    return;
  }
  const float total = block_sum(sum, red);
  for (int j = threadIdx.x; j < a.m; j += kThreads)
    a.used[row * a.m + j] = sum_normalised(a.raw[row * a.m + j], total);
}

__global__ void __launch_bounds__(kThreads) feature_vjp_kernel(FeatureRowsLaunch a) {
  const int64_t row = blockIdx.x;
  const int dk = a.dk, m = a.m;
  extern __shared__ float sh[];
  float* x = sh;            // (dk)
  float* d = x + dk;        // (m) the gradient, rewritten step by step
  float* raw = d + m;       // (m)
  float* dr = raw + m;      // (2 dk) dpfp's gradient of r = [relu(x), relu(-x)]
  float* red = dr + 2 * dk; // (kWarps)
  for (int c = threadIdx.x; c < dk; c += kThreads) x[c] = a.x[row * dk + c];
  float raw_sum = 0.f, dot = 0.f;
  for (int j = threadIdx.x; j < m; j += kThreads) {
    d[j] = a.d[row * m + j];
    raw[j] = a.raw[row * m + j];
    raw_sum += raw[j];
    dot += d[j] * a.used[row * m + j];
  }
  __syncthreads();
  if (a.sum_normalise) {
    const float s = block_sum(raw_sum, red), dd = block_sum(dot, red);
    if (s > 0.f)
      for (int j = threadIdx.x; j < m; j += kThreads) d[j] = (d[j] - dd) / s;
    __syncthreads();
  }
  const FeatureSpec spec = head_feature_spec(a.phi, dk, m, a.w, a.b, a.omega, head_of(a, row));
  float* dx = a.dx + row * dk;
  switch (a.phi) {
    case FeatureKind::identity:
      for (int c = threadIdx.x; c < dk; c += kThreads) dx[c] = d[c];
      break;
    case FeatureKind::elu1:
      for (int c = threadIdx.x; c < dk; c += kThreads) dx[c] = d[c] * (x[c] > 0.f ? 1.f : expf(x[c]));
      break;
    case FeatureKind::relu_proj: {
      for (int j = threadIdx.x; j < m; j += kThreads) {
        d[j] = raw[j] > 0.f ? d[j] : 0.f;  // relu(u) > 0 exactly where u = w_j . x + b_j > 0
        a.d[row * m + j] = d[j];
      }
      __syncthreads();
      for (int c = threadIdx.x; c < dk; c += kThreads) {
        float acc = 0.f;
        for (int j = 0; j < m; ++j) acc += spec.w[j * dk + c] * d[j];
        dx[c] = acc;
      }
      break;
    }
    case FeatureKind::favor: {
      float part = 0.f;
      for (int j = threadIdx.x; j < m; j += kThreads) {
        d[j] *= raw[j];
        part += d[j];
      }
      const float total = block_sum(part, red);  // also makes d * phi visible
      const float s = spec.favor_scale;
      for (int c = threadIdx.x; c < dk; c += kThreads) {
        float acc = 0.f;
        for (int j = 0; j < m; ++j) acc += d[j] * spec.omega[j * dk + c];
        dx[c] = s * acc - s * s * x[c] * total;
      }
      break;
    }
    case FeatureKind::dpfp: {
      // phi_j = r_i r_p, block jb = j / 2dk, i = j % 2dk, p = (i - jb - 1) mod 2dk: r_i
      // is the first factor of element (jb, i) and the second of (jb, (i + jb + 1) mod 2dk).
      const int r_len = 2 * dk, blocks = m / r_len;
      for (int i = threadIdx.x; i < r_len; i += kThreads) {
        float acc = 0.f;
        for (int jb = 0; jb < blocks; ++jb) {
          const int p = ((i - jb - 1) % r_len + r_len) % r_len, other = (i + jb + 1) % r_len;
          acc += d[jb * r_len + i] * dpfp_r(x, dk, p) + d[jb * r_len + other] * dpfp_r(x, dk, other);
        }
        dr[i] = acc;
      }
      __syncthreads();
      for (int c = threadIdx.x; c < dk; c += kThreads) dx[c] = x[c] > 0.f ? dr[c] : (x[c] < 0.f ? -dr[dk + c] : 0.f);
      break;
    }
  }
}

// relu_proj's dw (H, m, dk) and db (H, m), added to: thread e < H m dk is (h, j, c) of dw, the
// next H m are (h, j) of db.
__global__ void __launch_bounds__(kThreads) feature_param_grad_kernel(FeatureRowsLaunch a) {
  const int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t per_head = int64_t(a.m) * a.dk, weights = a.H * per_head;
  if (e >= weights + a.H * a.m) return;
  const bool bias = e >= weights;
  const int64_t h = bias ? (e - weights) / a.m : e / per_head;
  const int j = int(bias ? (e - weights) % a.m : (e % per_head) / a.dk), c = int(e % a.dk);
  float acc = 0.f;
  for (int64_t start = h * a.T; start < a.rows; start += a.H * a.T)  // this head's rows of each batch element
    for (int64_t row = start; row < start + a.T; ++row)
      acc += a.d[row * a.m + j] * (bias ? 1.f : a.x[row * a.dk + c]);
  if (bias) a.db[h * a.m + j] += acc;
  else a.dw[e] += acc;
}

// The widths each map's kernels assume (the variant's feature map guarantees them).
void check_widths(const FeatureRowsLaunch& a) {
  const bool elementwise = a.phi == FeatureKind::identity || a.phi == FeatureKind::elu1;
  if (elementwise && a.m != a.dk)
    throw std::invalid_argument("feature kernels: an elementwise map needs m = dk (m = " + std::to_string(a.m) +
                                ", dk = " + std::to_string(a.dk) + ")");
  if (a.phi == FeatureKind::dpfp && a.m % (2 * a.dk) != 0)
    throw std::invalid_argument("feature kernels: dpfp needs m a multiple of 2 dk (m = " + std::to_string(a.m) + ")");
  if (a.rows > int64_t(INT32_MAX)) throw std::invalid_argument("feature kernels: B * H * T exceeds the grid limit");
}

}  // namespace

void launch_feature_rows(const FeatureRowsLaunch& a, cudaStream_t stream) {
  if (a.rows == 0) return;
  check_widths(a);
  NvtxRange range("feature_rows");
  feature_rows_kernel<<<unsigned(a.rows), kThreads, sizeof(float) * (a.dk + kWarps), stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
}

void launch_feature_vjp(const FeatureRowsLaunch& a, cudaStream_t stream) {
  if (a.rows == 0) return;
  check_widths(a);
  NvtxRange range("feature_vjp");
  const std::size_t shared = sizeof(float) * (3 * std::size_t(a.dk) + 2 * std::size_t(a.m) + kWarps);
  if (shared > 48 * 1024) throw std::invalid_argument("feature kernels: dk, m too large for shared memory");
  feature_vjp_kernel<<<unsigned(a.rows), kThreads, shared, stream>>>(a);
  DFW_CUDA_CHECK_LAUNCH();
  if (a.phi == FeatureKind::relu_proj && a.dw) {
    const int64_t threads = a.H * a.m * (int64_t(a.dk) + 1);
    feature_param_grad_kernel<<<unsigned((threads + kThreads - 1) / kThreads), kThreads, 0, stream>>>(a);
    DFW_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace dfw
