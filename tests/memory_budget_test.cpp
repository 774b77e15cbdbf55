// The memory budget (memory_budget.hpp) from fake /proc and cgroup files: the
// MemAvailable line, cgroup v2 and v1 limits with their usage along the
// process's path (the least room wins, "max" and v1's huge value mean none),
// --memory-limit parsing, the margin, and the oom note.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "memory_budget.hpp"
#include "temp_dir.hpp"

namespace dfw {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

constexpr int64_t kMiB = int64_t{1} << 20, kGiB = int64_t{1} << 30;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(MemoryBudget, MemAvailableIsReadInBytes) {
  TempDir dir;
  write(dir / "meminfo", "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   22979264 kB\n");
  EXPECT_EQ(read_mem_available(dir / "meminfo"), int64_t(22979264) * 1024);
  write(dir / "old", "MemTotal:       24576000 kB\n");  // kernels before 3.14 have no MemAvailable
  EXPECT_EQ(read_mem_available(dir / "old"), -1);
  EXPECT_EQ(read_mem_available(dir / "absent"), -1);
}

TEST(MemoryBudget, CgroupV2RoomIsTheLeastAlongThePath) {
  TempDir dir;
  write(dir / "self_cgroup", "0::/jobs/bench\n");
  write(dir / "cg/jobs/memory.max", std::to_string(8 * kGiB) + "\n");
  write(dir / "cg/jobs/memory.current", std::to_string(5 * kGiB) + "\n");
  write(dir / "cg/jobs/bench/memory.max", "max\n");
  write(dir / "cg/jobs/bench/memory.current", std::to_string(1 * kGiB) + "\n");
  EXPECT_EQ(cgroup_memory_room(dir / "self_cgroup", dir / "cg"), 3 * kGiB);  // the parent's limit binds
  write(dir / "cg/jobs/bench/memory.max", std::to_string(2 * kGiB) + "\n");
  EXPECT_EQ(cgroup_memory_room(dir / "self_cgroup", dir / "cg"), 1 * kGiB);  // now the leaf's
}

TEST(MemoryBudget, CgroupV1LimitAndNamespacedRoot) {
  TempDir dir;
  write(dir / "self_cgroup", "4:memory:/process_api/abc\n3:cpuset:/\n0::/\n");
  // A namespaced mount shows the process's own group at the hierarchy's root.
  write(dir / "cg/memory/memory.limit_in_bytes", std::to_string(6 * kGiB) + "\n");
  write(dir / "cg/memory/memory.usage_in_bytes", std::to_string(2 * kGiB) + "\n");
  EXPECT_EQ(cgroup_memory_room(dir / "self_cgroup", dir / "cg"), 4 * kGiB);
  write(dir / "cg/memory/memory.limit_in_bytes", "9223372036854771712\n");  // v1's "no limit"
  EXPECT_EQ(cgroup_memory_room(dir / "self_cgroup", dir / "cg"), -1);
  EXPECT_EQ(cgroup_memory_room(dir / "no_such_file", dir / "cg"), -1);
}

TEST(MemoryBudget, MemoryLimitParsesBytesSuffixesAndPercent) {
  EXPECT_EQ(parse_memory_limit("1000000").bytes, 1000000);
  EXPECT_EQ(parse_memory_limit("64M").bytes, 64 * kMiB);
  EXPECT_EQ(parse_memory_limit("2g").bytes, 2 * kGiB);
  EXPECT_DOUBLE_EQ(parse_memory_limit("50%").fraction, 0.5);
  EXPECT_EQ(parse_memory_limit("1K").bytes, 1024);
  for (const char* bad : {"", "0", "-5", "12Q", "abc", "0%", "150%", "%", "99999999999T"})
    EXPECT_THROW(parse_memory_limit(bad), std::invalid_argument) << bad;
}

TEST(MemoryBudget, BudgetIsTheLeastOfAvailableLessMarginAndTheLimit) {
  const int64_t avail = 20 * kGiB;
  EXPECT_EQ(host_margin(avail), 64 * kMiB + avail / 20);
  const MemoryBudget none = make_budget(avail, -1, MemoryLimit{});
  EXPECT_EQ(none.host_bytes, avail - host_margin(avail));
  EXPECT_EQ(none.device_bytes, -1);

  MemoryLimit bytes;
  bytes.bytes = 4 * kMiB;
  EXPECT_EQ(make_budget(avail, -1, bytes).host_bytes, 4 * kMiB);
  EXPECT_EQ(make_budget(2 * kMiB, -1, bytes).host_bytes, 0);  // less than the margin is left: nothing fits

  MemoryLimit half;
  half.fraction = 0.5;
  const MemoryBudget b = make_budget(avail, 80 * kGiB, half);
  EXPECT_EQ(b.host_bytes, 10 * kGiB);
  EXPECT_EQ(b.device_bytes, 40 * kGiB);
  EXPECT_EQ(make_budget(-1, -1, MemoryLimit{}).host_bytes, -1);  // nothing known: no bound
}

TEST(MemoryBudget, ShortfallNamesThePlanAndTheBound) {
  MemoryLimit limit;
  limit.bytes = 4 * kMiB;
  const MemoryBudget b = make_budget(20 * kGiB, -1, limit);
  MemoryPlan fits;
  fits.inputs = 3 * kMiB;
  fits.tracked = kMiB;
  EXPECT_EQ(memory_shortfall(fits, b), "");
  MemoryPlan over = fits;
  over.scratch = kMiB;
  EXPECT_EQ(memory_shortfall(over, b), "planned 5.24 MB host > budget 4.19 MB (--memory-limit 4.19 MB)");

  const MemoryBudget machine = make_budget(24 * kGiB, -1, MemoryLimit{});
  MemoryPlan huge;
  huge.inputs = 64 * kGiB;
  const std::string note = memory_shortfall(huge, machine);
  EXPECT_NE(note.find("planned 68.7 GB host > budget"), std::string::npos) << note;
  EXPECT_NE(note.find("available 25.8 GB less margin"), std::string::npos) << note;

  MemoryPlan device;
  device.device = 50 * kGiB;
  EXPECT_NE(memory_shortfall(device, make_budget(24 * kGiB, 40 * kGiB, MemoryLimit{})).find("device"),
            std::string::npos);
}

}  // namespace
}  // namespace dfw
