// HostBuffer (TrackedArray over host memory): zero-initialised, 64-byte aligned,
// counted by MemoryTracker::host() with its rounded size, moved without being
// counted twice, returned on destruction; an impossible size throws bad_alloc.
#include <gtest/gtest.h>

#include <cstdint>
#include <new>
#include <utility>

#include "host_buffer.hpp"
#include "memory_tracker.hpp"

namespace dfw {
namespace {

TEST(HostBuffer, ZeroedAlignedAndCountedWithItsRoundedSize) {
  const std::size_t before = MemoryTracker::host().current();
  {
    HostBuffer<float> b(10);  // 40 bytes, rounded up to 64
    EXPECT_EQ(MemoryTracker::host().current(), before + 64);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % 64, 0u);
    ASSERT_EQ(b.size(), 10u);
    for (std::size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b[i], 0.f);
  }
  EXPECT_EQ(MemoryTracker::host().current(), before);
}

TEST(HostBuffer, MovesOwnershipWithoutCountingTwice) {
  const std::size_t before = MemoryTracker::host().current();
  {
    HostBuffer<double> a(100);
    a[99] = 3.5;
    HostBuffer<double> b(std::move(a));
    EXPECT_TRUE(a.empty());
    EXPECT_EQ(a.data(), nullptr);
    EXPECT_EQ(b[99], 3.5);
    EXPECT_EQ(MemoryTracker::host().current(), before + 832);  // 800 rounded up to 64
    HostBuffer<double> c(8);
    c = std::move(b);  // c's own 64 bytes are returned
    EXPECT_EQ(c.size(), 100u);
    EXPECT_EQ(MemoryTracker::host().current(), before + 832);
  }
  EXPECT_EQ(MemoryTracker::host().current(), before);
}

TEST(HostBuffer, EmptyAndImpossibleSizes) {
  const std::size_t before = MemoryTracker::host().current();
  HostBuffer<float> empty(0);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_THROW(HostBuffer<float>(SIZE_MAX / 2), std::bad_alloc);
  EXPECT_THROW(HostBuffer<char>(SIZE_MAX - 10), std::bad_alloc);
  EXPECT_EQ(MemoryTracker::host().current(), before);
}

}  // namespace
}  // namespace dfw
