// BlockRunner: runs the blocks of a grid on one OS thread, one block at a time,
// each GPU thread a fiber. It is the emulated device's scheduler: a thread runs
// until it blocks at a barrier or warp collective (or exits); then the schedule
// picks the next ready thread. Barriers and collectives complete only when all
// their participants arrived at the same source line; anything else (divergence,
// a participant that exited, a deadlock) ends the block with a fault that names
// the threads and lines involved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "emu_device.hpp"
#include "fiber.hpp"
#include "schedule.hpp"

namespace emu {

// One grid as its blocks see it.
struct BlockJob {
  void (*body)(const void* args);
  const void* args;
  dim3 grid, block;
  std::size_t shared_bytes;
  Schedule schedule;
};

class BlockRunner {
 public:
  BlockRunner();
  ~BlockRunner();
  BlockRunner(const BlockRunner&) = delete;
  BlockRunner& operator=(const BlockRunner&) = delete;

  // Runs one block to its end; returns "" or the fault that stopped it.
  std::string run(const BlockJob& job, uint3 block_idx, std::uint64_t linear_block);

  // The device-side entry points (emu_device.hpp), for the thread now running.
  void collective(const char* what, unsigned mask, void* arg, CollectiveFn complete, const char* file, int line);
  int barrier(const char* what, int predicate, const char* file, int line);
  void* shared() { return shared_; }
  bool holds_shared(const void* p, std::size_t bytes) const;
  AsyncCopies& current_copies();
  // Ends the block: records the fault, unwinds the running thread, back to run().
  [[noreturn]] void fault(const std::string& message);

 private:
  struct Thread;
  struct Pending;
  struct Sync;
  static void thread_main(void* arg);
  void ensure_threads(int n);
  void exit_thread();  // the checks of a thread's end (a fault if others wait for it)
  void block_current(const char* what, const char* file, int line, unsigned mask);
  void enter(int i);               // makes thread i the running one
  void switch_away(bool final);    // to the schedule's next ready thread, else to run()
  void wake(int i);
  std::string where(int i) const;
  std::string deadlock_report() const;
  std::string describe(const std::vector<int>& ids) const;

  Context main_;
  std::vector<std::unique_ptr<FiberStack>> stacks_;
  std::vector<Thread> threads_;
  std::unique_ptr<Sync> sync_;  // fresh per block: ThreadSanitizer sync objects are per block
  ReadySet ready_;
  const BlockJob* job_ = nullptr;
  int n_ = 0, current_ = -1, exited_ = 0;
  std::string fault_;
  unsigned char* shared_ = nullptr;  // dynamic shared memory (capacity kSharedCapacity)
};

// The runner of this OS thread (created on first use).
BlockRunner& this_runner();

}  // namespace emu
