// Reading the memory the process can get, the imposed limit and the fit test
// (memory_budget.hpp).
#include "memory_budget.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "cuda_ceilings.hpp"
#include "parse_number.hpp"

namespace dfw {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

// The first line of a file as a byte count; nullopt when unreadable or not a number.
std::optional<long long> read_count(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return parse_integer(line);
}

// Room under one cgroup directory's limit; -1 when it has none (or no files).
int64_t room_in(const std::string& dir, const char* limit_file, const char* usage_file) {
  const auto limit = read_count(dir + "/" + limit_file);  // "max" (v2) parses as nothing: no limit
  const auto usage = read_count(dir + "/" + usage_file);
  // v1 writes "no limit" as LONG_MAX rounded down to a page; anything past 2^60 is no limit.
  if (!limit || !usage || *limit >= (1LL << 60)) return -1;
  return std::max<int64_t>(0, *limit - *usage);
}

// The least room over dir_root + path and every ancestor up to dir_root.
int64_t least_room_along(const std::string& dir_root, std::string path, const char* limit_file,
                         const char* usage_file) {
  int64_t least = -1;
  while (true) {
    const int64_t r = room_in(dir_root + path, limit_file, usage_file);
    if (r >= 0) least = least < 0 ? r : std::min(least, r);
    if (path.empty() || path == "/") break;
    const auto slash = path.find_last_of('/');
    path = slash == std::string::npos ? "" : path.substr(0, slash);
  }
  return least;
}

int64_t min_known(int64_t a, int64_t b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return std::min(a, b);
}

int64_t cap(int64_t available, int64_t margin, int64_t limit) {
  const int64_t room = available < 0 ? -1 : std::max<int64_t>(0, available - margin);
  return min_known(room, limit);
}

int64_t limit_for(const MemoryLimit& limit, int64_t available) {
  if (limit.bytes > 0) return limit.bytes;
  if (limit.fraction > 0 && available >= 0) return int64_t(limit.fraction * double(available));
  return -1;
}

// "1.23 GB", "4.19 MB", "512 B".
std::string bytes_text(double bytes) {
  const char* unit = "B";
  double scale = 1;
  if (bytes >= 1e9) unit = "GB", scale = 1e9;
  else if (bytes >= 1e6) unit = "MB", scale = 1e6;
  else if (bytes >= 1e3) unit = "kB", scale = 1e3;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g %s", bytes / scale, unit);
  return buf;
}

}  // namespace

int64_t read_mem_available(const std::string& meminfo_path) {
  std::ifstream in(meminfo_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    long long kib = -1;
    std::string unit;
    if (fields >> kib >> unit && unit == "kB" && kib >= 0) return int64_t(kib) * 1024;
    return -1;
  }
  return -1;
}

int64_t cgroup_memory_room(const std::string& proc_cgroup, const std::string& cgroup_root) {
  std::ifstream in(proc_cgroup);
  std::string line;
  int64_t least = -1;
  while (std::getline(in, line)) {
    // "hierarchy-id:controllers:path"; v2 is "0::path", v1 memory lists "memory".
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::vector<std::string> roots;
    const char *limit_file = nullptr, *usage_file = nullptr;
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      roots = {cgroup_root, cgroup_root + "/unified"};
      limit_file = "memory.max";
      usage_file = "memory.current";
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      roots = {cgroup_root + "/memory"};
      limit_file = "memory.limit_in_bytes";
      usage_file = "memory.usage_in_bytes";
    } else {
      continue;
    }
    for (const std::string& root : roots) {
      least = min_known(least, least_room_along(root, path == "/" ? "" : path, limit_file, usage_file));
      least = min_known(least, room_in(root, limit_file, usage_file));  // a namespaced mount shows its own root
    }
  }
  return least;
}

MemoryLimit parse_memory_limit(const std::string& text) {
  const std::string why = "--memory-limit: want BYTES (K, M, G, T suffixes: powers of 1024) or N% of the "
                          "available memory, got '" + text + "'";
  MemoryLimit out;
  if (text.empty()) throw std::invalid_argument(why);
  if (text.back() == '%') {
    const auto pct = parse_real(text.substr(0, text.size() - 1));
    if (!pct || !(*pct > 0) || *pct > 100) throw std::invalid_argument(why);
    out.fraction = *pct / 100;
    return out;
  }
  const std::string suffixes = "KMGT";
  const auto s = suffixes.find(char(std::toupper(static_cast<unsigned char>(text.back()))));
  const std::string digits = s == std::string::npos ? text : text.substr(0, text.size() - 1);
  const auto n = parse_integer(digits);
  const int shift = s == std::string::npos ? 0 : 10 * int(s + 1);
  if (!n || *n < 1 || *n > (std::numeric_limits<long long>::max() >> shift)) throw std::invalid_argument(why);
  out.bytes = int64_t(*n) << shift;
  return out;
}

int64_t host_margin(int64_t available) { return 64 * kMiB + std::max<int64_t>(available, 0) / 20; }
int64_t device_margin(int64_t available) { return 256 * kMiB + std::max<int64_t>(available, 0) / 20; }

MemoryBudget make_budget(int64_t host_available, int64_t device_available, const MemoryLimit& limit) {
  MemoryBudget b;
  b.host_available = host_available;
  b.device_available = device_available;
  b.host_limit = limit_for(limit, host_available);
  b.host_bytes = cap(host_available, host_margin(host_available), b.host_limit);
  if (device_available >= 0) {
    b.device_limit = limit_for(limit, device_available);
    b.device_bytes = cap(device_available, device_margin(device_available), b.device_limit);
  }
  return b;
}

MemoryBudget current_budget(const MemoryLimit& limit, bool cuda) {
  const int64_t host = min_known(read_mem_available(), cgroup_memory_room());
  return make_budget(host, cuda ? cuda_device_free_bytes() : -1, limit);
}

std::string memory_shortfall(const MemoryPlan& plan, const MemoryBudget& budget) {
  auto side = [](const char* where, int64_t planned, int64_t bound, int64_t available, int64_t margin,
                 int64_t limit) {
    std::string s = std::string("planned ") + bytes_text(double(planned)) + " " + where + " > budget " +
                    bytes_text(double(bound)) + " (";
    const bool limited = limit >= 0 && (available < 0 || limit <= available - margin);
    if (limited) s += "--memory-limit " + bytes_text(double(limit));
    else s += "available " + bytes_text(double(available)) + " less margin " + bytes_text(double(margin));
    return s + ")";
  };
  if (budget.host_bytes >= 0 && plan.host() > budget.host_bytes)
    return side("host", plan.host(), budget.host_bytes, budget.host_available, host_margin(budget.host_available),
                budget.host_limit);
  if (budget.device_bytes >= 0 && plan.device > budget.device_bytes)
    return side("device", plan.device, budget.device_bytes, budget.device_available,
                device_margin(budget.device_available), budget.device_limit);
  return "";
}

}  // namespace dfw
