// Fiber stacks and the context switch (x86-64 System V), with the sanitizer
// fiber annotations around it. See fiber.hpp.
#include "fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#endif
#if defined(DFW_EMU_TSAN)
#include <sanitizer/tsan_interface.h>
#define EMU_TSAN 1
#endif

#if !defined(__x86_64__)
#error "the emulated CUDA device's context switch is written for x86-64"
#endif

extern "C" void emu_switch_stack(void** save_sp, void* new_sp);
extern "C" void emu_fiber_start();

// emu_switch_stack(save_sp, new_sp): pushes the callee-saved registers, stores rsp in
// *save_sp, loads new_sp and pops the same layout. MXCSR and the x87 control word are
// not switched: nothing in a kernel changes rounding modes (saving them doubled the cost).
// emu_fiber_start: a fresh stack's return address; calls r13(r12) (prepare_context).
asm(R"(
  .text
  .globl emu_switch_stack
  .type emu_switch_stack,@function
  .p2align 4
emu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_switch_stack, .-emu_switch_stack

  .globl emu_fiber_start
  .type emu_fiber_start,@function
  .p2align 4
emu_fiber_start:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size emu_fiber_start, .-emu_fiber_start
)");

namespace emu {

FiberStack::FiberStack(std::size_t bytes) {
  guard_ = std::size_t(sysconf(_SC_PAGESIZE));
  bytes_ = (bytes + guard_ - 1) / guard_ * guard_;
  void* p = mmap(nullptr, guard_ + bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<char*>(p);
  mprotect(base_, guard_, PROT_NONE);  // an overflow faults instead of corrupting a neighbour
}

FiberStack::~FiberStack() { munmap(base_, guard_ + bytes_); }

void adopt_current_thread(Context& c) {
#ifdef EMU_TSAN
  c.tsan_fiber = __tsan_get_current_fiber();
#else
  (void)c;
#endif
}

void prepare_context(Context& c, FiberStack& stack, void (*entry)(void*), void* arg) {
#ifdef EMU_ASAN
  // Frames that returned unpoisoned themselves (a fault unwinds its thread); only the
  // entry frames at the top, which never return, may leave redzones behind. Clearing
  // the whole stack cost 32 MiB of shadow writes per 128-thread block.
  const std::size_t used = stack.size() < (std::size_t(16) << 10) ? stack.size() : std::size_t(16) << 10;
  __asan_unpoison_memory_region(stack.bottom() + stack.size() - used, used);
#endif
#ifdef EMU_TSAN
  if (!c.tsan_fiber) c.tsan_fiber = __tsan_create_fiber(0);
#endif
  c.stack_bottom = stack.bottom();
  c.stack_size = stack.size();
  c.asan_fake_stack = nullptr;
  // Initial frame, as emu_switch_stack pops it: [r15 r14 r13 r12 rbx rbp][ret].
  const auto top = reinterpret_cast<std::uintptr_t>(stack.bottom() + stack.size()) & ~std::uintptr_t(15);
  auto* frame = reinterpret_cast<std::uint64_t*>(top - 72);  // rsp = top - 16 at emu_fiber_start
  frame[0] = 0;                                           // r15
  frame[1] = 0;                                           // r14
  frame[2] = reinterpret_cast<std::uint64_t>(entry);      // r13
  frame[3] = reinterpret_cast<std::uint64_t>(arg);        // r12
  frame[4] = 0;                                           // rbx
  frame[5] = 0;                                           // rbp: ends frame-pointer unwinds
  frame[6] = reinterpret_cast<std::uint64_t>(&emu_fiber_start);
  c.sp = frame;
}

void destroy_context(Context& c) {
#ifdef EMU_TSAN
  if (c.tsan_fiber) __tsan_destroy_fiber(c.tsan_fiber);
#endif
  c.tsan_fiber = nullptr;
}

void switch_context(Context& from, Context& to, bool tsan_sync, bool final) {
#ifdef EMU_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, tsan_sync ? 0 : __tsan_switch_to_fiber_no_sync);
#else
  (void)tsan_sync;
#endif
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(final ? nullptr : &from.asan_fake_stack, to.stack_bottom, to.stack_size);
#else
  (void)final;
#endif
  emu_switch_stack(&from.sp, to.sp);
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(from.asan_fake_stack, nullptr, nullptr);
#endif
}

void fiber_started(Context& from) {
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &from.stack_bottom, &from.stack_size);
#else
  (void)from;
#endif
}

}  // namespace emu
