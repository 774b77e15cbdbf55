// last_level_cache_bytes and the streaming sizes (stream_sizing.hpp).
#include "stream_sizing.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "parse_number.hpp"

namespace dfw {
namespace {

std::string first_line(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

// "32768K", "1M", "512" (bytes); -1 when malformed.
int64_t parse_cache_size(const std::string& text) {
  if (text.empty()) return -1;
  int shift = 0;
  std::string digits = text;
  if (text.back() == 'K') shift = 10;
  else if (text.back() == 'M') shift = 20;
  else if (text.back() == 'G') shift = 30;
  if (shift) digits.pop_back();
  const auto n = parse_integer(digits);
  return n && *n > 0 ? int64_t(*n) << shift : -1;
}

}  // namespace

int64_t last_level_cache_bytes(const std::string& cpu_root) {
  namespace fs = std::filesystem;
  int best_level = 0;
  std::map<std::string, int64_t> instances;  // shared_cpu_list -> size, at best_level
  std::error_code ec;
  for (const auto& cpu : fs::directory_iterator(cpu_root, ec)) {
    const std::string name = cpu.path().filename().string();
    if (name.size() < 4 || name.compare(0, 3, "cpu") != 0 || !parse_integer(name.substr(3))) continue;
    std::error_code ec_cache;
    for (const auto& index : fs::directory_iterator(cpu.path() / "cache", ec_cache)) {
      if (index.path().filename().string().rfind("index", 0) != 0) continue;
      if (first_line(index.path() / "type") == "Instruction") continue;
      const auto level = parse_integer(first_line(index.path() / "level"));
      const int64_t size = parse_cache_size(first_line(index.path() / "size"));
      if (!level || size <= 0 || *level < best_level) continue;
      if (*level > best_level) {
        best_level = int(*level);
        instances.clear();
      }
      instances[first_line(index.path() / "shared_cpu_list")] = size;
    }
  }
  int64_t total = 0;
  for (const auto& [cpus, size] : instances) total += size;
  if (total > 0) return total;
  for (int name : {_SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
    const long v = sysconf(name);
    if (v > 0) return v;
  }
  return 0;
}

int64_t copy_buffer_bytes(const StreamSizing& s, int64_t min_bytes) {
  int64_t bytes = std::max(min_bytes, kStreamFactor * s.llc_bytes);
  if (s.budget_bytes >= 0) bytes = std::min(bytes, s.budget_bytes / 2);
  return std::max<int64_t>(bytes, int64_t{64} << 20);
}

int64_t streaming_batch(const StreamSizing& s, int64_t min_batch, int64_t streamed_per_batch,
                        int64_t planned_per_batch) {
  const int64_t want = kStreamFactor * s.llc_bytes;
  int64_t B = std::max(min_batch, (want + streamed_per_batch - 1) / std::max<int64_t>(streamed_per_batch, 1));
  if (s.budget_bytes >= 0 && planned_per_batch > 0) B = std::min(B, s.budget_bytes / planned_per_batch);
  return std::max(B, min_batch);
}

}  // namespace dfw
