// Schedule parsing and the ready-thread choice (see schedule.hpp).
#include "schedule.hpp"

#include <cstdlib>
#include <stdexcept>

namespace emu {

Schedule Schedule::parse(const std::string& text) {
  Schedule s;
  if (text.empty() || text == "greedy") return s;
  if (text == "reverse") s.kind = reverse;
  else if (text == "roundrobin") s.kind = roundrobin;
  else if (text.rfind("random:", 0) == 0 && text.size() > 7) {
    s.kind = random;
    std::size_t used = 0;
    s.seed = std::stoull(text.substr(7), &used);
    if (used != text.size() - 7) throw std::invalid_argument("bad seed");
  } else {
    throw std::invalid_argument("DFWBENCH_EMU_SCHEDULE must be greedy, reverse, roundrobin or random:SEED, got '" +
                                text + "'");
  }
  return s;
}

const Schedule& Schedule::from_env() {
  static const Schedule s = [] {
    const char* v = std::getenv("DFWBENCH_EMU_SCHEDULE");
    return parse(v ? v : "");
  }();
  return s;
}

std::string Schedule::name() const {
  switch (kind) {
    case greedy: return "greedy";
    case reverse: return "reverse";
    case roundrobin: return "roundrobin";
    case random: return "random:" + std::to_string(seed);
  }
  return "?";
}

void ReadySet::reset(int threads, const Schedule& s, std::uint64_t block_seed) {
  threads_ = threads;
  bits_.assign((threads + 63) / 64, 0);
  last_ = -1;
  kind_ = s.kind;
  rng_ = s.seed * 0x9E3779B97F4A7C15ull + block_seed + 1;
}

int ReadySet::first_from(int start) const {
  for (int w = start >> 6; w < int(bits_.size()); ++w) {
    std::uint64_t b = bits_[w];
    if (w == start >> 6) b &= ~std::uint64_t(0) << (start & 63);
    if (b) return w * 64 + __builtin_ctzll(b);
  }
  return -1;
}

int ReadySet::take() {
  int i = -1;
  switch (kind_) {
    case Schedule::greedy: i = first_from(0); break;
    case Schedule::roundrobin:
      i = last_ + 1 < threads_ ? first_from(last_ + 1) : -1;
      if (i < 0) i = first_from(0);
      break;
    case Schedule::reverse:
      for (int w = int(bits_.size()) - 1; w >= 0 && i < 0; --w)
        if (bits_[w]) i = w * 64 + 63 - __builtin_clzll(bits_[w]);
      break;
    case Schedule::random: {
      int count = 0;
      for (std::uint64_t b : bits_) count += __builtin_popcountll(b);
      if (count == 0) break;
      rng_ ^= rng_ << 13;  // xorshift64
      rng_ ^= rng_ >> 7;
      rng_ ^= rng_ << 17;
      int k = int(rng_ % std::uint64_t(count));
      for (int w = 0; w < int(bits_.size()); ++w) {
        std::uint64_t b = bits_[w];
        const int c = __builtin_popcountll(b);
        if (k >= c) {
          k -= c;
          continue;
        }
        while (k-- > 0) b &= b - 1;
        i = w * 64 + __builtin_ctzll(b);
        break;
      }
      break;
    }
  }
  if (i >= 0) {
    clear(i);
    last_ = i;
  }
  return i;
}

}  // namespace emu
