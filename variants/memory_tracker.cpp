#include "memory_tracker.hpp"

namespace dfw {

void MemoryTracker::add(std::size_t bytes) {
  std::size_t now = current_.fetch_add(bytes) + bytes;
  std::size_t seen = peak_.load();
  while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
  }
}

void MemoryTracker::remove(std::size_t bytes) { current_.fetch_sub(bytes); }

MemoryTracker& MemoryTracker::host() {
  static MemoryTracker t;
  return t;
}

MemoryTracker& MemoryTracker::device() {
  static MemoryTracker t;
  return t;
}

}  // namespace dfw
