// Counts the bytes held by tracked buffers (host and device), current and peak,
// so the timing harness can report each case's peak memory.
#pragma once

#include <atomic>
#include <cstddef>

namespace dfw {

class MemoryTracker {
 public:
  void add(std::size_t bytes);
  void remove(std::size_t bytes);
  std::size_t current() const { return current_.load(); }
  std::size_t peak() const { return peak_.load(); }
  void reset_peak() { peak_.store(current_.load()); }

  static MemoryTracker& host();
  static MemoryTracker& device();

 private:
  std::atomic<std::size_t> current_{0};
  std::atomic<std::size_t> peak_{0};
};

}  // namespace dfw
