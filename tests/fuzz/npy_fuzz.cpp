// libFuzzer target: dfw::parse_npy on arbitrary bytes. Every input must either
// parse into a consistent array or throw NpyError; anything else (a crash, a
// sanitizer report, another exception type, an allocation past the bound, an
// array whose size disagrees with its shape) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    const dfw::NpyArray a = dfw::parse_npy("fuzz.npy", reinterpret_cast<const char*>(data), size);
    // Parsed: the data must match the shape and fit inside the input.
    std::size_t count = 1;
    for (int64_t d : a.shape) {
      if (d < 0) std::abort();
      count *= std::size_t(d);
    }
    if (count != a.data.size() || count > size) std::abort();
    if (a.dtype != "<f4" && a.dtype != "=f4" && a.dtype != "<f8" && a.dtype != "=f8") std::abort();
  } catch (const dfw::NpyError&) {
    // refused with a message: the expected outcome for malformed input
  }
  return 0;
}
