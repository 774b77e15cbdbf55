// What the chunked CPU backward (chunked_backward_cpu.cpp) exposes for memory
// planning: its chunk bound and the workspace one thread carves.
#pragma once

#include <cstdint>

namespace dfw {

// Tokens per chunk at most: one Lanes of 16 tokens (the chunk option is clamped to it).
constexpr int64_t kChunkedBackwardMaxChunk = 16;

// Floats of workspace one thread needs for one (b, h) of T tokens.
int64_t chunked_backward_workspace(int64_t T, int64_t m, int64_t rows, int64_t chunk);

}  // namespace dfw
