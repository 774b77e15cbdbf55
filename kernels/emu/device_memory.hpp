// The emulated device's memory size and what is allocated of it (memory.cpp).
#pragma once

#include <cstddef>

namespace emu {

std::size_t device_memory_bytes();  // DFWBENCH_EMU_DEVICE_MB MiB (default 4096)
std::size_t device_memory_used();

}  // namespace emu
