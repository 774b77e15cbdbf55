// The emulated CUDA device against what the CUDA documentation specifies:
// shuffle and vote results, barrier predicates, NaN-poisoned dynamic shared
// memory, the 48 KiB / 227 KiB shared-memory limits, wmma tiles for fp16, bf16
// and tf32 in every layout against a float64 product, fragment lane layouts
// against the PTX ISA's tables, the mma.sync tf32 product of kernels/mma_tf32.cuh, and the faults a wrong
// kernel gets (divergent barrier, exit before a barrier, a half-warp shuffle
// with a full mask, misaligned or badly strided wmma, cp.async outside its spaces,
// unaligned or never waited for) as sticky launch failures that cudaDeviceReset
// clears; cp.async's src-size zero fill and wait_group completion order.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <utility>

#include "emu_probe_kernels.cuh"
#include "mma.h"

namespace {

TEST(EmuDevice, ShufflesAndBallotFollowTheirDefinitions) {
  const std::vector<int> r = emu_probe::warp_ops();
  for (int l = 0; l < 32; ++l) {
    EXPECT_EQ(r[l], l ^ 1);
    EXPECT_EQ(r[32 + l], (l & ~7) + 3);
    EXPECT_EQ(r[64 + l], l >= 2 ? l - 2 : l);
    EXPECT_EQ(r[96 + l], l + 5 < 32 ? l + 5 : l);
    EXPECT_EQ(unsigned(r[128 + l]), 0xaaaaaaaau);
  }
}

TEST(EmuDevice, BarrierPredicatesCountTheBlock) {
  for (int threads : {32, 100, 1024}) {
    const std::vector<int> r = emu_probe::barrier_votes(threads);
    EXPECT_EQ(r[0], (threads + 2) / 3) << threads;
    EXPECT_EQ(r[1], 0) << threads;
    EXPECT_EQ(r[2], 1) << threads;
  }
}

// Counts below 2^24 are exact in float: a lost update would show.
TEST(EmuDevice, AtomicAddLosesNoUpdateAcrossBlocks) {
  const std::vector<double> r = emu_probe::atomic_totals(64);
  EXPECT_EQ(r[0], 64.0 * 128);
  EXPECT_EQ(r[1], 64.0 * 128);
}

TEST(EmuDevice, DynamicSharedMemoryStartsAsNaN) { EXPECT_EQ(emu_probe::unwritten_shared_nans(1000), 1000); }

TEST(EmuDevice, SharedMemoryLimitsAreTheDevices) {
  EXPECT_EQ(emu_probe::launch_with_shared(48 * 1024, 0), cudaSuccess);
  EXPECT_EQ(emu_probe::launch_with_shared(48 * 1024 + 4, 0), cudaErrorInvalidValue);
  EXPECT_EQ(emu_probe::launch_with_shared(227 * 1024, 227 * 1024), cudaSuccess);
  EXPECT_EQ(emu_probe::launch_with_shared(100 * 1024, 64 * 1024), cudaErrorInvalidValue);
  EXPECT_EQ(emu_probe::launch_with_shared(16, 227 * 1024 + 1), cudaErrorInvalidValue);
  int optin = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
  EXPECT_EQ(optin, 227 * 1024);
}

// Rounds x to the operand type as the tensor core sees it.
float as_operand(const std::string& type, float x) {
  if (type == "fp16") return __half2float(__float2half_rn(x));
  if (type == "bf16") return __bfloat162float(__float2bfloat16_rn(x));
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u &= 0xffffe000u;  // tf32: the low 13 mantissa bits are not read
  std::memcpy(&x, &u, 4);
  return x;
}

TEST(EmuDevice, WmmaTilesMatchAFloat64ProductInEveryLayout) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  for (const std::string type : {"fp16", "bf16", "tf32"}) {
    const int K = type == "tf32" ? 8 : 16;
    std::vector<float> a(16 * K), b(K * 16), c(256);
    for (float& x : a) x = dist(rng);
    for (float& x : b) x = dist(rng);
    for (float& x : c) x = dist(rng);
    for (bool a_col : {false, true})
      for (bool b_col : {false, true}) {
        const std::vector<float> d = emu_probe::wmma_tile(type, a, b, c, a_col, b_col);
        for (int i = 0; i < 16; ++i)
          for (int j = 0; j < 16; ++j) {
            double want = c[i * 16 + j];
            for (int k = 0; k < K; ++k) {
              const float av = a_col ? a[k * 16 + i] : a[i * K + k];
              const float bv = b_col ? b[j * K + k] : b[k * 16 + j];
              want += double(as_operand(type, av)) * as_operand(type, bv);
            }
            EXPECT_NEAR(d[i * 16 + j], want, 1e-4 * (1 + std::fabs(want)))
                << type << " a_col " << a_col << " b_col " << b_col << " at " << i << "," << j;
          }
      }
  }
}

// Fragment layouts transcribed from the PTX ISA tables (mma.m16n8k16 / m16n8k8), and
// each layout covers its tile exactly once.
TEST(EmuDevice, FragmentLanesFollowThePtxTables) {
  namespace w = nvcuda::wmma;
  int r = 0, c = 0;
  w::detail::coords<w::accumulator, 16>(5, 2, r, c);  // c2: row groupID + 8, col 2 * tid + 0
  EXPECT_EQ(std::make_pair(r, c), std::make_pair(9, 2));
  w::detail::coords<w::matrix_a, 16>(5, 4, r, c);  // a4: row groupID, col 2 * tid + 8
  EXPECT_EQ(std::make_pair(r, c), std::make_pair(1, 10));
  w::detail::coords<w::matrix_b, 16>(5, 2, r, c);  // b2: row 2 * tid + 8, col groupID
  EXPECT_EQ(std::make_pair(r, c), std::make_pair(10, 1));
  w::detail::coords<w::matrix_a, 8>(5, 2, r, c);  // tf32 a2: row groupID, col tid + 4
  EXPECT_EQ(std::make_pair(r, c), std::make_pair(1, 5));
  w::detail::coords<w::matrix_b, 8>(5, 1, r, c);  // tf32 b1: row tid + 4, col groupID
  EXPECT_EQ(std::make_pair(r, c), std::make_pair(5, 1));
  auto covers = [](auto coords_of, int rows, int cols) {
    std::set<std::pair<int, int>> seen;
    for (int l = 0; l < 32; ++l)
      for (int e = 0; e < rows * cols / 32; ++e) {
        int rr = 0, cc = 0;
        coords_of(l, e, rr, cc);
        if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) return false;
        seen.insert({rr, cc});
      }
    return int(seen.size()) == rows * cols;
  };
  EXPECT_TRUE(covers(w::detail::coords<w::accumulator, 16>, 16, 16));
  EXPECT_TRUE(covers(w::detail::coords<w::matrix_a, 16>, 16, 16));
  EXPECT_TRUE(covers(w::detail::coords<w::matrix_b, 16>, 16, 16));
  EXPECT_TRUE(covers(w::detail::coords<w::matrix_a, 8>, 16, 8));
  EXPECT_TRUE(covers(w::detail::coords<w::matrix_b, 8>, 8, 16));
}

// mma.sync m16n8k8 tf32 (kernels/mma_tf32.cuh) on the emulated device: the fragments
// placed by the PTX ISA's tables as the probe transcribes them, and by mma_tf32.cuh's
// loaders, both give the exact product of small integers; an operand between two tf32
// values is rounded to the nearer, ties away from zero, as cvt.rna.tf32.f32 does.
TEST(EmuDevice, MmaTf32FragmentsFollowThePtxTables) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> small(-4, 4);
  std::vector<float> a(128), bt(64), c(128);
  for (float& x : a) x = float(small(gen));
  for (float& x : bt) x = float(small(gen));
  for (float& x : c) x = float(small(gen));
  std::vector<float> want(128);
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      float s = c[i * 8 + j];
      for (int k = 0; k < 8; ++k) s += a[i * 8 + k] * bt[j * 8 + k];
      want[i * 8 + j] = s;
    }
  EXPECT_EQ(emu_probe::mma_tf32_tile(a, bt, c, false), want) << "transcribed tables";
  EXPECT_EQ(emu_probe::mma_tf32_tile(a, bt, c, true), want) << "mma_tf32.cuh loaders";

  std::vector<float> one(128, 0.f), id(64, 0.f), zero(128, 0.f);
  for (int k = 0; k < 8; ++k) id[k * 8 + k] = 1.f;  // B = I
  one[0] = 1.f + std::ldexp(1.f, -11);               // half a tf32 step above 1: ties away
  one[1] = 1.f + std::ldexp(1.f, -12);               // a quarter step: down to 1
  one[2] = -(1.f + 3 * std::ldexp(1.f, -11));        // 1.5 steps: away, to -(1 + 2^-9)
  const auto d = emu_probe::mma_tf32_tile(one, id, zero, true);
  EXPECT_EQ(d[0], 1.f + std::ldexp(1.f, -10));
  EXPECT_EQ(d[1], 1.f);
  EXPECT_EQ(d[2], -(1.f + std::ldexp(1.f, -9)));
}

// mma.sync m16n8k16 fp16 / bf16 with ldmatrix loads (kernels/mma_f16.cuh) on the emulated
// device: registers placed by the PTX ISA's tables as the probe transcribes them, and
// tiles loaded by mma_f16.cuh's loaders (A and B each stored either way round, from
// shared memory by ldmatrix or from global memory element by element), all give the
// exact product of small integers.
TEST(EmuDevice, MmaF16MatchesThePtxTables) {
  std::mt19937 gen(11);
  std::uniform_int_distribution<int> small(-4, 4);
  std::vector<float> a(256), b(256), want(256, 0.f);
  for (float& x : a) x = float(small(gen));
  for (float& x : b) x = float(small(gen));
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      for (int k = 0; k < 16; ++k) want[i * 16 + j] += a[i * 16 + k] * b[k * 16 + j];
  for (const std::string type : {"fp16", "bf16"}) {
    EXPECT_EQ(emu_probe::mma_f16_tile(type, a, b, {}), want) << type << ": transcribed tables";
    for (const bool in_global : {false, true})
      for (const bool a_cols : {false, true})
        for (const bool b_cols : {false, true})
          EXPECT_EQ(emu_probe::mma_f16_tile(type, a, b, {true, a_cols, b_cols, in_global}), want)
              << type << (in_global ? ", element loads" : ", ldmatrix") << (a_cols ? ", A transposed" : ", A rows")
              << (b_cols ? ", B transposed" : ", B rows");
  }
}

// A faulting kernel leaves the sticky launch failure until cudaDeviceReset.
void expect_fault(cudaError_t e) {
  EXPECT_EQ(e, cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure) << "the error is sticky";
  EXPECT_EQ(cudaDeviceReset(), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(EmuDevice, DivergentBarrierIsAFault) {
  testing::internal::CaptureStderr();
  expect_fault(emu_probe::divergent_barrier());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("divergent barrier"), std::string::npos) << err;
  EXPECT_NE(err.find("emu_probe_kernels.cu:"), std::string::npos) << "names the .cu lines: " << err;
}

TEST(EmuDevice, ExitBeforeABarrierIsAFault) {
  testing::internal::CaptureStderr();
  expect_fault(emu_probe::exit_before_barrier());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("never arrive"), std::string::npos) << err;
}

TEST(EmuDevice, HalfWarpShuffleWithAFullMaskIsAFault) {
  testing::internal::CaptureStderr();
  expect_fault(emu_probe::half_warp_shuffle());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("__shfl_xor_sync"), std::string::npos) << err;
  EXPECT_NE(err.find("0xffffffff"), std::string::npos) << err;
}

TEST(EmuDevice, WmmaChecksAlignmentAndStride) {
  testing::internal::CaptureStderr();
  expect_fault(emu_probe::misaligned_wmma_load());
  expect_fault(emu_probe::odd_ldm_wmma_load());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("not 32-byte aligned"), std::string::npos) << err;
  EXPECT_NE(err.find("ldm = 12 elements (24 bytes)"), std::string::npos) << err;
}

TEST(EmuDevice, LdmatrixFromGlobalMemoryIsAFault) {
  testing::internal::CaptureStderr();
  expect_fault(emu_probe::ldmatrix_from_global());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("not in the block's shared memory"), std::string::npos) << err;
}

// cp.async as the PTX ISA specifies it: the src-size bytes are copied and the rest of the
// cp-size (16) zero-filled; wait_group N completes all but the N most recent groups of
// this thread; other threads see the bytes after a barrier that follows the wait. Before
// its wait a copy's destination is undefined, which the emulator makes NaN.
TEST(EmuDevice, CpAsyncCopiesZeroFillsAndCompletesByGroup) {
  std::vector<float> src(256);
  for (int i = 0; i < 256; ++i) src[i] = float(i + 1);
  const std::vector<float> out = emu_probe::cp_async_groups(src);
  ASSERT_EQ(out.size(), 512u);
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) {
      const int a_floats = l % 4 == 3 ? 0 : l % 4 == 2 ? 2 : 4;
      const float a = i < a_floats ? src[4 * l + i] : 0.f;
      EXPECT_EQ(out[4 * l + i], a) << "group A after wait_group 1, lane " << l << " float " << i;
      EXPECT_TRUE(std::isnan(out[128 + 4 * l + i])) << "group B before its wait, lane " << l;
      EXPECT_EQ(out[256 + 4 * l + i], src[128 + 4 * l + i]) << "group B after wait_group 0, lane " << l;
      const int next = (l + 1) % 32, next_floats = next % 4 == 3 ? 0 : next % 4 == 2 ? 2 : 4;
      EXPECT_EQ(out[384 + 4 * l + i], i < next_floats ? src[4 * next + i] : 0.f) << "lane " << next << "'s chunk";
    }
}

TEST(EmuDevice, CpAsyncOutsideItsSpacesUnalignedOrNeverWaitedIsAFault) {
  testing::internal::CaptureStderr();
  expect_fault(emu_probe::cp_async_to_global());
  expect_fault(emu_probe::cp_async_misaligned());
  expect_fault(emu_probe::cp_async_never_waited());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("cp.async: destination is not in the block's shared memory"), std::string::npos) << err;
  EXPECT_NE(err.find("cp.async: source not 16-byte aligned"), std::string::npos) << err;
  EXPECT_NE(err.find("never waited for"), std::string::npos) << err;
}

TEST(EmuDevice, AMissingBarrierIsSeenInEverySchedule) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the kernel without a barrier races on purpose; ThreadSanitizer reports it";
#else
  EXPECT_EQ(emu_probe::neighbour_reads(true), 64);
  EXPECT_LT(emu_probe::neighbour_reads(false), 64) << "the first thread run reads an unwritten (NaN) slot";
#endif
}

TEST(EmuDevice, CopiesCheckDeviceSides) {
  std::vector<float> host(4, 1.f);
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, 4 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, host.data(), 16, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), d, 16, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(d, host.data(), 20, cudaMemcpyHostToDevice), cudaErrorInvalidValue) << "past the end";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "an ordinary error is not sticky";
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  void* huge = nullptr;
  EXPECT_EQ(cudaMalloc(&huge, std::size_t(1) << 45), cudaErrorMemoryAllocation);
  cudaGetLastError();
}

}  // namespace
