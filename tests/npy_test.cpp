// The .npy reader against hostile files: the committed corpus
// tests/data/npy_corpus (written by scripts/make_npy_corpus.py, expectations in
// its EXPECTED.tsv) is replayed file by file; every malformed file must be
// refused with an NpyError naming the file and the problem, and no file may make
// the reader allocate more than a small multiple of its size.
#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "npy.hpp"

// ---- largest single allocation, measured while a flag is set ----------------
// Replacing the global operator new is how this test sees what the reader asks
// for. Under AddressSanitizer the replacement is left out (ASan's own operator
// new checks new/delete mismatches for every other test) and scripts/sanitize.sh
// bounds allocations with ASAN_OPTIONS=max_allocation_size_mb instead.
#if !defined(__SANITIZE_ADDRESS__)
#define DFW_MEASURE_ALLOCATIONS 1
namespace {
std::atomic<bool> g_measuring{false};
std::atomic<std::size_t> g_largest{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_measuring.load(std::memory_order_relaxed)) {
    std::size_t prev = g_largest.load();
    while (n > prev && !g_largest.compare_exchange_weak(prev, n)) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// operator new above allocates with malloc, so free is the matching release; GCC
// cannot see that across the replacement and warns.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

namespace {

const std::string kCorpus = std::string(DFW_SOURCE_DIR) + "/tests/data/npy_corpus";

struct CorpusEntry {
  std::string file;      // name inside kCorpus
  std::string expected;  // "OK" or a substring of the error
};

void PrintTo(const CorpusEntry& e, std::ostream* os) { *os << e.file << " -> " << e.expected; }

std::vector<CorpusEntry> load_manifest() {
  std::vector<CorpusEntry> out;
  std::ifstream in(kCorpus + "/EXPECTED.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    out.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return out;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// "big_endian_f4.npy" -> "big_endian_f4" (a valid GoogleTest parameter name)
std::string param_name(const testing::TestParamInfo<CorpusEntry>& info) {
  std::string s = info.param.file.substr(0, info.param.file.rfind('.'));
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

class NpyCorpus : public testing::TestWithParam<CorpusEntry> {};

TEST_P(NpyCorpus, RefusedWithMessageOrParsed) {
  const CorpusEntry& e = GetParam();
  const std::string path = kCorpus + "/" + e.file;
  if (e.expected == "OK") {
    const dfw::NpyArray a = dfw::read_npy(path);
    int64_t count = 1;
    for (int64_t d : a.shape) count *= d;
    EXPECT_EQ(int64_t(a.data.size()), count);
    return;
  }
  try {
    dfw::read_npy(path);
    FAIL() << e.file << " was accepted; expected an error containing '" << e.expected << "'";
  } catch (const dfw::NpyError& err) {
    const std::string msg = err.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "message does not start with the file: " << msg;
    EXPECT_NE(msg.find(e.expected), std::string::npos) << "message: " << msg << "\nexpected: " << e.expected;
  }
}

INSTANTIATE_TEST_SUITE_P(Replay, NpyCorpus, testing::ValuesIn(load_manifest()), param_name);

TEST(NpyCorpusManifest, ListsEveryCommittedFile) {
  const auto manifest = load_manifest();
  ASSERT_GE(manifest.size(), 30u) << "EXPECTED.tsv missing or short in " << kCorpus;
  std::set<std::string> listed, present;
  for (const auto& e : manifest) listed.insert(e.file);
  DIR* d = opendir(kCorpus.c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* ent = readdir(d)) {
    const std::string n = ent->d_name;
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".npy") == 0) present.insert(n);
  }
  closedir(d);
  EXPECT_EQ(listed, present) << "rerun scripts/make_npy_corpus.py";
}

TEST(NpyCorpusManifest, NoFileMakesTheReaderAllocateBeyondItsSize) {
#if defined(DFW_MEASURE_ALLOCATIONS)
  for (const auto& e : load_manifest()) {
    const std::string bytes = file_bytes(kCorpus + "/" + e.file);
    g_largest = 0;
    g_measuring = true;
    std::size_t data_bytes = 0;
    try {
      data_bytes = dfw::parse_npy(e.file, bytes.data(), bytes.size()).data.size() * sizeof(float);
    } catch (const dfw::NpyError&) {
    }
    g_measuring = false;
    EXPECT_GE(g_largest.load(), data_bytes) << e.file << ": the measurement missed the data allocation";
    // the data (float32, never wider than the file) plus header and message strings
    EXPECT_LE(g_largest.load(), bytes.size() + 4096) << e.file;
  }
#else
  GTEST_SKIP() << "measured in the build without AddressSanitizer";
#endif
}

TEST(Npy, EveryTruncationOfAValidFileIsRefused) {
  const std::string bytes = file_bytes(kCorpus + "/valid_f8_v2.npy");
  ASSERT_GT(bytes.size(), 64u);
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(dfw::parse_npy("cut.npy", bytes.data(), n), dfw::NpyError) << "prefix of " << n << " bytes";
  EXPECT_NO_THROW(dfw::parse_npy("whole.npy", bytes.data(), bytes.size()));
}

TEST(Npy, NullAndEmptyBuffersAreRefused) {
  EXPECT_THROW(dfw::parse_npy("null.npy", nullptr, 0), dfw::NpyError);
  EXPECT_THROW(dfw::parse_npy("empty.npy", "", 0), dfw::NpyError);
}

TEST(Npy, MissingFileDirectoryAndDeviceAreRefusedWithTheirPath) {
  try {
    dfw::read_npy("/nonexistent/q.npy");
    FAIL() << "no error";
  } catch (const dfw::NpyError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/q.npy: cannot open for reading: No such file or directory");
  }
  try {
    dfw::read_npy(kCorpus);
    FAIL() << "a directory was read as a .npy file";
  } catch (const dfw::NpyError& e) {
    EXPECT_EQ(std::string(e.what()), kCorpus + ": not a regular file");
  }
  EXPECT_THROW(dfw::read_npy("/dev/null"), dfw::NpyError);
}

TEST(Npy, WrittenFileReadsBackAsFloat32) {
  char dir[] = "/tmp/dfw_npy_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/x.npy";
  const std::vector<double> values = {1.0, -2.5, 3.25, 1e-3, 0.0, 7.0};
  dfw::write_npy(path, {2, 3}, values);
  const dfw::NpyArray a = dfw::read_npy(path);
  EXPECT_EQ(a.dtype, "<f8");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(a.data.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(a.data[i], float(values[i]));
  // header padded so the data starts on a 64-byte boundary (format 1.0)
  const std::string bytes = file_bytes(path);
  EXPECT_EQ((bytes.size() - values.size() * 8) % 64, 0u);
  std::remove(path.c_str());
  rmdir(dir);
}

}  // namespace
