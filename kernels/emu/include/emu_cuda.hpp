// Included first by every .cu file translated for the emulated device
// (cu_to_cpp.py): the CUDA runtime and half/bf16 headers as a host compiler
// sees them, then the device built-ins, cp.async, the launch entry and wmma.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "async_copy.hpp"
#include "emu_builtins.hpp"
#include "emu_launch.hpp"
#include "mma.h"
