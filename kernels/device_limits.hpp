// The current device's launch-relevant limits, queried once per process: its SM
// count and the shared memory a block may opt in to. The launch plans of the
// chunked prefill and backward (grid, layouts) and of flash-decoding (splits) size
// from them.
#pragma once

namespace dfw {

struct DeviceLimits {
  int sms = 0;               // multiprocessors
  int max_shared_optin = 0;  // bytes of dynamic shared memory a block may opt in to
};

// Throws std::runtime_error (DFW_CUDA_CHECK) when the runtime cannot say.
const DeviceLimits& device_limits();

// Allows `kernel` dynamic shared memory up to max_shared_optin, once per kernel (on
// its first launch: a warm-up run). Thread-safe.
void allow_optin_shared(const void* kernel);

}  // namespace dfw
