// The per-block working arrays of the chunked prefill kernels
// (chunked_prefill_kernel.cu), one layout per pass: where each array lives, in shared
// memory or in the block's slice of a global workspace, at which byte offset. Arrays
// whose lifetimes (the pass's phases between block barriers, below) do not overlap
// share bytes. Plain C++ so the CPU tests check it without a device. Offsets are 32-bit
// (a Region is passed to every block as a kernel parameter and added to a pointer in
// the kernel); make_chunked_layout refuses, with std::invalid_argument, a chunk / width
// whose arrays would need an offset or a per-block workspace of 2^32 bytes or more,
// instead of wrapping.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "chunk_math.hpp"

namespace dfw {

constexpr int kChunkedWarps = 8;             // warps per block (MMA tiles one per warp)
constexpr int kChunkedTile = kChunkSub;      // 16: MMA tile edge = sub-chunk length

// The two chunk-parallel passes: the state pass (each chunk's own state contribution
// from a zero state, and its decay totals) and the output pass (each chunk's outputs
// from the state entering it, which it reads from global memory).
enum class ChunkedPass { state, output };

// The phases of a pass, in the kernel's order; a block barrier separates each from the
// next, so an array written in one phase may take the bytes of arrays last read in an
// earlier one. The numbers are the kernel's steps (chunked_prefill_kernel.cu).
enum ChunkedPhase : int {
  kPhaseLoad = 0,     // 1. raw rows X; phi(q), phi(k), v, gates
  kPhaseDiagonal,     // 2. (output) diagonal scores D, then Y
  kPhaseExponent,     // 3. prefix / suffix exponentials, log totals TA, TB
  kPhaseKeys,         // 4. Qs and K e^{SB} (output); K and V operands and decay totals (state)
  kPhaseValues,       // 4b. (output) V e^{SA}, e^{midA} of sub-chunk pairs
  kPhaseScores,       // 5. (output) P_IJ through the per-warp QJ; (state) dS = Vx^T Kx
  kPhaseOutputs,      // 6-7. (output) Y += e^{PA} (...), the outputs
};

struct ChunkedRegion {
  uint32_t offset = 0;  // bytes from the start of shared memory or of the block's workspace slice
  bool global = false;
};

// np = chunk rounded up to 16, ns = np / 16 sub-chunks, mp / rp = m / rows rounded
// up to 16 (zero padding). A region its pass does not use is empty (offset 0, never read).
// qs_ld: the row stride of the output pass's incoming-state operand Qs, mp + 4
// floats, so that a tf32 A-fragment load (8 rows x 4 columns a warp) meets 32 banks.
// ke_ld, ve_ld, pe_ld: the row strides, in elements, of the fp16 / bf16 tiles KE, VE (and
// the per-warp QJ, as KE) and PE, padded by 8 elements (16 bytes) so the 8 rows an
// ldmatrix matrix reads fall in 8 different 16-byte bank groups.
struct ChunkedLayout {
  int np = 0, ns = 0, pairs = 0, mp = 0, rp = 0, qs_ld = 0, ke_ld = 0, ve_ld = 0, pe_ld = 0;
  ChunkedRegion X, Qf, Kf, Vf, Ga, Gb, Qs, Y, D, TA, TB, MA, KE, VE, PE, QJ;
  std::size_t shared_bytes = 0;  // dynamic shared memory per block
  std::size_t global_bytes = 0;  // workspace per block (0: everything in shared memory)
};

inline std::size_t align128(std::size_t x) { return (x + 127) / 128 * 128; }

// One array to place: its bytes and the phases from its first write to its last read.
struct ChunkedArray {
  ChunkedRegion* region;
  std::size_t bytes;
  int first, last;
};

// Offsets for `arrays` in one space so that arrays live in a common phase never share
// a byte. An order of the arrays gives a plan by first fit: each at the lowest
// 128-byte-aligned offset clear of every placed array whose lifetime meets its own.
// From two starting orders (largest first; earliest first write, then largest) a
// descent swaps two arrays of the order while that shrinks the plan (first fit in one
// greedy order leaves gaps a slightly larger array cannot use: at C = 64, d = m = 128 the
// output pass needs 253,952 bytes largest-first and 219,136 after the descent, which is
// the largest sum of arrays live in one phase, so no plan is smaller). The smaller plan
// is kept; returns the bytes it needs.
inline std::size_t plan_chunked_space(const std::vector<ChunkedArray>& arrays) {
  const std::size_t count = arrays.size();
  std::vector<std::size_t> begin(count), best_begin(count);
  auto first_fit = [&](const std::vector<std::size_t>& order) {
    std::size_t total = 0;
    for (std::size_t placed = 0; placed < count; ++placed) {
      const ChunkedArray& a = arrays[order[placed]];
      const std::size_t size = align128(a.bytes);
      std::size_t at = 0;
      for (bool moved = true; moved;) {  // past every live placed array it meets, until none
        moved = false;
        for (std::size_t k = 0; k < placed; ++k) {
          const ChunkedArray& p = arrays[order[k]];
          const std::size_t pb = begin[order[k]], pe = pb + align128(p.bytes);
          if (p.first <= a.last && a.first <= p.last && at < pe && pb < at + size) at = pe, moved = true;
        }
      }
      begin[order[placed]] = at;
      total = std::max(total, at + size);
    }
    return total;
  };
  std::size_t best = SIZE_MAX;
  for (int start = 0; start < 2; ++start) {
    std::vector<std::size_t> order(count);
    for (std::size_t k = 0; k < count; ++k) order[k] = k;
    // Ties in list order (std::sort with the index as the last key: stable_sort's buffer
    // comes from a nothrow new that a test replacing operator new does not see).
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
      if (start == 1 && arrays[x].first != arrays[y].first) return arrays[x].first < arrays[y].first;
      if (arrays[x].bytes != arrays[y].bytes) return arrays[x].bytes > arrays[y].bytes;
      return x < y;
    });
    std::size_t size = first_fit(order);
    for (bool better = true; better;) {
      better = false;
      for (std::size_t i = 0; i < count; ++i)
        for (std::size_t j = i + 1; j < count; ++j) {
          std::swap(order[i], order[j]);
          const std::size_t swapped = first_fit(order);
          if (swapped < size) size = swapped, better = true;
          else std::swap(order[i], order[j]);
        }
    }
    first_fit(order);
    if (size < best) best = size, best_begin = begin;
  }
  for (std::size_t k = 0; k < count; ++k)
    arrays[k].region->offset = uint32_t(best_begin[k]);  // checked against 2^32 by the caller
  return count == 0 ? 0 : best;
}

// The arrays of `pass` for a layout whose sizes (np, ns, pairs, mp, rp and the strides)
// are set, each with its bytes (0: the pass does not use it) and its lifetime. The order
// is the spill priority: the end of the list leaves shared memory first.
inline std::vector<ChunkedArray> chunked_arrays(ChunkedLayout& l, ChunkedPass pass, int dk, std::size_t elem) {
  const std::size_t f = sizeof(float), np = std::size_t(l.np), ns = std::size_t(l.ns), mp = l.mp, rp = l.rp;
  const std::size_t pairs = l.pairs > 0 ? std::size_t(l.pairs) : 1, tile = kChunkedTile;
  const bool out = pass == ChunkedPass::output;
  const int values_at = out ? kPhaseValues : kPhaseKeys;  // the state pass makes both operands in one phase
  return {
      // per warp (16, ke_ld): Q_I e^{PB + mid} of the pair a warp scores
      {&l.QJ, out ? elem * kChunkedWarps * tile * std::size_t(l.ke_ld) : 0, kPhaseScores, kPhaseScores},
      {&l.TA, f * ns * rp, kPhaseExponent, out ? kPhaseOutputs : kPhaseKeys},  // (ns, rp) log totals of sub-chunks
      {&l.TB, f * ns * mp, kPhaseExponent, out ? kPhaseScores : kPhaseKeys},   // (ns, mp)
      {&l.D, out ? f * np * tile : 0, kPhaseDiagonal, kPhaseDiagonal},         // (np, 16) diagonal scores d_i[j]
      // (np, ke_ld) output: K e^{SB}; state: K e^{SB + after}
      {&l.KE, elem * np * std::size_t(l.ke_ld), kPhaseKeys, kPhaseScores},
      // (np, ve_ld) output: V e^{SA}; state: V e^{SA + after}
      {&l.VE, elem * np * std::size_t(l.ve_ld), values_at, out ? kPhaseOutputs : kPhaseScores},
      // (pairs, 16, pe_ld) scores of earlier sub-chunks
      {&l.PE, out ? elem * pairs * tile * std::size_t(l.pe_ld) : 0, kPhaseScores, kPhaseOutputs},
      {&l.MA, out ? f * pairs * rp : 0, kPhaseValues, kPhaseOutputs},  // (pairs, rp) e^{midA} per (I, J)
      {&l.Qs, out ? f * np * std::size_t(l.qs_ld) : 0, kPhaseKeys, kPhaseOutputs},  // (np, qs_ld) Q e^{PB + before}
      {&l.Qf, out ? f * np * mp : 0, kPhaseLoad, kPhaseScores},  // (np, mp) phi(q), then phi(q) e^{PB}
      {&l.Kf, f * np * mp, kPhaseLoad, kPhaseKeys},              // (np, mp) c phi(k), then * e^{SB}
      {&l.Vf, f * np * rp, kPhaseLoad, values_at},               // (np, rp) v (1 in the z column), then * e^{SA}
      {&l.Ga, f * np * rp, kPhaseLoad, out ? kPhaseOutputs : kPhaseExponent},  // (np, rp) value gates, then e^{PA}
      {&l.Gb, f * np * mp, kPhaseLoad, kPhaseExponent},          // (np, mp) key-side gates
      {&l.Y, out ? f * np * rp : 0, kPhaseDiagonal, kPhaseOutputs},     // (np, rp) outputs
      {&l.X, f * np * (std::size_t(dk) + 1), kPhaseLoad, kPhaseLoad},  // (np, dk) raw q / k rows, then |x|^2 (np)
  };
}

// The layout of `pass`: every array in shared memory while the plan fits shared_budget
// (the device's per-block opt-in limit); past it the lowest-priority arrays move, one at
// a time, to the workspace slice, planned the same way. elem: bytes of an fp16 / bf16
// tile element. Throws std::invalid_argument when an offset would reach 2^32.
inline ChunkedLayout plan_chunked_layout(ChunkedPass pass, int chunk_len, int dk, int m, int rows, std::size_t elem,
                                         std::size_t shared_budget) {
  constexpr int kTile = kChunkedTile;
  constexpr std::size_t kLimit = std::size_t(1) << 32;
  // Sizes in 64 bits: a chunk near INT32_MAX must be refused, not wrap.
  const int64_t np = (int64_t(chunk_len) + kTile - 1) / kTile * kTile, ns = np / kTile, pairs = ns * (ns - 1) / 2;
  auto refuse = [&] {
    return std::invalid_argument("chunked prefill kernel: chunk " + std::to_string(chunk_len) + " with dk = " +
                                 std::to_string(dk) + ", m = " + std::to_string(m) + ", rows = " +
                                 std::to_string(rows) + " needs a per-block workspace of 4 GiB or more (32-bit "
                                 "offsets); use a smaller chunk");
  };
  if (pairs > INT32_MAX) throw refuse();  // the scores PE alone would pass 2^32 bytes many times over
  ChunkedLayout l;
  l.np = int(np);
  l.ns = int(ns);
  l.pairs = int(pairs);
  l.mp = (m + kTile - 1) / kTile * kTile;
  l.rp = (rows + kTile - 1) / kTile * kTile;
  l.qs_ld = l.mp + 4;
  l.ke_ld = l.mp + 8;
  l.ve_ld = l.rp + 8;
  l.pe_ld = kTile + 8;
  std::vector<ChunkedArray> shared = chunked_arrays(l, pass, dk, elem), global;
  shared.erase(std::remove_if(shared.begin(), shared.end(), [](const ChunkedArray& a) { return a.bytes == 0; }),
               shared.end());
  if (std::any_of(shared.begin(), shared.end(), [&](const ChunkedArray& a) { return a.bytes >= kLimit; }))
    throw refuse();
  l.shared_bytes = plan_chunked_space(shared);
  while (l.shared_bytes > shared_budget) {
    global.insert(global.begin(), shared.back());
    shared.pop_back();
    l.shared_bytes = plan_chunked_space(shared);
  }
  l.global_bytes = plan_chunked_space(global);
  for (const ChunkedArray& a : global) a.region->global = true;
  if (l.global_bytes >= kLimit) throw refuse();
  return l;
}

// plan_chunked_layout, computed once per distinct argument list (the descent takes
// about a quarter of a millisecond, too long to repeat at every launch); thread-safe.
inline ChunkedLayout make_chunked_layout(ChunkedPass pass, int chunk_len, int dk, int m, int rows, std::size_t elem,
                                         std::size_t shared_budget) {
  using Key = std::tuple<ChunkedPass, int, int, int, int, std::size_t, std::size_t>;
  static std::mutex mutex;
  static std::map<Key, ChunkedLayout> planned;
  const Key key{pass, chunk_len, dk, m, rows, elem, shared_budget};
  {
    const std::lock_guard<std::mutex> lock(mutex);
    const auto found = planned.find(key);
    if (found != planned.end()) return found->second;
  }
  const ChunkedLayout l = plan_chunked_layout(pass, chunk_len, dk, m, rows, elem, shared_budget);
  const std::lock_guard<std::mutex> lock(mutex);
  return planned.emplace(key, l).first->second;
}

// The chunked form's workspace beside the blocks' slices: every chunk's state (rp x mp
// floats: S_c after the scan) and decay totals (rp + mp floats), for BH heads of T
// tokens in chunks of `chunk` (clamped to T), each array 256-byte aligned. The kernel's
// launch plan and the harness's memory plan both take it from here.
struct ChunkStateBytes {
  int C = 0;            // the chunk length used
  int64_t chunks = 0;   // chunks per head
  std::size_t states = 0, decay = 0;
};
inline ChunkStateBytes chunk_state_bytes(int64_t BH, int64_t T, int64_t chunk, int rows, int m) {
  ChunkStateBytes w;
  w.C = int(std::min<int64_t>(chunk, std::max<int64_t>(T, 1)));
  w.chunks = (T + w.C - 1) / w.C;
  const std::size_t slots = std::size_t(BH * w.chunks), f = sizeof(float);
  const std::size_t rp = std::size_t((rows + kChunkedTile - 1) / kChunkedTile * kChunkedTile);
  const std::size_t mp = std::size_t((m + kChunkedTile - 1) / kChunkedTile * kChunkedTile);
  auto align256 = [](std::size_t x) { return (x + 255) / 256 * 256; };
  w.states = align256(slots * rp * mp * f);
  w.decay = align256(slots * (rp + mp) * f);
  return w;
}

}  // namespace dfw
