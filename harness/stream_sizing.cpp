// last_level_cache_bytes and the streaming sizes (stream_sizing.hpp).
#include "stream_sizing.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

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

int64_t last_level_cache_bytes(const std::string& cache_dir) {
  namespace fs = std::filesystem;
  int best_level = 0;
  int64_t best = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache_dir, ec)) {
    if (entry.path().filename().string().rfind("index", 0) != 0) continue;
    if (first_line(entry.path() / "type") == "Instruction") continue;
    const auto level = parse_integer(first_line(entry.path() / "level"));
    const int64_t size = parse_cache_size(first_line(entry.path() / "size"));
    if (!level || size <= 0) continue;
    if (*level > best_level || (*level == best_level && size > best)) {
      best_level = int(*level);
      best = size;
    }
  }
  if (best > 0) return best;
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
