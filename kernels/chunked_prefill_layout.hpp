// The per-block working arrays of the chunked prefill kernels
// (chunked_prefill_kernel.cu), one layout per pass: where each array lives, in shared
// memory or in the block's slice of a global workspace, at which byte offset. Plain C++ so the CPU tests
// check it without a device. Offsets are 32-bit (a Region is passed to every block
// as a kernel parameter and added to a pointer in the kernel); make_chunked_layout
// refuses, with std::invalid_argument, a chunk / width whose arrays would need an
// offset or a per-block workspace of 2^32 bytes or more, instead of wrapping.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "chunk_math.hpp"

namespace dfw {

constexpr int kChunkedWarps = 8;             // warps per block (MMA tiles one per warp)
constexpr int kChunkedTile = kChunkSub;      // 16: MMA tile edge = sub-chunk length

// The two chunk-parallel passes: the state pass (each chunk's own state contribution
// from a zero state, and its decay totals) and the output pass (each chunk's outputs
// from the state entering it, which it reads from global memory).
enum class ChunkedPass { state, output };

struct ChunkedRegion {
  uint32_t offset = 0;  // bytes from the start of shared memory or of the block's workspace slice
  bool global = false;
};

// np = chunk rounded up to 16, ns = np / 16 sub-chunks, mp / rp = m / rows rounded
// up to 16 (zero padding). A region its pass does not use is empty (offset 0, never read).
// qs_ld: the row stride of the output pass's incoming-state operand Qs in Gb, mp + 4
// floats, so that a tf32 A-fragment load (8 rows x 4 columns a warp) meets 32 banks.
// ke_ld, ve_ld, pe_ld: the row strides, in elements, of the fp16 / bf16 tiles KE, VE (and
// the per-warp QJ, as KE) and PE, padded by 8 elements (16 bytes) so the 8 rows an
// ldmatrix matrix reads fall in 8 different 16-byte bank groups.
struct ChunkedLayout {
  int np = 0, ns = 0, pairs = 0, mp = 0, rp = 0, qs_ld = 0, ke_ld = 0, ve_ld = 0, pe_ld = 0;
  ChunkedRegion Qf, Kf, Vf, Ga, Gb, Y, D, TA, TB, MA, KE, VE, PE, QJ;
  std::size_t shared_bytes = 0;  // dynamic shared memory per block
  std::size_t global_bytes = 0;  // workspace per block (0: everything in shared memory)
};

inline std::size_t align128(std::size_t x) { return (x + 127) / 128 * 128; }

// The regions of `pass`. Each lives in shared memory while shared_budget (the
// device's per-block opt-in limit) allows, in priority order (the per-warp tiles
// first); the rest go to the workspace slice. elem: bytes of an fp16 / bf16 tile
// element. Throws std::invalid_argument when an offset would reach 2^32.
inline ChunkedLayout make_chunked_layout(ChunkedPass pass, int chunk_len, int dk, int m, int rows, std::size_t elem,
                                         std::size_t shared_budget) {
  constexpr int kTile = kChunkedTile;
  constexpr std::size_t kLimit = std::size_t(1) << 32;
  ChunkedLayout l;
  // Sizes in 64 bits: a chunk near INT32_MAX must be refused below, not wrap here.
  const int64_t np64 = (int64_t(chunk_len) + kTile - 1) / kTile * kTile, ns64 = np64 / kTile;
  const int64_t pairs64 = ns64 * (ns64 - 1) / 2;
  l.mp = (m + kTile - 1) / kTile * kTile;
  l.rp = (rows + kTile - 1) / kTile * kTile;
  l.qs_ld = l.mp + 4;
  l.ke_ld = l.mp + 8;
  l.ve_ld = l.rp + 8;
  l.pe_ld = kTile + 8;
  const std::size_t f = sizeof(float), np = std::size_t(np64), mp = l.mp, rp = l.rp;
  const std::size_t ke_ld = std::size_t(l.ke_ld), ve_ld = std::size_t(l.ve_ld), pe_ld = std::size_t(l.pe_ld);
  const std::size_t ns = std::size_t(ns64), pairs = pairs64 > 0 ? std::size_t(pairs64) : 1;
  const std::size_t y_elems = np * rp, x_elems = np * (std::size_t(dk) + 1);
  const bool out = pass == ChunkedPass::output;
  auto place = [&](ChunkedRegion& r, std::size_t bytes) {
    if (bytes == 0) return;
    std::size_t& at = l.shared_bytes + align128(bytes) <= shared_budget ? l.shared_bytes : l.global_bytes;
    r.global = &at == &l.global_bytes;
    if (at + align128(bytes) >= kLimit)
      throw std::invalid_argument("chunked prefill kernel: chunk " + std::to_string(chunk_len) + " with dk = " +
                                  std::to_string(dk) + ", m = " + std::to_string(m) + ", rows = " +
                                  std::to_string(rows) + " needs a per-block workspace of 4 GiB or more (32-bit "
                                  "offsets); use a smaller chunk");
    r.offset = uint32_t(at);
    at += align128(bytes);
  };
  place(l.QJ, out ? elem * kChunkedWarps * kTile * ke_ld : 0);  // per warp (16, ke_ld)
  place(l.TA, f * ns * rp);                          // (ns, rp) log totals of whole sub-chunks
  place(l.TB, f * ns * mp);                          // (ns, mp)
  place(l.D, out ? f * np * kTile : 0);              // (np, 16) diagonal scores d_i[j]
  place(l.KE, elem * np * ke_ld);                    // (np, ke_ld) output: K e^{SB}; state: K e^{SB + after}
  place(l.VE, elem * np * ve_ld);                    // (np, ve_ld) output: V e^{SA}; state: V e^{SA + after}
  place(l.PE, out ? elem * pairs * kTile * pe_ld : 0);  // (pairs, 16, pe_ld) scores of earlier sub-chunks
  place(l.MA, out ? f * pairs * rp : 0);             // (pairs, rp) e^{midA} per (I, J)
  place(l.Qf, out ? f * np * mp : 0);                // (np, mp) phi(q), then phi(q) e^{PB}
  place(l.Kf, f * np * mp);                          // (np, mp) c phi(k), then * e^{SB}
  place(l.Vf, f * np * rp);                          // (np, rp) v (1 in the z column), then * e^{SA}
  place(l.Ga, f * np * rp);                          // (np, rp) value-side gates, then e^{PA}
  place(l.Gb, f * np * std::size_t(out ? l.qs_ld : l.mp));  // (np, mp) key-side gates; output: then Qs, (np, qs_ld)
  // output: (np, rp) outputs; both passes: first the raw q / k rows (np, dk), |x|^2 (np)
  place(l.Y, f * (out && y_elems > x_elems ? y_elems : x_elems));
  // Every array is under 2^32 bytes, so these fit in int.
  l.np = int(np64);
  l.ns = int(ns64);
  l.pairs = int(pairs64);
  return l;
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
