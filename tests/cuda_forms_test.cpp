// GPU suite: every CUDA implementation (recurrent, blocked, decode; fp32, fp16, bf16; chunked, cudnn fp16, bf16)
// against the float64 reference on odd shapes, gate edge sets, an initial state,
// decode steps and the wide-feature and long-cache kernel paths; plus device
// memory accounting, OutOfMemory and the event timer. Every test skips with the
// driver's reason where no device is usable.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

#ifdef DFW_CUDA_KERNELS
#include "device_buffer.hpp"
#endif

namespace dfw {
namespace {

class CudaSuite : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string r = cuda_unavailable_reason(); !r.empty()) GTEST_SKIP() << "no usable CUDA device: " << r;
  }
};

std::vector<const Impl*> cuda_impls() {
  std::vector<const Impl*> out;
  for (const Impl* i : all_impls())
    if (i->key().backend == "cuda") out.push_back(i);
  return out;
}

struct GpuCase {
  std::string variant;
  Shape shape;
  GateSet gates = GateSet::uniform_init;
  bool s0 = false;
  Mode mode = Mode::sequence;
  std::string only_form;  // empty: every form
  double slow_lo = 0.95;  // GateSet::slow moved into U(slow_lo, 1) (test::with_slow_gates_from)
};

// Runs every CUDA implementation that supports the case; returns how many did.
int check_case(const GpuCase& c) {
  const Variant v = parse_variant(c.variant);
  const Problem p = test::with_slow_gates_from(test::make(v, c.shape, c.gates, c.s0), c.slow_lo);
  const Output ref = run_once(test::impl("reference"), v, p, {c.mode, 64});
  int ran = 0;
  for (const Impl* impl : cuda_impls()) {
    const FormKey k = impl->key();
    if (!impl->unsupported_reason(v, c.mode).empty() || (!c.only_form.empty() && k.form != c.only_form)) continue;
    const std::string what = k.str() + " " + c.variant + " " + c.shape.str() + " " + gate_set_name(c.gates) +
                             " from " + std::to_string(c.slow_lo) + (c.s0 ? " s0" : "") + (c.mode == Mode::decode_step ? " decode_step" : "");
    // A signed map's normaliser amplifies the rounding of q, k: half-precision forms
    // answer for their computation on the inputs they receive (check does the same).
    const CaseErrors e = compare_outputs(
        run_once(*impl, v, p, {c.mode, 64}),
        compares_on_rounded_inputs(v, k.dtype)
            ? run_once(test::impl("reference"), v, with_qkv_rounded_to(p, k.dtype), {c.mode, 64})
            : ref);
    const double f = v.tolerance_factor();
    EXPECT_TRUE(e.finite()) << what;
    EXPECT_LE(e.y.rel_l2, f * rel_l2_limit(k.dtype)) << what;
    EXPECT_LE(e.y.max_abs, f * max_abs_limit(k.dtype)) << what;
    EXPECT_LE(e.state.rel_l2, f * rel_l2_limit(k.dtype)) << what;
    EXPECT_LE(e.state.max_abs, f * max_abs_limit(k.dtype)) << what;
    ++ran;
  }
  return ran;
}

TEST_F(CudaSuite, EveryPresetOnOddShapes) {
  for (const auto& name : preset_names())
    for (const Shape& s : {Shape{1, 1, 1, 16, 16}, Shape{1, 3, 7, 16, 8}, Shape{3, 1, 97, 32, 24}}) {
      const int ran = check_case({name, s});
      const int chunked = parse_variant(name).rule->is_gated_linear() ? 2 : 0;  // chunked in fp16, bf16
      EXPECT_EQ(ran, 6 + chunked) << name << " " << s.str()
                                  << ": recurrent or blocked, and decode, in 3 dtypes (+ chunked in 2)";
    }
}

// A rule whose factors no kernel takes (c_t computed, here 1 - a_t) is UNSUPPORTED
// on every CUDA form, with the reason; scalar_decay (the decay kernels on gate rows
// made on the host) runs everywhere, as EveryPresetOnOddShapes shows for ssd.
class ScaledWrite final : public RuleOf<ScaledWrite> {
 public:
  std::string name() const override { return "scaled_write"; }
  std::string description() const override { return "test-only: S = a S + (1 - a) v phi(k)^T, factors computed"; }
  bool supports_normalisation() const override { return false; }
  unsigned gate_inputs() const override { return kScalarGate; }
  bool is_gated_linear() const override { return true; }
  float gated_linear_factors(const TokenGates<float>& g, int64_t rows, int64_t m, float* a, float* b) const override {
    for (int64_t r = 0; r < rows; ++r) a[r] = g.g;
    for (int64_t c = 0; c < m; ++c) b[c] = 1.f;
    return 1.f - g.g;
  }
  template <class R>
  static void step_impl(R*, int64_t, int64_t, const R*, const R*, const TokenGates<R>&) {}
};

TEST_F(CudaSuite, ARuleNoKernelTakesIsUnsupportedWithTheReason) {
  const ScaledWrite rule;
  Variant v = parse_variant("ssd");
  v.rule = &rule;
  int refused = 0;
  for (const Impl* impl : cuda_impls()) {
    const std::string reason = impl->unsupported_reason(v, Mode::sequence);
    if (impl->key().form == "blocked" || impl->key().form == "cudnn") continue;  // the softmax forms
    EXPECT_NE(reason.find("takes the factors of rule scaled_write"), std::string::npos) << impl->key().str() << ": "
                                                                                       << reason;
    refused += !reason.empty();
    EXPECT_EQ(impl->unsupported_reason(parse_variant("ssd"), Mode::sequence), "") << impl->key().str();
  }
  EXPECT_EQ(refused, 8);  // recurrent and decode in 3 dtypes, chunked in 2
}

// The cudnn form (cuDNN's fused attention) takes softmax only, and where it cannot run it
// says why: on the emulated device that cuDNN is a GPU library; built without cuDNN or
// without its library, how to install it. On a GPU with cuDNN it runs in the suites above.
TEST_F(CudaSuite, TheCudnnFormTakesSoftmaxOrSaysWhyNot) {
  for (const char* dtype : {"fp16", "bf16"}) {
    const Impl* impl = find_impl("cudnn", "cuda", dtype);
    ASSERT_NE(impl, nullptr) << dtype;
    EXPECT_EQ(impl->unsupported_reason(parse_variant("dfw"), Mode::sequence),
              "cudnn is cuDNN's fused softmax attention (softmax only)");
    for (Mode mode : {Mode::sequence, Mode::decode_step}) {
      const std::string reason = impl->unsupported_reason(parse_variant("softmax"), mode);
      if (cuda_device_emulated())
        EXPECT_EQ(reason, "cuDNN is a GPU library: the emulated device has none");
      else if (!reason.empty())
        EXPECT_NE(reason.find("setup_cudnn.sh"), std::string::npos) << reason;
    }
  }
}

// The flash prefill (softmax blocked) at each head width it is instantiated for (32, 64,
// 128; dk, dv zero-padded up to it) and by both load paths: rows of a 16-byte multiple by
// cp.async (fp16 dk = 40, dv = 48), the others element by element (dv = 5, 33; fp16
// dk = 100); several key tiles, ragged last ones.
TEST_F(CudaSuite, FlashPrefillEveryHeadWidthAndLoadPath) {
  for (const Shape& s : {Shape{1, 2, 130, 12, 5}, Shape{2, 1, 70, 40, 33}, Shape{1, 1, 200, 40, 48},
                         Shape{1, 1, 129, 100, 72}})
    EXPECT_EQ(check_case({"softmax", s, GateSet::uniform_init, false, Mode::sequence, "blocked"}), 3) << s.str();
}

TEST_F(CudaSuite, LongSequenceAndLongCache) {
  for (const char* name : {"dfw", "delta", "linear", "softmax"}) check_case({name, {1, 1, 1025, 64, 48}});
}

TEST_F(CudaSuite, GateEdgeSets) {
  for (const char* name : {"dfw", "gated", "delta", "rule=decay,phi=elu1"})
    for (GateSet g : {GateSet::ones, GateSet::tiny, GateSet::mixed}) check_case({name, {1, 3, 97, 16, 16}, g});
}

// Gates near 1 (U(0.95, 1), U(0.99, 1)) over 300 tokens from s0: every form (the
// chunked ones over several chunks of 64) carries a state that keeps its weight.
TEST_F(CudaSuite, SlowGatesOverALongSequence) {
  for (double lo : {0.95, 0.99})
    for (const char* name : {"dfw", "gated", "rule=decay,phi=elu1"})
      EXPECT_GT(check_case({name, {1, 2, 300, 16, 16}, GateSet::slow, true, Mode::sequence, "", lo}), 0) << name;
}

TEST_F(CudaSuite, InitialStateAndDecodeStep) {
  for (const auto& name : preset_names()) {
    const bool stateful = parse_variant(name).rule->stateful();
    if (stateful) check_case({name, {2, 3, 33, 16, 24}, GateSet::uniform_init, true});
    check_case({name, {2, 3, stateful ? 1 : 33, 16, 24}, GateSet::uniform_init, stateful, Mode::decode_step});
  }
}

TEST_F(CudaSuite, EveryFeatureMapAndTheWideRegisterPath) {
  // m > 128 takes the 16-columns-per-lane kernel; dv > 128 the 8-per-lane softmax split.
  for (const char* spec : {"rule=add,phi=favor,norm=on,m=40", "rule=gated,phi=dpfp,norm=on",
                           "rule=delta,phi=elu1", "rule=decay,phi=relu_proj,m=200", "rule=delta,phi=dpfp,nu=2",
                           "rule=add,phi=identity,norm=on"})
    check_case({spec, {2, 1, 45, 48, 20}, GateSet::uniform_init, true});
  // dv > 128 is past the prefill tiles: decode only
  check_case({"softmax", {1, 2, 300, 32, 200}, GateSet::uniform_init, false, Mode::sequence, "decode"});
  check_case({"softmax", {2, 1, 130, 128, 128}});   // prefill at its widest tiles, 3 query tiles
  check_case({"dfw", {1, 1, 5, 16, 130}, GateSet::uniform_init, true});  // 9 row blocks, the last partial
}

// Flash-decoding: lane groups of 1 to 32 lanes (dk, dv from 4 to 256), 16-byte vector
// loads (dk and dv whole vectors) and element loads (20, 36: not in fp16 / bf16), one
// split (n < 256) and several (n = 700: 2 to 6 splits at B*H = 1, softmax_decode_plan.hpp),
// the token appended by the split holding it; then token by token across the change
// from one split to two.
TEST_F(CudaSuite, FlashDecodeOverEveryLaneGroupSplitCountAndLoadPath) {
  for (const auto& [dk, dv] : {std::pair{4, 4}, {16, 16}, {64, 64}, {128, 96}, {256, 256}, {20, 36}, {256, 8}})
    for (const int64_t T : {200, 700})
      EXPECT_EQ(check_case({"softmax", {1, 1, T, dk, dv}, GateSet::uniform_init, false, Mode::decode_step, "decode"}), 3)
          << dk << " x " << dv << " T = " << T;
  check_case({"softmax", {2, 1, 300, 64, 64}, GateSet::uniform_init, false, Mode::sequence, "decode"});
}

TEST_F(CudaSuite, RunsAreRepeatableAndTimed) {
  const Variant v = parse_variant("dfw");
  const Problem p = test::make(v, {2, 2, 50, 32, 32});
  auto prepared = find_impl("recurrent", "cuda", "fp32")->prepare(v, p, {});
  prepared->run();
  prepared->synchronize();
  const Output first = prepared->output();
  const double ms = prepared->timed_run_ms();
  EXPECT_GT(ms, 0.0);
  EXPECT_EQ(prepared->output().y, first.y) << "the recurrent form restarts from s0 on every run";
}

#ifdef DFW_CUDA_KERNELS
TEST_F(CudaSuite, DeviceBuffersAreCountedAndOomIsReported) {
  const std::size_t before = MemoryTracker::device().current();
  {
    DeviceBuffer<float> b(1 << 20);
    EXPECT_EQ(MemoryTracker::device().current(), before + (std::size_t(4) << 20));
    DeviceBuffer<float> moved(std::move(b));
    EXPECT_EQ(MemoryTracker::device().current(), before + (std::size_t(4) << 20));
  }
  EXPECT_EQ(MemoryTracker::device().current(), before);
  EXPECT_THROW(DeviceBuffer<float>(std::size_t(1) << 45), OutOfMemory);  // 128 TiB
  EXPECT_EQ(MemoryTracker::device().current(), before);
}
#endif

}  // namespace
}  // namespace dfw
