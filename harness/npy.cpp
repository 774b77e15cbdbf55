#include "npy.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "atomic_file.hpp"

namespace dfw {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) { throw NpyError(name + ": " + what); }

// Value of `key` in the header dict, as raw text up to the next top-level ',' or '}'.
std::string dict_value(const std::string& name, const std::string& header, const std::string& key) {
  const std::string quoted = "'" + key + "'";
  const auto k = header.find(quoted);
  if (k == std::string::npos) fail(name, "header has no " + quoted + " entry");
  auto p = header.find(':', k + quoted.size());
  if (p == std::string::npos) fail(name, "header entry " + quoted + " has no value");
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  if (p >= header.size()) fail(name, "header entry " + quoted + " has no value");
  if (header[p] == '(') {
    const auto e = header.find(')', p);
    if (e == std::string::npos) fail(name, "unterminated shape tuple in header");
    return header.substr(p, e - p + 1);
  }
  if (header[p] == '\'') {
    const auto e = header.find('\'', p + 1);
    if (e == std::string::npos) fail(name, "unterminated string in header");
    return header.substr(p + 1, e - p - 1);
  }
  auto e = header.find_first_of(",}", p);
  if (e == std::string::npos) fail(name, "malformed header dict");
  auto v = header.substr(p, e - p);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

std::vector<int64_t> parse_shape(const std::string& name, const std::string& tuple) {
  std::vector<int64_t> shape;
  std::string inner = tuple.substr(1, tuple.size() - 2);
  std::stringstream in(inner);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t a = item.find_first_not_of(' '), b = item.find_last_not_of(' ');
    if (a == std::string::npos) continue;  // trailing comma: "(3,)"
    item = item.substr(a, b - a + 1);
    if (item.empty() || item.size() > 18 || item.find_first_not_of("0123456789") != std::string::npos)
      fail(name, "bad dimension '" + item + "' in shape " + tuple);
    shape.push_back(std::stoll(item));
  }
  return shape;
}

}  // namespace

NpyArray parse_npy(const std::string& name, const char* bytes, std::size_t size) {
  static const char magic[] = "\x93NUMPY";
  if (size < 6 || std::memcmp(bytes, magic, 6) != 0) fail(name, "bad magic (not a .npy file)");
  if (size < 10) fail(name, "truncated header (" + std::to_string(size) + " bytes)");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) fail(name, "truncated header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= std::size_t(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    fail(name, "unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > size - header_start) fail(name, "header length " + std::to_string(header_len) + " runs past the end of the file");
  const std::string header(bytes + header_start, header_len);
  if (header.find('{') == std::string::npos || header.find('}') == std::string::npos)
    fail(name, "bad header (no dict)");

  NpyArray a;
  a.dtype = dict_value(name, header, "descr");
  const std::string order = dict_value(name, header, "fortran_order");
  if (order == "True") fail(name, "Fortran order is not supported (save with C order)");
  if (order != "False") fail(name, "bad fortran_order value '" + order + "'");
  const std::string tuple = dict_value(name, header, "shape");
  if (tuple.empty() || tuple.front() != '(') fail(name, "shape is not a tuple");
  a.shape = parse_shape(name, tuple);

  std::size_t item = 0;
  if (a.dtype == "<f4" || a.dtype == "=f4") item = 4;
  else if (a.dtype == "<f8" || a.dtype == "=f8") item = 8;
  else if (a.dtype == ">f4" || a.dtype == ">f8") fail(name, "big-endian data ('" + a.dtype + "') is not supported");
  else fail(name, "unsupported dtype '" + a.dtype + "' (float32 '<f4' or float64 '<f8')");

  int64_t count = 1;
  for (int64_t d : a.shape) {
    if (d != 0 && count > kNpyMaxBytes / int64_t(item) / d) fail(name, "shape " + tuple + " is too large");
    count *= d;
  }
  const std::size_t data_start = header_start + header_len;
  const std::size_t want = std::size_t(count) * item, have = size - data_start;
  if (have < want)
    fail(name, "truncated data: " + std::to_string(have) + " bytes for " + std::to_string(want) + " expected by shape " + tuple);
  if (have > want) fail(name, "trailing bytes after the data (" + std::to_string(have - want) + ")");

  a.data.resize(count);
  const char* d = bytes + data_start;
  for (int64_t i = 0; i < count; ++i) {
    if (item == 4) {
      std::memcpy(&a.data[i], d + 4 * i, 4);
    } else {
      double x;
      std::memcpy(&x, d + 8 * i, 8);
      a.data[i] = static_cast<float>(x);
    }
  }
  return a;
}

NpyArray read_npy(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw NpyError(path + ": cannot open for reading: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw NpyError(path + ": not a regular file");  // a directory, FIFO or device
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NpyError(path + ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw NpyError(path + ": cannot determine size");
  if (size > kNpyMaxBytes + (1 << 20)) throw NpyError(path + ": file too large");
  in.seekg(0);
  std::vector<char> bytes(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(bytes.data(), size)) throw NpyError(path + ": read failed");
  return parse_npy(path, bytes.data(), bytes.size());
}

std::string npy_bytes(const std::vector<int64_t>& shape, const std::vector<double>& data) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.erase(dims.size() - 2);  // "(3, 4)"; "(3,)" keeps its comma
  else if (shape.size() == 1) dims.pop_back();
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + dims + "), }";
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes.push_back(char(header.size() & 0xff));
  bytes.push_back(char(header.size() >> 8));
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(double));
  return bytes;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<double>& data) {
  write_file_atomically(path, npy_bytes(shape, data));
}

}  // namespace dfw
