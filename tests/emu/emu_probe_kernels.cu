// Probe kernels for the emulated device's tests (see emu_probe_kernels.cuh).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <stdexcept>
#include <type_traits>

#include "cp_async.cuh"
#include "emu_probe_kernels.cuh"
#include "mma_f16.cuh"
#include "mma_tf32.cuh"

namespace emu_probe {
namespace {

namespace wmma = nvcuda::wmma;

void check(cudaError_t e) {
  if (e != cudaSuccess) throw std::runtime_error(cudaGetErrorString(e));
}

// n elements of device memory, freed when it goes out of scope; reads as its pointer.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) {
    void* p = nullptr;
    check(cudaMalloc(&p, n * sizeof(T)));
    p_ = static_cast<T*>(p);
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  operator T*() const { return p_; }

 private:
  T* p_ = nullptr;
};

// Copies a device array back after synchronising.
template <class T>
std::vector<T> fetch(const DeviceArray<T>& d, std::size_t n) {
  std::vector<T> h(n);
  check(cudaDeviceSynchronize());
  check(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

__global__ void warp_ops_kernel(int* out) {
  const int lane = threadIdx.x;
  out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1);
  out[32 + lane] = __shfl_sync(0xffffffffu, lane, 3, 8);
  out[64 + lane] = __shfl_up_sync(0xffffffffu, lane, 2);
  out[96 + lane] = __shfl_down_sync(0xffffffffu, lane, 5);
  out[128 + lane] = int(__ballot_sync(0xffffffffu, lane % 2));
}

__global__ void atomic_add_kernel(float* f, int* i) {
  atomicAdd(f, 1.f);
  atomicAdd(i, 1);
}

__global__ void barrier_votes_kernel(int* out) {
  const int p = threadIdx.x % 3 == 0;
  const int count = __syncthreads_count(p);
  const int all = __syncthreads_and(p);
  const int any = __syncthreads_or(p);
  if (threadIdx.x == 0) {
    out[0] = count;
    out[1] = all;
    out[2] = any;
  }
}

__global__ void shared_nan_kernel(int floats, int* out) {
  extern __shared__ float buf[];
  int nans = 0;
  for (int i = 0; i < floats; ++i) nans += buf[i] != buf[i];
  if (blockIdx.x == 0 && threadIdx.x == 0) *out = nans;
}

__global__ void big_shared_kernel() {
  extern __shared__ unsigned char bytes[];
  bytes[threadIdx.x] = 1;
}

template <class E, class LA, class LB, int K>
__global__ void wmma_tile_kernel(const E* a, const E* b, const float* c, float* d) {
  using AT = typename std::conditional<K == 8, wmma::precision::tf32, E>::type;
  wmma::fragment<wmma::matrix_a, 16, 16, K, AT, LA> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, K, AT, LB> fb;
  wmma::fragment<wmma::accumulator, 16, 16, K, float> acc;
  constexpr bool a_col = std::is_same<LA, wmma::col_major>::value, b_col = std::is_same<LB, wmma::col_major>::value;
  wmma::load_matrix_sync(fa, a, a_col ? 16 : K);
  wmma::load_matrix_sync(fb, b, b_col ? K : 16);
  wmma::load_matrix_sync(acc, c, 16, wmma::mem_row_major);
  wmma::mma_sync(acc, fa, fb, acc);
  wmma::store_matrix_sync(d, acc, 16, wmma::mem_row_major);
}

// The PTX ISA's m16n8k8 .tf32 fragment tables (groupID g = lane >> 2, threadID_in_group
// t = lane % 4), transcribed as offsets from (g, t): A a0 (g, t), a1 (g + 8, t),
// a2 (g, t + 4), a3 (g + 8, t + 4); B b0 (row t, col g), b1 (t + 4, g); C / D c0 (g, 2t),
// c1 (g, 2t + 1), c2 (g + 8, 2t), c3 (g + 8, 2t + 1).
__global__ void mma_tf32_kernel(const float* a, const float* bt, const float* c, float* d, bool helpers) {
  constexpr int kARow[4] = {0, 8, 0, 8}, kACol[4] = {0, 0, 4, 4};
  constexpr int kBRow[2] = {0, 4};
  constexpr int kCRow[4] = {0, 0, 8, 8}, kCCol[4] = {0, 1, 0, 1};
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  uint32_t fa[4], fb[2];
  float fc[4], fd[4];
  if (helpers) {
    dfw::load_a_tf32(fa, a, 8, lane);
    dfw::load_b_tf32_col(fb, bt, 8, lane);
  } else {
    for (int e = 0; e < 4; ++e) fa[e] = dfw::tf32_bits(a[(g + kARow[e]) * 8 + t + kACol[e]]);
    for (int e = 0; e < 2; ++e) fb[e] = dfw::tf32_bits(bt[g * 8 + t + kBRow[e]]);  // B[k][n] = bt[n][k]
  }
  for (int e = 0; e < 4; ++e) {
    const int row = helpers ? dfw::acc_row_16x16(e, lane) : g + kCRow[e];
    const int col = helpers ? dfw::acc_col_16x16(0, e, lane) : 2 * t + kCCol[e];
    fc[e] = c[row * 8 + col];
  }
  dfw::mma_m16n8k8_tf32(fd, fa, fb, fc);
  for (int e = 0; e < 4; ++e) {
    const int row = helpers ? dfw::acc_row_16x16(e, lane) : g + kCRow[e];
    const int col = helpers ? dfw::acc_col_16x16(0, e, lane) : 2 * t + kCCol[e];
    d[row * 8 + col] = fd[e];
  }
}

// The PTX ISA's m16n8k16 .f16 / .bf16 tables (g = lane >> 2, t = lane % 4), transcribed:
// A a0,a1 (g, 2t..2t+1), a2,a3 (g + 8, 2t..), a4,a5 (g, 2t + 8..), a6,a7 (g + 8, 2t + 8..);
// B b0,b1 (rows 2t..2t+1, col g), b2,b3 (rows 2t + 8.., col g); C / D as m16n8k8's.
template <class E>
__global__ void mma_f16_kernel(const float* a, const float* b, float* d, MmaF16Loads how, E* scratch) {
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  auto to_e = [](float x) {
    if constexpr (std::is_same<E, __half>::value)
      return __float2half_rn(x);
    else
      return __float2bfloat16_rn(x);
  };
  auto pair = [&](float lo, float hi) {
    const E x[2] = {to_e(lo), to_e(hi)};
    uint32_t r;
    memcpy(&r, x, 4);
    return r;
  };
  float acc[2][4] = {};
  uint32_t fa[4], fb[4];
  if (how.helpers) {
    extern __shared__ unsigned char tiles[];
    E* sA = how.in_global ? scratch : reinterpret_cast<E*>(tiles);
    E* sB = sA + 256;
    for (int i = lane; i < 256; i += 32) {
      const int tr = (i % 16) * 16 + i / 16;  // the element stored at i when the tile is transposed
      sA[i] = to_e(how.a_cols ? a[tr] : a[i]);  // a_cols: sA[k][i] = A[i][k]
      sB[i] = to_e(how.b_cols ? b[tr] : b[i]);  // b_cols: sB[n][k] = B[k][n]
    }
    __syncwarp();
    auto load = [&](auto space) {
      constexpr dfw::TileSpace kSpace = decltype(space)::value;
      if (how.a_cols)
        dfw::load_a_16x16_cols<kSpace>(fa, sA, 16, lane);
      else
        dfw::load_a_16x16<kSpace>(fa, sA, 16, lane);
      if (how.b_cols)
        dfw::load_b_16x16_cols<kSpace>(fb, sB, 16, lane);
      else
        dfw::load_b_16x16_rows<kSpace>(fb, sB, 16, lane);
    };
    if (how.in_global)
      load(std::integral_constant<dfw::TileSpace, dfw::TileSpace::any>());
    else
      load(std::integral_constant<dfw::TileSpace, dfw::TileSpace::shared>());
  } else {
    constexpr int kARow[4] = {0, 8, 0, 8}, kACol[4] = {0, 0, 8, 8};
    for (int e = 0; e < 4; ++e) {
      const float* row = a + (g + kARow[e]) * 16 + 2 * t + kACol[e];
      fa[e] = pair(row[0], row[1]);
    }
    for (int h = 0; h < 2; ++h)
      for (int e = 0; e < 2; ++e) {
        const int k = 2 * t + 8 * e, n = 8 * h + g;
        fb[2 * h + e] = pair(b[k * 16 + n], b[(k + 1) * 16 + n]);
      }
  }
  dfw::mma_m16n8k16<E>(acc[0], fa, fb[0], fb[1], acc[0]);
  dfw::mma_m16n8k16<E>(acc[1], fa, fb[2], fb[3], acc[1]);
  if (how.helpers) {
    dfw::store_acc_16x16(d, 16, acc, lane);
    return;
  }
  for (int h = 0; h < 2; ++h)
    for (int e = 0; e < 4; ++e) d[(g + 8 * (e >> 1)) * 16 + 8 * h + 2 * t + (e & 1)] = acc[h][e];
}

// ldmatrix through mma_f16.cuh's loader on a tile in global memory.
__global__ void ldmatrix_global_kernel(const __half* tile) {
  uint32_t fa[4];
  dfw::load_a_16x16(fa, tile, 16, int(threadIdx.x));
}

__global__ void cp_async_groups_kernel(const float* src, float* out) {
  extern __shared__ __align__(16) float chunks[];  // (64 chunks, 4): group A's, then group B's
  const int l = int(threadIdx.x);
  const int a_bytes = l % 4 == 3 ? 0 : l % 4 == 2 ? 8 : 16;
  dfw::cp_async_16(chunks + 4 * l, src + 4 * l, a_bytes);
  dfw::cp_async_commit();
  dfw::cp_async_16(chunks + 128 + 4 * l, src + 128 + 4 * l, 16);
  dfw::cp_async_commit();
  dfw::cp_async_wait_group<1>();
  for (int i = 0; i < 4; ++i) out[4 * l + i] = chunks[4 * l + i];
  for (int i = 0; i < 4; ++i) out[128 + 4 * l + i] = chunks[128 + 4 * l + i];
  dfw::cp_async_wait_group<0>();
  for (int i = 0; i < 4; ++i) out[256 + 4 * l + i] = chunks[128 + 4 * l + i];
  __syncthreads();
  const int next = (l + 1) % 32;
  for (int i = 0; i < 4; ++i) out[384 + 4 * l + i] = chunks[4 * next + i];
}

// which 0: destination in global memory; 1: a source 4 bytes past alignment; 2: no wait.
__global__ void cp_async_fault_kernel(float* global, int which) {
  extern __shared__ __align__(16) float chunk[];
  dfw::cp_async_16(which == 0 ? global : chunk, which == 1 ? global + 1 : global, 16);
  dfw::cp_async_commit();
  if (which != 2) dfw::cp_async_wait_group<0>();
}

__global__ void divergent_barrier_kernel() {
  if ((threadIdx.x / 32) % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
}

__global__ void exit_before_barrier_kernel(int* out) {
  if (threadIdx.x / 32 == 1) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void half_warp_shuffle_kernel(int* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);
}

__global__ void wmma_load_kernel(const __half* p, unsigned ldm) {
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
  wmma::load_matrix_sync(fa, p, ldm);
}

__global__ void neighbour_kernel(bool barrier, int* out) {
  extern __shared__ int slot[];
  slot[threadIdx.x] = int(threadIdx.x) + 1;
  if (barrier) __syncthreads();
  const int next = (threadIdx.x + 1) % blockDim.x;
  out[threadIdx.x] = slot[next] == next + 1;
}


cudaError_t after(cudaError_t launch) {
  const cudaError_t sync = cudaDeviceSynchronize();
  return sync != cudaSuccess ? sync : launch;
}

}  // namespace

std::vector<int> warp_ops() {
  const DeviceArray<int> d(160);
  warp_ops_kernel<<<1, 32>>>(d);
  check(cudaGetLastError());
  std::vector<int> h = fetch(d, 160);
  return h;
}

std::vector<int> barrier_votes(int threads) {
  const DeviceArray<int> d(3);
  barrier_votes_kernel<<<1, threads>>>(d);
  check(cudaGetLastError());
  std::vector<int> h = fetch(d, 3);
  return h;
}

std::vector<double> atomic_totals(int blocks) {
  const DeviceArray<float> f(1);
  const DeviceArray<int> i(1);
  check(cudaMemset(f, 0, sizeof(float)));
  check(cudaMemset(i, 0, sizeof(int)));
  atomic_add_kernel<<<blocks, 128>>>(f, i);
  check(cudaGetLastError());
  const std::vector<double> totals = {fetch(f, 1)[0], double(fetch(i, 1)[0])};
  return totals;
}

int unwritten_shared_nans(int floats) {
  const DeviceArray<int> d(1);
  shared_nan_kernel<<<2, 32, floats * sizeof(float)>>>(floats, d);
  check(cudaGetLastError());
  const int n = fetch(d, 1)[0];
  return n;
}

cudaError_t launch_with_shared(std::size_t bytes, int opt_in) {
  if (opt_in > 0) {
    const cudaError_t e = cudaFuncSetAttribute(big_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, opt_in);
    if (e != cudaSuccess) return cudaGetLastError();
  }
  big_shared_kernel<<<1, 32, bytes>>>();
  const cudaError_t e = cudaGetLastError();
  cudaFuncSetAttribute(big_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 48 * 1024);
  return e;
}

template <class E, int K>
std::vector<float> wmma_tile_as(const std::vector<float>& a, const std::vector<float>& b,
                                const std::vector<float>& c, bool a_col, bool b_col) {
  using Mem = typename std::conditional<K == 8, float, E>::type;
  std::vector<Mem> ha(a.size()), hb(b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ha[i] = Mem(a[i]);
  for (std::size_t i = 0; i < b.size(); ++i) hb[i] = Mem(b[i]);
  const DeviceArray<Mem> da(ha.size());
  const DeviceArray<Mem> db(hb.size());
  const DeviceArray<float> dc(256);
  const DeviceArray<float> dd(256);
  check(cudaMemcpy(da, ha.data(), ha.size() * sizeof(Mem), cudaMemcpyHostToDevice));
  check(cudaMemcpy(db, hb.data(), hb.size() * sizeof(Mem), cudaMemcpyHostToDevice));
  check(cudaMemcpy(dc, c.data(), 256 * sizeof(float), cudaMemcpyHostToDevice));
  using R = wmma::row_major;
  using C = wmma::col_major;
  if (!a_col && !b_col) wmma_tile_kernel<Mem, R, R, K><<<1, 32>>>(da, db, dc, dd);
  if (!a_col && b_col) wmma_tile_kernel<Mem, R, C, K><<<1, 32>>>(da, db, dc, dd);
  if (a_col && !b_col) wmma_tile_kernel<Mem, C, R, K><<<1, 32>>>(da, db, dc, dd);
  if (a_col && b_col) wmma_tile_kernel<Mem, C, C, K><<<1, 32>>>(da, db, dc, dd);
  check(cudaGetLastError());
  std::vector<float> d = fetch(dd, 256);
  return d;
}

std::vector<float> wmma_tile(const std::string& type, const std::vector<float>& a, const std::vector<float>& b,
                             const std::vector<float>& c, bool a_col, bool b_col) {
  if (type == "fp16") return wmma_tile_as<__half, 16>(a, b, c, a_col, b_col);
  if (type == "bf16") return wmma_tile_as<__nv_bfloat16, 16>(a, b, c, a_col, b_col);
  return wmma_tile_as<float, 8>(a, b, c, a_col, b_col);
}

std::vector<float> mma_tf32_tile(const std::vector<float>& a, const std::vector<float>& bt,
                                 const std::vector<float>& c, bool helpers) {
  const DeviceArray<float> da(128);
  const DeviceArray<float> db(64);
  const DeviceArray<float> dc(128);
  const DeviceArray<float> dd(128);
  check(cudaMemcpy(da, a.data(), 128 * sizeof(float), cudaMemcpyHostToDevice));
  check(cudaMemcpy(db, bt.data(), 64 * sizeof(float), cudaMemcpyHostToDevice));
  check(cudaMemcpy(dc, c.data(), 128 * sizeof(float), cudaMemcpyHostToDevice));
  mma_tf32_kernel<<<1, 32>>>(da, db, dc, dd, helpers);
  check(cudaGetLastError());
  std::vector<float> d = fetch(dd, 128);
  return d;
}

std::vector<float> mma_f16_tile(const std::string& type, const std::vector<float>& a, const std::vector<float>& b,
                                MmaF16Loads how) {
  const DeviceArray<float> da(256);
  const DeviceArray<float> db(256);
  const DeviceArray<float> dd(256);
  const DeviceArray<__half> scratch(512);  // A then B, for how.in_global
  check(cudaMemcpy(da, a.data(), 256 * sizeof(float), cudaMemcpyHostToDevice));
  check(cudaMemcpy(db, b.data(), 256 * sizeof(float), cudaMemcpyHostToDevice));
  const std::size_t smem = 2 * 256 * 2;
  if (type == "fp16")
    mma_f16_kernel<__half><<<1, 32, smem>>>(da, db, dd, how, scratch);
  else if (type == "bf16")
    mma_f16_kernel<__nv_bfloat16><<<1, 32, smem>>>(da, db, dd, how, reinterpret_cast<__nv_bfloat16*>(static_cast<__half*>(scratch)));
  else
    throw std::invalid_argument("mma_f16_tile: type " + type);
  check(cudaGetLastError());
  std::vector<float> d = fetch(dd, 256);
  return d;
}

cudaError_t divergent_barrier() {
  divergent_barrier_kernel<<<1, 128>>>();
  return after(cudaGetLastError());
}

cudaError_t exit_before_barrier() {
  const DeviceArray<int> d(128);
  exit_before_barrier_kernel<<<1, 128>>>(d);
  const cudaError_t e = after(cudaGetLastError());
  return e;
}

cudaError_t half_warp_shuffle() {
  const DeviceArray<int> d(32);
  half_warp_shuffle_kernel<<<1, 32>>>(d);
  const cudaError_t e = after(cudaGetLastError());
  return e;
}

cudaError_t misaligned_wmma_load() {
  const DeviceArray<__half> d(512);
  wmma_load_kernel<<<1, 32>>>(d + 8, 16);
  const cudaError_t e = after(cudaGetLastError());
  return e;
}

cudaError_t ldmatrix_from_global() {
  const DeviceArray<__half> d(256);
  ldmatrix_global_kernel<<<1, 32>>>(d);
  const cudaError_t e = after(cudaGetLastError());
  return e;
}

std::vector<float> cp_async_groups(const std::vector<float>& src) {
  if (src.size() != 256) throw std::invalid_argument("cp_async_groups: 256 source floats");
  const DeviceArray<float> d_src(256), d_out(512);
  check(cudaMemcpy(d_src, src.data(), 256 * sizeof(float), cudaMemcpyHostToDevice));
  cp_async_groups_kernel<<<1, 32, 256 * sizeof(float)>>>(d_src, d_out);
  check(cudaGetLastError());
  return fetch(d_out, 512);
}

cudaError_t cp_async_fault(int which) {
  const DeviceArray<float> d(64);
  cp_async_fault_kernel<<<1, 32, 16>>>(d, which);
  return after(cudaGetLastError());
}
cudaError_t cp_async_to_global() { return cp_async_fault(0); }
cudaError_t cp_async_misaligned() { return cp_async_fault(1); }
cudaError_t cp_async_never_waited() { return cp_async_fault(2); }

cudaError_t odd_ldm_wmma_load() {
  const DeviceArray<__half> d(512);
  wmma_load_kernel<<<1, 32>>>(d, 12);
  const cudaError_t e = after(cudaGetLastError());
  return e;
}

int neighbour_reads(bool barrier) {
  const DeviceArray<int> d(64);
  neighbour_kernel<<<1, 64, 64 * sizeof(int)>>>(barrier, d);
  check(cudaGetLastError());
  const std::vector<int> h = fetch(d, 64);
  int n = 0;
  for (int x : h) n += x;
  return n;
}

}  // namespace emu_probe
