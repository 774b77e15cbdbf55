// The roofline bound of a cuda case (roofline.hpp).
#include "roofline.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace dfw {

double roofline_ms(double flops, double bytes) {
  if (!(flops >= 0 && bytes >= 0 && std::isfinite(flops) && std::isfinite(bytes)))
    throw std::invalid_argument("roofline: flops and bytes must be finite and >= 0 (flops = " +
                                std::to_string(flops) + ", bytes = " + std::to_string(bytes) + ")");
  return 1e3 * std::max(bytes / kH200NominalCopyBytesPerS, flops / kH200NominalBf16FlopsPerS);
}

}  // namespace dfw
