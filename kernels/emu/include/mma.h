// nvcuda::wmma on the emulated device (found before CUDA's own mma.h, which a
// host compiler sees empty): fragments for half, bf16 (m16n16k16) and tf32
// (m16n16k8) with an fp32 accumulator. Loads, stores and mma_sync are warp
// collectives: all 32 lanes must call them with the same pointer and ldm; the
// pointer must be 32-byte aligned and ldm a multiple of 16 bytes, as on the
// device. Lanes hold the elements the PTX ISA's mma.m16n8k16 / m16n8k8 fragment
// tables give them (coords()); loads and stores move each lane's own elements
// (no warp-wide memory ordering: a lane reading what another lane stored needs a
// __syncwarp, here as on the device); mma_sync exchanges fragments warp-wide,
// multiplies exactly in fp32 (tf32 inputs keep their top 10 mantissa bits, as
// the tensor cores read them) and accumulates in fp32. Below nvcuda::wmma, the
// mma.sync m16n8k8 tf32 product and cvt.rna.tf32 that kernels/mma_tf32.cuh issues,
// and the mma.sync m16n8k16 fp16 / bf16 product and ldmatrix of kernels/mma_f16.cuh.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "emu_device.hpp"

namespace nvcuda {
namespace wmma {

struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
namespace precision {
struct tf32 {};
}  // namespace precision

namespace detail {

template <class T>
struct storage {
  using type = T;
};
template <>
struct storage<precision::tf32> {
  using type = float;
};

// Rows and columns of the tile a fragment holds.
template <class Use, int M, int N, int K>
struct shape;
template <int M, int N, int K>
struct shape<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct shape<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct shape<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

inline float to_float(float x) { return x; }
inline float to_float(__half x) { return __half2float(x); }
inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class E>
E from_float(float x);
template <>
inline float from_float<float>(float x) {
  return x;
}
template <>
inline __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// The value a tensor core reads from a tf32 operand: the low 13 mantissa bits dropped.
inline float tf32_truncate(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u &= 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}

template <class T>
struct is_row_major : std::true_type {};
template <>
struct is_row_major<col_major> : std::false_type {};

// One lane's part of a load or store: its fragment and the (uniform) memory operand.
struct TileIo {
  void* frag;
  void* ptr;
  unsigned ldm;
  bool row_major;
};

// Same pointer, ldm and layout in every lane; 32-byte alignment; ldm a multiple of 16 bytes.
void check_tile_io(const char* what, void* const* lanes, std::size_t elem_bytes);

// The uniformity, alignment and stride checks, run once every lane has arrived.
template <class MemT, bool kStore>
DFW_EMU_UNSEEN_BY_TSAN void check_complete(void* const* lanes, unsigned) {
  check_tile_io(kStore ? "wmma::store_matrix_sync" : "wmma::load_matrix_sync", lanes, sizeof(MemT));
}

// The (row, column) of element e of `lane`'s fragment: the lane layout of the PTX ISA's
// mma.m16n8k16 (fp16 / bf16) and mma.m16n8k8 (tf32) fragments, which sm_80+ wmma
// tiles are made of (a 16-wide B or C/D tile is two n8 tiles side by side);
// g = lane / 4 (the group), t = lane % 4 (the thread in the group).
template <class Use, int K>
void coords(int lane, int e, int& r, int& c) {
  const int g = lane >> 2, t = lane & 3;
  if (std::is_same<Use, accumulator>::value) {  // c0..c3 per n8 tile
    r = g + 8 * ((e & 3) >> 1);
    c = 8 * (e >> 2) + 2 * t + (e & 1);
  } else if (std::is_same<Use, matrix_a>::value) {
    if (K == 16) {  // a0..a7
      r = g + 8 * ((e >> 1) & 1);
      c = 2 * t + (e & 1) + 8 * (e >> 2);
    } else {  // tf32 a0..a3
      r = g + 8 * (e & 1);
      c = t + 4 * (e >> 1);
    }
  } else {
    if (K == 16) {  // b0..b3 per n8 tile
      r = 2 * t + (e & 1) + 8 * ((e & 3) >> 1);
      c = 8 * (e >> 2) + g;
    } else {  // tf32 b0, b1 per n8 tile
      r = t + 4 * (e & 1);
      c = 8 * (e >> 1) + g;
    }
  }
}

template <class Frag>
std::size_t offset(int lane, int e, unsigned ldm, bool row_major) {
  int r, c;
  coords<typename Frag::use, Frag::k>(lane, e, r, c);
  return row_major ? std::size_t(r) * ldm + c : std::size_t(c) * ldm + r;
}

// Each lane reads its own elements as it reaches the load and writes its own after the
// store's checks, as the device's per-lane loads and stores do: a lane reading what
// another lane stored needs a __syncwarp in between, here as on the device.
template <class Frag, class MemT>
void load_lane(Frag& f, const MemT* p, unsigned ldm, bool row_major) {
  const int lane = int(::emu::g_current->lane);
  for (int e = 0; e < Frag::num_elements; ++e)
    f.x[e] = from_float<typename Frag::element_type>(to_float(p[offset<Frag>(lane, e, ldm, row_major)]));
}

template <class Frag>
void store_lane(float* p, const Frag& f, unsigned ldm, bool row_major) {
  const int lane = int(::emu::g_current->lane);
  for (int e = 0; e < Frag::num_elements; ++e) p[offset<Frag>(lane, e, ldm, row_major)] = f.x[e];
}

// One lane's part of mma_sync: its four fragments.
struct MmaLane {
  void* d;
  const void *a, *b, *c;
};

template <class FragD, class FragA, class FragB, class FragC, bool kTf32>
DFW_EMU_UNSEEN_BY_TSAN void mma_complete(void* const* lanes, unsigned) {
  constexpr int M = FragD::rows, N = FragD::cols, K = FragA::cols;
  float A[M * K], B[K * N], C[M * N];
  int r, c;
  for (int l = 0; l < 32; ++l) {
    const auto* m = static_cast<const MmaLane*>(lanes[l]);
    for (int e = 0; e < FragA::num_elements; ++e) {
      coords<matrix_a, K>(l, e, r, c);
      A[r * K + c] = to_float(static_cast<const FragA*>(m->a)->x[e]);
    }
    for (int e = 0; e < FragB::num_elements; ++e) {
      coords<matrix_b, K>(l, e, r, c);
      B[r * N + c] = to_float(static_cast<const FragB*>(m->b)->x[e]);
    }
    for (int e = 0; e < FragC::num_elements; ++e) {
      coords<accumulator, K>(l, e, r, c);
      C[r * N + c] = static_cast<const FragC*>(m->c)->x[e];
    }
  }
  if (kTf32) {
    for (float& x : A) x = tf32_truncate(x);
    for (float& x : B) x = tf32_truncate(x);
  }
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float acc = C[i * N + j];
      for (int k = 0; k < K; ++k) acc += A[i * K + k] * B[k * N + j];
      C[i * N + j] = acc;
    }
  for (int l = 0; l < 32; ++l) {
    auto* d = static_cast<FragD*>(static_cast<const MmaLane*>(lanes[l])->d);
    for (int e = 0; e < FragD::num_elements; ++e) {
      coords<accumulator, K>(l, e, r, c);
      d->x[e] = C[r * N + c];
    }
  }
}

}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment {
 public:
  using element_type = typename detail::storage<T>::type;
  using storage_element_type = element_type;
  using layout = Layout;
  using use = Use;
  static constexpr int k = K;
  static constexpr int rows = detail::shape<Use, M, N, K>::rows;
  static constexpr int cols = detail::shape<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols / 32;
  element_type x[num_elements];
};

// Round to nearest (ties away from zero) to tf32's 10 mantissa bits, kept in a float.
inline float __float_to_tf32(float x) {
  if (!std::isfinite(x)) return x;
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}

template <class Use, int M, int N, int K, class T, class Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, typename fragment<Use, M, N, K, T, Layout>::element_type v) {
  for (auto& x : f.x) x = v;
}

// matrix_a / matrix_b: the layout is the fragment's.
template <class Use, int M, int N, int K, class T, class Layout, class MemT>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const MemT* p, unsigned ldm,
                      const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  static_assert(!std::is_same<Use, accumulator>::value, "an accumulator load names its memory layout");
  const bool row = detail::is_row_major<Layout>::value;
  detail::TileIo io{&f, const_cast<MemT*>(p), ldm, row};
  detail::load_lane(f, p, ldm, row);
  ::emu::warp_collective("wmma::load_matrix_sync", 0xffffffffu, &io, &detail::check_complete<MemT, false>, file, line);
}

template <int M, int N, int K>
void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t layout,
                      const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  detail::TileIo io{&f, const_cast<float*>(p), ldm, layout == mem_row_major};
  detail::load_lane(f, p, ldm, layout == mem_row_major);
  ::emu::warp_collective("wmma::load_matrix_sync", 0xffffffffu, &io, &detail::check_complete<float, false>, file, line);
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout,
                       const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  detail::TileIo io{const_cast<fragment<accumulator, M, N, K, float>*>(&f), p, ldm, layout == mem_row_major};
  ::emu::warp_collective("wmma::store_matrix_sync", 0xffffffffu, &io, &detail::check_complete<float, true>, file, line);
  detail::store_lane(p, f, ldm, layout == mem_row_major);
}

template <int M, int N, int K, class T, class LA, class LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c,
              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using FD = fragment<accumulator, M, N, K, float>;
  detail::MmaLane me{&d, &a, &b, &c};
  ::emu::warp_collective(
      "wmma::mma_sync", 0xffffffffu, &me,
      &detail::mma_complete<FD, fragment<matrix_a, M, N, K, T, LA>, fragment<matrix_b, M, N, K, T, LB>, FD,
                            std::is_same<T, precision::tf32>::value>,
      file, line);
}

}  // namespace wmma
}  // namespace nvcuda

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 and cvt.rna.tf32.f32 as
// kernels/mma_tf32.cuh issues them: the lanes' registers become m16n8k8 fragments
// (the PTX ISA's lane layout, detail::coords) and meet in the same warp collective as
// wmma's mma_sync, which multiplies exactly in fp32 with the tf32 operands' low 13
// mantissa bits dropped and hands each lane its part of D.
namespace emu {

// One m16n8kK product from the lanes' registers (a: 4, b: 2, each 32 bits: a tf32 bit
// pattern read as the float it is, or two 16-bit elements, the lower index in the low
// half), copied into m16n8kK fragments of T for wmma's collective.
template <class T, int K>
void mma_from_registers(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2], const float (&c)[4],
                        const char* what, const char* file, int line) {
  namespace w = nvcuda::wmma;
  using FragA = w::fragment<w::matrix_a, 16, 8, K, T, w::row_major>;
  using FragB = w::fragment<w::matrix_b, 16, 8, K, T, w::col_major>;
  using FragC = w::fragment<w::accumulator, 16, 8, K, float>;
  static_assert(sizeof(FragA::x) == sizeof a && sizeof(FragB::x) == sizeof b, "the registers fill the fragments");
  FragA fa;
  FragB fb;
  FragC fc, fd;
  std::memcpy(fa.x, a, sizeof fa.x);
  std::memcpy(fb.x, b, sizeof fb.x);
  std::memcpy(fc.x, c, sizeof fc.x);
  w::detail::MmaLane me{&fd, &fa, &fb, &fc};
  warp_collective(
      what, 0xffffffffu, &me,
      &w::detail::mma_complete<FragC, FragA, FragB, FragC, std::is_same<T, w::precision::tf32>::value>, file, line);
  std::memcpy(d, fd.x, sizeof fd.x);
}

inline void mma_m16n8k8_tf32(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2],
                             const float (&c)[4], const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  mma_from_registers<nvcuda::wmma::precision::tf32, 8>(d, a, b, c, "mma.sync.m16n8k8.tf32", file, line);
}

// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16} as kernels/mma_f16.cuh issues it,
// multiplied exactly in fp32 in the same collective.
template <class E>
void mma_m16n8k16(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1,
                  const float (&c)[4], const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  const std::uint32_t b[2] = {b0, b1};
  mma_from_registers<E, 16>(d, a, b, c, "mma.sync.m16n8k16", file, line);
}

// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: the collective hands every lane the
// 32 row addresses (lanes 8i .. 8i + 7: matrix i's rows, each 16-byte aligned and in the
// block's shared memory, as the device requires, else a kernel fault); then each lane reads its own pairs, as the device's loads would:
// r[i] = (M_i[g][2t], M_i[g][2t + 1]), trans: (M_i[2t][g], M_i[2t + 1][g]).
struct LdmatrixLane {
  const void* row;
  const void* rows[32];
};

DFW_EMU_UNSEEN_BY_TSAN inline void ldmatrix_complete(void* const* lanes, unsigned) {
  for (int l = 0; l < 32; ++l) {
    const void* row = static_cast<const LdmatrixLane*>(lanes[l])->row;
    if (reinterpret_cast<std::uintptr_t>(row) % 16 != 0)
      kernel_fault("ldmatrix: lane " + std::to_string(l) + "'s row address is not 16-byte aligned");
    if (!in_dynamic_shared(row, 16))
      kernel_fault("ldmatrix: lane " + std::to_string(l) + "'s row is not in the block's shared memory");
    for (int j = 0; j < 32; ++j) static_cast<LdmatrixLane*>(lanes[j])->rows[l] = row;
  }
}

inline void ldmatrix_x4(std::uint32_t (&r)[4], const void* row, bool trans, const char* file = __builtin_FILE(),
                        int line = __builtin_LINE()) {
  LdmatrixLane me{row, {}};
  warp_collective(trans ? "ldmatrix.trans" : "ldmatrix", 0xffffffffu, &me, &ldmatrix_complete, file, line);
  const int lane = int(g_current->lane), g = lane >> 2, t = lane & 3;
  for (int i = 0; i < 4; ++i) {
    auto at = [&](int rr, int cc) { return static_cast<const std::uint16_t*>(me.rows[8 * i + rr])[cc]; };
    const std::uint32_t lo = trans ? at(2 * t, g) : at(g, 2 * t), hi = trans ? at(2 * t + 1, g) : at(g, 2 * t + 1);
    r[i] = lo | hi << 16;
  }
}

// cvt.rna.tf32.f32: nearest tf32, ties away from zero, as a 32-bit pattern.
inline std::uint32_t tf32_bits_rna(float x) {
  const float r = nvcuda::wmma::__float_to_tf32(x);
  std::uint32_t u;
  std::memcpy(&u, &r, 4);
  return u;
}

}  // namespace emu
