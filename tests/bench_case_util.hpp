// A BenchCase for the tests that build one by hand (the presets build theirs in
// bench_cases.cpp): CPU, fp32, m from the variant's feature map.
#pragma once

#include <cstdint>
#include <string>

#include "bench_cases.hpp"

namespace dfw::test {

inline BenchCase cpu_case(const std::string& variant, const std::string& form, BenchMode mode, Shape shape,
                          int64_t chunk = 0) {
  BenchCase c;
  c.variant = parse_variant(variant);
  c.form = form;
  c.backend = "cpu";
  c.dtype = "fp32";
  c.mode = mode;
  c.shape = shape;
  c.m = c.variant.m(shape.dk);
  c.chunk = chunk;
  return c;
}

}  // namespace dfw::test
