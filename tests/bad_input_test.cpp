// One test per row of the README's bad-input table: each hostile input to
// dfwbench (a variant, a flag, an input file, an output path, a full disk) is
// refused with a message naming the problem and a non-zero exit, never a crash
// and never a partial output file. Most rows run the built dfwbench binary
// (DFW_BINARY) as a child process; the rest call the harness functions.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "child_run.hpp"
#include "temp_dir.hpp"

#include "accuracy.hpp"
#include "atomic_file.hpp"
#include "generator.hpp"
#include "impl.hpp"
#include "npy.hpp"

namespace dfw {
namespace {

namespace fs = std::filesystem;

using test::ChildRun;
using test::dfwbench;
using test::listing;
using test::read_file;
using test::shell;
using test::TempDir;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void save(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& values) {
  write_npy(path, shape, std::vector<double>(values.begin(), values.end()));
}

// Valid eval inputs for `variant` at a small shape, written to dir; returns them.
Problem write_inputs(const std::string& dir, const std::string& variant, Shape s = {1, 2, 5, 4, 3}) {
  const Variant v = parse_variant(variant);
  Problem p = generate_problem(v, s, {});
  const int64_t B = s.B, H = s.H, T = s.T, m = p.m;
  save(dir + "/q.npy", {B, H, T, s.dk}, p.q);
  save(dir + "/k.npy", {B, H, T, s.dk}, p.k);
  save(dir + "/v.npy", {B, H, T, s.dv}, p.v);
  if (!p.gate.empty()) save(dir + "/gate.npy", {B, H, T}, p.gate);
  if (!p.beta.empty()) save(dir + "/beta.npy", {B, H, T}, p.beta);
  if (!p.gate_v.empty()) save(dir + "/gate_v.npy", {B, H, T, s.dv}, p.gate_v);
  if (!p.gate_k.empty()) save(dir + "/gate_k.npy", {B, H, T, m}, p.gate_k);
  if (!p.w.empty()) save(dir + "/w.npy", {H, m, s.dk}, p.w);
  if (!p.b.empty()) save(dir + "/b.npy", {H, m}, p.b);
  if (!p.omega.empty()) save(dir + "/omega.npy", {H, m, s.dk}, p.omega);
  return p;
}

// An eval run with inputs in in/ and outputs to out/ of a fresh directory.
class EvalInputs : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(dir / "in");
    fs::create_directory(dir / "out");
  }
  ChildRun eval(const std::string& variant, const std::string& extra = "") {
    return dfwbench("eval --variant '" + variant + "' --in " + (dir / "in") + " --out " + (dir / "out") + " " + extra);
  }
  // The run failed with `code` and `message`, and wrote nothing.
  void expect_refused(const ChildRun& r, int code, const std::string& message) {
    EXPECT_EQ(r.exit_code, code) << r.output;
    EXPECT_TRUE(contains(r.output, message)) << "output: " << r.output << "\nexpected: " << message;
    EXPECT_TRUE(listing(dir / "out").empty()) << "eval left files behind after refusing";
  }
  TempDir dir;
};

// ---- variants and specs -------------------------------------------------------

TEST_F(EvalInputs, UnknownVariantIsRefused) {
  write_inputs(dir / "in", "dfw");
  expect_refused(eval("nope"), 2, "unknown variant 'nope' (presets: softmax, linear");
  EXPECT_THROW(parse_variant("Dfw"), std::invalid_argument);
}

TEST_F(EvalInputs, UnknownFormIsRefused) {
  write_inputs(dir / "in", "dfw");
  expect_refused(eval("dfw", "--form warp"), 2, "no implementation warp/cpu/fp32");
  expect_refused(eval("dfw", "--dtype fp8"), 2, "no implementation recurrent/cpu/fp8");
  expect_refused(eval("delta", "--form chunked"), 2, "chunked/cpu/fp32 does not support delta");
  const ChildRun check = dfwbench("check --forms warp --quick --no-distance");
  EXPECT_EQ(check.exit_code, 2) << check.output;
  EXPECT_TRUE(contains(check.output, "unknown form 'warp'")) << check.output;
}

TEST(BadSelection, CheckThatRunsNoCaseFailsSayingSo) {
  // softmax has no recurrent form, forward or backward: every row is UNSUPPORTED,
  // so nothing was checked.
  const ChildRun none = dfwbench("check --variants softmax --forms recurrent --backend cpu --quick --no-distance");
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_TRUE(contains(none.output, "0 passed, 0 failed, 2 unsupported")) << none.output;
  EXPECT_TRUE(contains(none.output, "no case ran: every selected (variant, form, backend) is UNSUPPORTED"))
      << none.output;
  // One supported form among the unsupported ones is a run.
  const ChildRun some = dfwbench("check --variants softmax --forms recurrent,decode --backend cpu --quick --no-distance");
  EXPECT_EQ(some.exit_code, 0) << some.output;
}

TEST(BadSpec, MalformedSpecStringsAreRefusedWithTheReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"rule=decay,phi", "malformed spec item 'phi'"},
      {"rule=decay,,phi=elu1", "malformed spec item ''"},
      {"=decay", "malformed spec item '=decay'"},
      {"rule=bogus", "unknown rule 'bogus'"},
      {"rule=decay,phi=nope", "unknown feature map 'nope'"},
      {"rule=decay,colour=red", "unknown spec key 'colour'"},
      {"phi=elu1", "names no rule"},
      {"rule=add,norm=maybe", "norm must be on or off"},
      {"rule=add,phi=relu_proj,m=abc", "needs an integer in [1, 1048576], got 'abc'"},
      {"rule=add,phi=relu_proj,m=12x", "got '12x'"},
  };
  for (const auto& [spec, message] : cases) {
    try {
      parse_variant(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_TRUE(contains(e.what(), message)) << spec << ": " << e.what();
    }
  }
}

TEST_F(EvalInputs, UndefinedCombinationIsRefusedNotComputed) {
  write_inputs(dir / "in", "dfw");
  expect_refused(eval("rule=softmax,phi=elu1"), 2, "softmax takes no feature map");
  expect_refused(eval("rule=delta,phi=identity,norm=on"), 2, "normalisation is defined for add and gated only");
  expect_refused(eval("rule=decay,phi=identity,norm=on"), 2, "normalisation is defined for add and gated only, not decay");
}

// ---- sizes ------------------------------------------------------------------

TEST(BadSize, ZeroOrHugeFeatureWidthIsRefused) {
  for (const char* spec : {"rule=add,phi=relu_proj,m=0", "rule=add,phi=favor,m=-4", "rule=add,phi=favor,m=1048577",
                           "rule=delta,phi=dpfp,nu=0"}) {
    try {
      parse_variant(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_TRUE(contains(e.what(), "needs an integer in [1, 1048576]")) << spec << ": " << e.what();
    }
  }
  try {
    validate_shape({1, 1, 4, 4, 4}, 0);
    ADD_FAILURE() << "m = 0 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "m=0 is out of range")) << e.what();
  }
}

TEST(BadSize, DimensionsOutOfRangeNameTheField) {
  const struct {
    Shape s;
    const char* message;
  } cases[] = {
      {{1, 1, 0, 4, 4}, "T=0 is out of range [1, 16777216]"},
      {{1, 1, 4, 0, 4}, "dk=0 is out of range"},
      {{1, 1, 4, 4, 0}, "dv=0 is out of range"},
      {{0, 1, 4, 4, 4}, "B=0 is out of range"},
      {{1, -3, 4, 4, 4}, "H=-3 is out of range"},
      {{1, 1, kMaxDim + 1, 4, 4}, "T=16777217 is out of range"},
      {{1, 1, 4, int64_t{1} << 40, 4}, "dk=1099511627776 is out of range"},
  };
  for (const auto& c : cases) {
    try {
      validate_shape(c.s, 4);
      ADD_FAILURE() << c.s.str() << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_TRUE(contains(e.what(), c.message)) << c.s.str() << ": " << e.what();
    }
  }
}

TEST_F(EvalInputs, EmptyDimensionInAnInputFileIsRefused) {
  save(dir / "in/q.npy", {1, 1, 0, 4}, {});
  save(dir / "in/k.npy", {1, 1, 0, 4}, {});
  save(dir / "in/v.npy", {1, 1, 0, 4}, {});
  expect_refused(eval("linear"), 2, "T=0 is out of range");
  save(dir / "in/q.npy", {1, 1, 2, 0}, {});
  save(dir / "in/v.npy", {1, 1, 2, 3}, {0, 0, 0, 0, 0, 0});
  expect_refused(eval("linear"), 2, "dk=0 is out of range");
}

TEST(BadSize, ShapeProductPastMemoryIsRefusedBeforeAllocating) {
  const Shape huge{4096, 4096, 4096, 4096, 4096};  // 2^48 elements per tensor
  try {
    validate_shape(huge, 4096);
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "inputs: element count exceeds 17179869184")) << e.what();
  }
  // The generator refuses it too (std::invalid_argument, not std::bad_alloc).
  EXPECT_THROW(generate_problem(parse_variant("dfw"), huge, {}), std::invalid_argument);
  // Each dimension in range, but the product overflows int64.
  const Shape overflow{kMaxDim, kMaxDim, kMaxDim, kMaxDim, kMaxDim};
  EXPECT_THROW(validate_shape(overflow, kMaxDim), std::invalid_argument);
  // The state alone past the bound: dv * m.
  try {
    validate_shape({1024, 1, 1, 1, 1 << 20}, 1 << 20);
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "state: element count exceeds")) << e.what();
  }
}

// ---- input values -----------------------------------------------------------

TEST_F(EvalInputs, GatesOutsideTheUnitIntervalAreRefused) {
  Problem p = write_inputs(dir / "in", "gated");
  const Shape s = p.shape;
  const struct {
    float value;
    const char* text;
  } bad[] = {{0.f, "gate value 0.000000 at flat index 3 is outside (0, 1]"},
             {1.5f, "gate value 1.500000 at flat index 3"},
             {-0.25f, "gate value -0.250000 at flat index 3"}};
  for (const auto& b : bad) {
    std::vector<float> g = p.gate;
    g[3] = b.value;
    save(dir / "in/gate.npy", {s.B, s.H, s.T}, g);
    expect_refused(eval("gated"), 2, std::string("gate: ") + b.text);
  }
  // The boundary 1 is inside: exactly-1 gates run.
  save(dir / "in/gate.npy", {s.B, s.H, s.T}, std::vector<float>(p.gate.size(), 1.f));
  const ChildRun ok = eval("gated");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;

  TempDir dfw;
  Problem d = write_inputs(dfw.path(), "dfw");
  d.gate_k[7] = 0.f;
  EXPECT_THROW(validate_problem(parse_variant("dfw"), d), std::invalid_argument);
  d.gate_k[7] = 0.5f;
  d.gate_v[2] = 1.0001f;
  try {
    validate_problem(parse_variant("dfw"), d);
    ADD_FAILURE() << "gate_v 1.0001 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "gate_v: gate value 1.000100 at flat index 2")) << e.what();
  }
}

TEST_F(EvalInputs, NanOrInfInAnyInputIsRefused) {
  Problem p = write_inputs(dir / "in", "dfw");
  const Shape s = p.shape;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> q = p.q;
  q[7] = nan;
  save(dir / "in/q.npy", {s.B, s.H, s.T, s.dk}, q);
  expect_refused(eval("dfw"), 2, "q: non-finite value at flat index 7");
  save(dir / "in/q.npy", {s.B, s.H, s.T, s.dk}, p.q);

  std::vector<float> v = p.v;
  v[0] = -inf;
  save(dir / "in/v.npy", {s.B, s.H, s.T, s.dv}, v);
  expect_refused(eval("dfw"), 2, "v: non-finite value at flat index 0");
  save(dir / "in/v.npy", {s.B, s.H, s.T, s.dv}, p.v);

  std::vector<float> gk = p.gate_k;
  gk[5] = nan;  // NaN is reported as non-finite, not as a gate value
  save(dir / "in/gate_k.npy", {s.B, s.H, s.T, p.m}, gk);
  expect_refused(eval("dfw"), 2, "gate_k: non-finite value at flat index 5");
}

TEST(BadOutput, NanOrInfOutputsAreNotFinite) {
  // `check` marks a case PASS only when compare_outputs(...).finite(); a NaN or Inf
  // anywhere in y or the state makes it FAIL with the note "NaN or Inf in the output".
  Output ref;
  ref.y = {1, 2, 3, 4};
  ref.state = {1, 1};
  Output x = ref;
  EXPECT_TRUE(compare_outputs(x, ref).finite());
  x.y[2] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(compare_outputs(x, ref).finite());
  EXPECT_FALSE(compare(x.y, ref.y).finite);
  x = ref;
  x.state[1] = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(compare_outputs(x, ref).finite());
  x = ref;
  x.y[0] = -std::numeric_limits<double>::infinity();
  EXPECT_FALSE(compare(x.y, ref.y).finite);
}

TEST_F(EvalInputs, MissingOrMisshapenInputFilesAreRefused) {
  Problem p = write_inputs(dir / "in", "gated");
  const Shape s = p.shape;  // (1, 2, 5, 4, 3)
  fs::remove(dir / "in/gate.npy");
  expect_refused(eval("gated"), 2, (dir / "in") + "/gate.npy: missing (required by this variant)");
  save(dir / "in/gate.npy", {s.B, s.H, s.T}, p.gate);
  // same element count, other shape: refused, not read as other tokens
  save(dir / "in/k.npy", {s.B, s.H, s.dk, s.T}, p.k);
  expect_refused(eval("gated"), 2, "k.npy: shape (1, 2, 4, 5), expected (1, 2, 5, 4)");
  save(dir / "in/k.npy", {s.B, s.H, s.T, s.dk}, p.k);
  save(dir / "in/gate.npy", {s.H, s.B, s.T}, p.gate);
  expect_refused(eval("gated"), 2, "gate.npy: shape (2, 1, 5), expected (1, 2, 5)");
  save(dir / "in/gate.npy", {s.B, s.H, s.T}, p.gate);
  save(dir / "in/v.npy", {s.B * s.H * s.T, s.dv}, p.v);
  expect_refused(eval("gated"), 2, "v.npy: expected 4 dimensions, got 2");
  // a corrupt file: the reader's error, with the file's path
  save(dir / "in/v.npy", {s.B, s.H, s.T, s.dv}, p.v);
  const std::string bytes = read_file(dir / "in/v.npy");
  std::ofstream(dir / "in/v.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 5);
  expect_refused(eval("gated"), 1, (dir / "in") + "/v.npy: truncated data");
}

TEST_F(EvalInputs, DeltaWithUnboundedKeysIsRefused) {
  Problem p = write_inputs(dir / "in", "delta");
  const Shape s = p.shape;
  std::vector<float> k = p.k;
  for (int i = 0; i < 4; ++i) k[4 + i] *= 3.f;  // row 1
  save(dir / "in/k.npy", {s.B, s.H, s.T, s.dk}, k);
  expect_refused(eval("delta"), 2, "k: row 1 has |k|");
}

// ---- flags ------------------------------------------------------------------

TEST_F(EvalInputs, MalformedFlagsAreRefused) {
  write_inputs(dir / "in", "dfw");
  expect_refused(eval("dfw", "--chunk 0"), 2, "--chunk must be >= 1");
  expect_refused(eval("dfw", "--chunk abc"), 2, "--chunk needs an integer, got 'abc'");
  expect_refused(eval("dfw", "--colour red"), 2, "unknown flag --colour");
  expect_refused(eval("dfw", "--backend tpu"), 2, "--backend must be cpu or cuda, got 'tpu'");
  expect_refused(eval("dfw", "stray"), 2, "unexpected argument 'stray'");
  const ChildRun no_value = dfwbench("eval --variant");
  EXPECT_EQ(no_value.exit_code, 2);
  EXPECT_TRUE(contains(no_value.output, "--variant needs a value")) << no_value.output;
  const ChildRun unknown = dfwbench("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.output, "unknown command 'frobnicate'")) << unknown.output;
}

// ---- devices and output paths ------------------------------------------------

TEST_F(EvalInputs, CudaBackendWithoutDeviceExitsWithTheReason) {
  const std::string reason = cuda_unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a CUDA device is present";
  write_inputs(dir / "in", "dfw");
  expect_refused(eval("dfw", "--backend cuda"), 1, "--backend cuda: " + reason);
  const ChildRun check = dfwbench("check --backend cuda --quick --no-distance");
  EXPECT_EQ(check.exit_code, 1) << check.output;
  EXPECT_TRUE(contains(check.output, "--backend cuda: " + reason)) << check.output;
}

TEST_F(EvalInputs, UnwritableEvalOutFailsBeforeAnyWork) {
  write_inputs(dir / "in", "dfw");
  ChildRun r = dfwbench("eval --variant dfw --in " + (dir / "in") + " --out " + (dir / "missing/sub"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--out " + (dir / "missing/sub") + ": no such directory")) << r.output;
  std::ofstream(dir / "plain_file") << "x";
  r = dfwbench("eval --variant dfw --in " + (dir / "in") + " --out " + (dir / "plain_file"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "not a directory")) << r.output;
  EXPECT_EQ(read_file(dir / "plain_file"), "x");
  EXPECT_FALSE(fs::exists(dir / "missing"));
}

TEST_F(EvalInputs, FailedOutputWriteReplacesNoOutputFile) {
  write_inputs(dir / "in", "linear", {1, 1, 2, 48, 48});  // y ~0.9 KB, state ~18 KB, z ~0.5 KB
  const std::vector<std::string> outputs = {"state.npy", "y.npy", "z.npy"};  // sorted, to compare with listing()
  for (const auto& name : outputs) std::ofstream(dir / ("out/" + name)) << "old " << name;
  // A 4 KiB file size limit (SIGXFSZ ignored): y.npy is written, state.npy fails with EFBIG.
  const std::string args = " eval --variant linear --in " + (dir / "in") + " --out " + (dir / "out") + " 2>&1";
  const ChildRun r = shell("trap '' XFSZ; ulimit -f 8; exec " + std::string(DFW_BINARY) + args);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string message = (dir / "out/state.npy") + ": write failed: File too large (no output file was replaced)";
  EXPECT_TRUE(contains(r.output, message)) << r.output;
  EXPECT_EQ(listing(dir / "out"), outputs) << "temporary file left behind";
  for (const auto& name : outputs)
    EXPECT_TRUE(read_file(dir / ("out/" + name)) == "old " + name) << name << " replaced by a failed eval";

  // Without the limit the whole set is replaced, and reads back with its shapes.
  const ChildRun ok = eval("linear");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(read_npy(dir / "out/y.npy").shape, (std::vector<int64_t>{1, 1, 2, 48}));
  EXPECT_EQ(read_npy(dir / "out/state.npy").shape, (std::vector<int64_t>{1, 1, 48, 48}));
  EXPECT_EQ(read_npy(dir / "out/z.npy").shape, (std::vector<int64_t>{1, 1, 48}));
  EXPECT_EQ(listing(dir / "out").size(), 3u);
}

TEST_F(EvalInputs, AnEarlierRunsOutputsAreNotLeftBesideNewOnes) {
  write_inputs(dir / "in", "linear");
  const ChildRun normalised = eval("linear");
  ASSERT_EQ(normalised.exit_code, 0) << normalised.output;
  ASSERT_EQ(listing(dir / "out"), (std::vector<std::string>{"state.npy", "y.npy", "z.npy"}));
  const ChildRun plain = eval("rule=add,phi=elu1");  // no z
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(listing(dir / "out"), (std::vector<std::string>{"state.npy", "y.npy"})) << "z.npy of the earlier run left";
  const ChildRun softmax = eval("softmax");  // no state, no z
  ASSERT_EQ(softmax.exit_code, 0) << softmax.output;
  EXPECT_EQ(listing(dir / "out"), std::vector<std::string>{"y.npy"}) << "state.npy of the earlier run left";
}

TEST(BadOutput, UnwritableCheckOutFailsWithoutPartialFile) {
  TempDir dir;
  const std::string quick = "check --variants dfw --forms recurrent --quick --no-distance --out ";
  ChildRun r = dfwbench(quick + (dir / "missing/rows.csv"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, (dir / "missing/rows.csv") + ": cannot create")) << r.output;
  EXPECT_TRUE(contains(r.output, "No such file or directory")) << r.output;
  EXPECT_TRUE(listing(dir.path()).empty());
  // --out names a directory: the rename fails, and the temporary file is removed.
  fs::create_directory(dir / "rows.csv");
  r = dfwbench(quick + (dir / "rows.csv"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "rename failed")) << r.output;
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"rows.csv"});
  EXPECT_TRUE(listing(dir / "rows.csv").empty());
}

TEST(BadBench, CudaBackendWithoutDeviceExitsWithTheReason) {
  const std::string reason = cuda_unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a CUDA device is present";
  const ChildRun r = dfwbench("bench --backend cuda --list");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "--backend cuda: " + reason)) << r.output;
}

TEST(BadBench, GpuTargetsWithoutDeviceExitWithTheReason) {
  const std::string reason = cuda_unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a CUDA device is present";
  const ChildRun r = dfwbench("bench --preset gpu-targets --list");  // --backend auto: the CPU here
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "preset gpu-targets needs a CUDA device, and this run has none: " + reason))
      << r.output;
  const ChildRun cpu = dfwbench("bench --preset gpu-targets --backend cpu --list");
  EXPECT_EQ(cpu.exit_code, 1) << cpu.output;
  EXPECT_TRUE(contains(cpu.output, "preset gpu-targets needs a CUDA device, and this run has none: " + reason))
      << cpu.output;
}

TEST(BadBench, ShapesAndSpecsAreRefusedBeforeRunning) {
  const std::pair<const char*, const char*> cases[] = {
      {"--variants nope", "unknown variant 'nope'"},
      {"--seqlens 0:10:0", "--seqlens: the step must be >= 1"},
      {"--seqlens 100000000000", "T=100000000000 is out of range"},
      {"--batch 0", "--batch must be >= 1"},
      {"--threads 0", "--threads must be >= 1"},
      {"--threads 5000", "--threads must be <= 1024"},
      {"--attempts 0", "--attempts must be >= 1"},
  };
  for (const auto& [flags, message] : cases) {
    const ChildRun r = dfwbench(std::string("bench --backend cpu --list ") + flags);
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.output;
    EXPECT_TRUE(contains(r.output, message)) << flags << ": " << r.output;
  }
}

TEST(BadBench, UnwritableResultsDirFailsBeforeAnyCase) {
  TempDir dir;
  std::ofstream(dir / "plain_file") << "x";
  // Ceilings left at "measure": the directory must be refused before they are.
  const std::string one_case = "bench --backend cpu --variants dfw --seqlens 8 --batch 1 --dk 8 --dv 8 "
                               "--repetitions 1 --min-time 0.0005 --results-dir ";
  const struct {
    std::string dir, flags, message;
  } cases[] = {
      // a path through a regular file: fails for root too
      {dir / "plain_file/sub", "",
       "--results-dir: cannot create directory " + (dir / "plain_file/sub") + ": Not a directory"},
      {dir / "plain_file/sub", "--resume", "--results-dir: cannot create directory " + (dir / "plain_file/sub")},
      {dir / "plain_file", "",
       "--results-dir: " + (dir / "plain_file") + ": cannot create a file in it: Not a directory"},
  };
  for (const auto& c : cases) {
    const ChildRun r = dfwbench(one_case + c.dir + " " + c.flags);
    EXPECT_EQ(r.exit_code, 1) << c.dir << " " << c.flags << ": " << r.output;
    EXPECT_TRUE(contains(r.output, c.message)) << "output: " << r.output << "\nexpected: " << c.message;
    EXPECT_FALSE(contains(r.output, "measuring")) << "ceilings measured before the directory was checked";
    EXPECT_FALSE(contains(r.output, "case 1 of")) << "a case ran before the directory was checked";
  }
  if (geteuid() != 0) {  // root writes into a read-only directory
    fs::create_directory(dir / "ro");
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    const ChildRun r = dfwbench(one_case + (dir / "ro"));
    fs::permissions(dir / "ro", fs::perms::owner_all);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, (dir / "ro") + ": cannot create a file in it: Permission denied")) << r.output;
    EXPECT_TRUE(listing(dir / "ro").empty());
    fs::remove(dir / "ro");
  }
  // --list writes nothing, so it needs no writable directory.
  const ChildRun list = dfwbench(one_case + (dir / "plain_file/sub") + " --list");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"plain_file"});
  EXPECT_EQ(read_file(dir / "plain_file"), "x");
  // A missing directory is created (parents too); the probe file is not left in it.
  const ChildRun ok = dfwbench(one_case + (dir / "new/results") + " --ceilings skip");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(listing(dir / "new/results"), (std::vector<std::string>{"custom-cpu.csv", "custom-cpu.json"}));
}

TEST(BadOutput, DiskFullKeepsTheOldFileAndSaysWhy) {
  TempDir dir;
  const std::string path = dir / "results.csv";
  std::ofstream(path) << "old,complete\n";
  // The temporary file write_file_atomically creates is PATH.tmp.<pid>; pointing
  // that name at /dev/full makes every write fail with ENOSPC, as on a full disk.
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  ASSERT_EQ(symlink("/dev/full", tmp.c_str()), 0);
  try {
    write_file_atomically(path, std::string(1 << 16, 'x'));
    ADD_FAILURE() << "a write to a full disk succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), path + ": write failed: No space left on device")) << e.what();
  }
  EXPECT_EQ(read_file(path), "old,complete\n");
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"results.csv"}) << "temporary file left behind";
}

TEST(BadOutput, FileSizeLimitKeepsTheOldFileAndSaysWhy) {
  TempDir dir;
  const std::string path = dir / "y.npy";
  std::ofstream(path) << "old";
  // RLIMIT_FSIZE: writes past 4 KiB fail with EFBIG (SIGXFSZ ignored meanwhile).
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string error;
  try {
    write_npy(path, {64, 64}, std::vector<double>(64 * 64, 1.0));
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(contains(error, path + ": write failed: File too large")) << error;
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"y.npy"});
}

}  // namespace
}  // namespace dfw
