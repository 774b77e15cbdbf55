// The order in which the emulated device resumes the ready threads of a block,
// chosen with DFWBENCH_EMU_SCHEDULE: greedy (lowest thread first, the default),
// reverse (highest first), roundrobin (the next ready thread after the last one
// run, so warps advance in rounds) or random:SEED (a seeded random ready thread,
// reseeded per block). Different orders expose different missing barriers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace emu {

struct Schedule {
  enum Kind { greedy, reverse, roundrobin, random } kind = greedy;
  std::uint64_t seed = 0;
  static Schedule parse(const std::string& text);  // throws std::invalid_argument
  static const Schedule& from_env();               // parsed once per process
  std::string name() const;
};

// The ready threads of one block as a bit set, and the schedule's choice among them.
class ReadySet {
 public:
  void reset(int threads, const Schedule& s, std::uint64_t block_seed);
  void set(int i) { bits_[i >> 6] |= std::uint64_t(1) << (i & 63); }
  void clear(int i) { bits_[i >> 6] &= ~(std::uint64_t(1) << (i & 63)); }
  // The next thread to run (removed from the set), or -1 when none is ready.
  int take();

 private:
  int first_from(int start) const;  // lowest set bit at or after start, or -1
  std::vector<std::uint64_t> bits_;
  int threads_ = 0, last_ = -1;
  Schedule::Kind kind_ = Schedule::greedy;
  std::uint64_t rng_ = 0;
};

}  // namespace emu
