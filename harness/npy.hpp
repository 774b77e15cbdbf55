// .npy files (NumPy format 1.0 / 2.0 / 3.0): float32 and float64, little-endian,
// C order. The reader validates everything before it allocates and throws
// NpyError naming the file and the problem.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dfw {

class NpyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // values converted to float32
  std::string dtype;        // "<f4" or "<f8" as stored
};

// Largest data section accepted, so a header cannot make the reader allocate
// without bound (also bounded by the file's real size).
constexpr int64_t kNpyMaxBytes = int64_t{1} << 36;

NpyArray read_npy(const std::string& path);
// Parses an in-memory file; `name` is used in messages.
NpyArray parse_npy(const std::string& name, const char* bytes, std::size_t size);

// The bytes of a format 1.0 .npy file holding float64 data (C order).
std::string npy_bytes(const std::vector<int64_t>& shape, const std::vector<double>& data);
// Writes npy_bytes(shape, data) atomically: to PATH.tmp, then renamed.
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<double>& data);

}  // namespace dfw
