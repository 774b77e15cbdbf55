#include "shape.hpp"

#include <sstream>
#include <stdexcept>

namespace dfw {

std::string Shape::str() const {
  std::ostringstream os;
  os << "B=" << B << " H=" << H << " T=" << T << " dk=" << dk << " dv=" << dv;
  return os.str();
}

int64_t checked_product(std::initializer_list<int64_t> dims, const char* what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) throw std::invalid_argument(std::string(what) + ": negative dimension");
    if (d != 0 && n > kMaxElements / d)
      throw std::invalid_argument(std::string(what) + ": element count exceeds " +
                                  std::to_string(kMaxElements));
    n *= d;
  }
  return n;
}

void validate_shape(const Shape& s, int64_t m, bool allow_empty_t) {
  auto check = [](const char* name, int64_t v, int64_t lo) {
    if (v < lo || v > kMaxDim)
      throw std::invalid_argument(std::string(name) + "=" + std::to_string(v) + " is out of range [" +
                                  std::to_string(lo) + ", " + std::to_string(kMaxDim) + "]");
  };
  check("B", s.B, 1);
  check("H", s.H, 1);
  check("T", s.T, allow_empty_t ? 0 : 1);
  check("dk", s.dk, 1);
  check("dv", s.dv, 1);
  check("m", m, 1);
  checked_product({s.B, s.H, s.T, std::max(s.dk, s.dv)}, "inputs");
  checked_product({s.B, s.H, s.dv, m}, "state");
}

}  // namespace dfw
