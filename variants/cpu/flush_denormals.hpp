// FlushDenormalsScope: while alive, the calling thread treats subnormal floats as
// zero (inputs: denormals-are-zero) and flushes subnormal results to zero.
// Why: products of small gates fall below 1.2e-38, and each operation on such a
// number costs some cores (Intel's) a microcode assist of ~100 cycles; AMD cores
// hide it. The lost values are below 1e-38 of the state (docs/MATH.md, "Subnormal
// floats"). Dispatch, the only architecture-specific code of the CPU forms:
//   x86-64:  MXCSR bits FTZ (15) and DAZ (6);
//   AArch64: FPCR bit FZ (24), which flushes both inputs and results;
//   others:  no change (the forms stay correct, only possibly slower).
// The previous mode is restored on destruction, so a caller's floating-point
// environment is never changed behind its back. DFWBENCH_SUBNORMALS=keep in the
// environment turns the scope into a no-op for the whole process (to measure what
// flushing changes: accuracy against float64, time on a core that traps).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace dfw {

class FlushDenormalsScope {
 public:
  FlushDenormalsScope() : saved_(read_mode()) {
    if (enabled()) write_mode(saved_ | kFlushBits);
  }
  ~FlushDenormalsScope() { write_mode(saved_); }
  FlushDenormalsScope(const FlushDenormalsScope&) = delete;
  FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

  // True when this architecture has a flush mode that the scope sets.
  static constexpr bool supported() { return kFlushBits != 0; }
  // True when the calling thread's mode flushes subnormals now.
  static bool active() { return supported() && (read_mode() & kFlushBits) == kFlushBits; }
  // False when DFWBENCH_SUBNORMALS=keep (read once per process).
  static bool enabled() {
    static const bool on = [] {
      const char* e = std::getenv("DFWBENCH_SUBNORMALS");
      return !(e && std::strcmp(e, "keep") == 0);
    }();
    return on;
  }

 private:
#if defined(__x86_64__) || defined(__i386__)
  static constexpr uint64_t kFlushBits = 0x8040;  // FTZ | DAZ
  static uint64_t read_mode() { return _mm_getcsr(); }
  static void write_mode(uint64_t m) { _mm_setcsr(static_cast<unsigned>(m)); }
#elif defined(__aarch64__)
  static constexpr uint64_t kFlushBits = uint64_t{1} << 24;  // FPCR.FZ
  static uint64_t read_mode() { return __builtin_aarch64_get_fpcr64(); }
  static void write_mode(uint64_t m) { __builtin_aarch64_set_fpcr64(m); }
#else
  static constexpr uint64_t kFlushBits = 0;
  static uint64_t read_mode() { return 0; }
  static void write_mode(uint64_t) {}
#endif
  uint64_t saved_;
};

}  // namespace dfw
