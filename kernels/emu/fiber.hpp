// Fibers for the emulated CUDA device: a stack (mmap'd, with a guard page) and a
// saved context per emulated GPU thread, and switch_context(), the one place
// where execution moves between stacks. The switch itself is a few instructions
// of x86-64 assembly (the callee-saved general registers);
// around it go the AddressSanitizer and ThreadSanitizer fiber annotations, so
// both sanitizers follow the emulated threads.
#pragma once

#include <cstddef>

namespace emu {

// An owning fiber stack: `bytes` usable bytes above one PROT_NONE guard page.
class FiberStack {
 public:
  explicit FiberStack(std::size_t bytes);
  ~FiberStack();
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  char* bottom() const { return base_ + guard_; }
  std::size_t size() const { return bytes_; }

 private:
  char* base_ = nullptr;
  std::size_t guard_ = 0, bytes_ = 0;
};

// A place execution can be switched to: a fiber, or the OS thread's own stack.
struct Context {
  void* sp = nullptr;                 // saved stack pointer while switched out
  void* tsan_fiber = nullptr;         // ThreadSanitizer's fiber handle (TSan builds)
  const void* stack_bottom = nullptr; // for AddressSanitizer's stack bookkeeping
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
};

// Makes `c` the OS thread's current context (call once per OS thread, before any switch).
void adopt_current_thread(Context& c);

// Makes `c` start entry(arg) on `stack` when first switched to (entry must never return:
// it ends with a final switch_context). The ThreadSanitizer fiber is created once per
// Context and kept across reuses.
void prepare_context(Context& c, FiberStack& stack, void (*entry)(void*), void* arg);

// Releases the ThreadSanitizer fiber of a prepared context (no-op elsewhere).
void destroy_context(Context& c);

// Suspends `from` and resumes `to`. tsan_sync: ThreadSanitizer orders everything
// before the switch before everything after it (false: no ordering; barriers and
// collectives then order memory among their participants only). final: `from`
// never runs again (its AddressSanitizer fake stack is dropped).
void switch_context(Context& from, Context& to, bool tsan_sync, bool final = false);

// Called first thing on a fresh fiber: completes the sanitizer side of the switch that
// started it and records the bounds of the stack it came from into `from`.
void fiber_started(Context& from);

}  // namespace emu
