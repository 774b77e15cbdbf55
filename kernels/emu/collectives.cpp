// The data movement of shuffles, votes and wmma loads/stores, run by the last
// lane to arrive at the collective (block_runner.cpp) for the whole warp.
#include <cstdint>
#include <string>

#include "emu_builtins.hpp"
#include "mma.h"

namespace emu {

void shfl_complete(void* const* lanes, unsigned mask) {
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1)) continue;
    ShflLane& me = *static_cast<ShflLane*>(lanes[l]);
    const int w = me.width;
    if (w < 1 || w > 32 || (w & (w - 1)))
      kernel_fault("shuffle width " + std::to_string(w) + " is not a power of 2 in [1, 32]");
    const int base = l & ~(w - 1);
    int src = l;
    switch (me.mode) {
      case ShflMode::idx: src = base + (me.arg & (w - 1)); break;
      case ShflMode::up: src = l - me.arg >= base ? l - me.arg : l; break;
      case ShflMode::down: src = l + me.arg < base + w ? l + me.arg : l; break;
      case ShflMode::bfly: src = (l ^ me.arg) < base + w ? l ^ me.arg : l; break;
    }
    if (!(mask >> src & 1))
      kernel_fault("lane " + std::to_string(l) + " reads lane " + std::to_string(src) + ", outside the mask");
    me.result = static_cast<const ShflLane*>(lanes[src])->value;
  }
}

void vote_complete(void* const* lanes, unsigned mask) {
  unsigned ballot = 0;
  for (int l = 0; l < 32; ++l)
    if ((mask >> l & 1) && static_cast<const VoteLane*>(lanes[l])->predicate) ballot |= 1u << l;
  for (int l = 0; l < 32; ++l)
    if (mask >> l & 1) static_cast<VoteLane*>(lanes[l])->ballot = ballot;
}

}  // namespace emu

namespace nvcuda {
namespace wmma {
namespace detail {

void check_tile_io(const char* what, void* const* lanes, std::size_t elem_bytes) {
  const auto* io0 = static_cast<const TileIo*>(lanes[0]);
  for (int l = 1; l < 32; ++l) {
    const auto* io = static_cast<const TileIo*>(lanes[l]);
    if (io->ptr != io0->ptr || io->ldm != io0->ldm || io->row_major != io0->row_major)
      ::emu::kernel_fault(std::string(what) + ": lanes 0 and " + std::to_string(l) +
                          " pass different pointers, ldm or layouts");
  }
  if (reinterpret_cast<std::uintptr_t>(io0->ptr) % 32 != 0)
    ::emu::kernel_fault(std::string(what) + ": the pointer is not 32-byte aligned");
  if (io0->ldm * elem_bytes % 16 != 0)
    ::emu::kernel_fault(std::string(what) + ": ldm = " + std::to_string(io0->ldm) + " elements (" +
                        std::to_string(io0->ldm * elem_bytes) + " bytes) is not a multiple of 16 bytes");
}

}  // namespace detail
}  // namespace wmma
}  // namespace nvcuda
