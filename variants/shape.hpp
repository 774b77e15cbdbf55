// Problem sizes shared by every form: batch, heads, tokens and head widths.
#pragma once

#include <cstdint>
#include <string>

namespace dfw {

// Per (b, h): q, k are (T, dk), v is (T, dv), the state is (dv, m).
struct Shape {
  int64_t B = 1;
  int64_t H = 1;
  int64_t T = 1;
  int64_t dk = 64;
  int64_t dv = 64;

  int64_t heads_total() const { return B * H; }
  std::string str() const;  // "B=2 H=3 T=97 dk=64 dv=32"
};

// Largest value accepted for any single dimension, and for element counts of
// one tensor; anything larger is refused with a message instead of attempted.
constexpr int64_t kMaxDim = int64_t{1} << 24;
constexpr int64_t kMaxElements = int64_t{1} << 34;

// Throws std::invalid_argument naming the bad field when a size is out of range
// (T may be 0 only when allow_empty_t is set, as in a decode step with no context).
void validate_shape(const Shape& s, int64_t m, bool allow_empty_t = false);

// a * b * c ... with overflow and kMaxElements checks; throws std::invalid_argument.
int64_t checked_product(std::initializer_list<int64_t> dims, const char* what);

}  // namespace dfw
