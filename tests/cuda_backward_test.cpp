// GPU suite: every CUDA backward form against the float64 reference gradients (check's
// limits for its dtype, each tensor scaled by its conditioning as check does): softmax
// on odd shapes, ragged tiles and the widest head the kernels take; every stateful
// preset on odd shapes, gate edge sets and an initial state (recurrent, and chunked for
// the gated-linear family), every feature map, the wide-feature path and many row
// blocks; checkpoint and chunk lengths agree; repeated runs agree. Skips with the
// driver's reason where no device is usable.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "accuracy.hpp"
#include "backward_impl.hpp"
#include "bench_case_util.hpp"
#include "memory_plan.hpp"
#include "memory_tracker.hpp"
#include "generator.hpp"
#include "test_util.hpp"

namespace dfw {
namespace {

using test::rel_l2;

class CudaBackward : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string r = cuda_unavailable_reason(); !r.empty()) GTEST_SKIP() << "no usable CUDA device: " << r;
  }
};

std::vector<const BackwardImpl*> cuda_backward_impls() {
  std::vector<const BackwardImpl*> out;
  for (const BackwardImpl* i : all_backward_impls())
    if (i->key().backend == "cuda") out.push_back(i);
  return out;
}

// Runs every CUDA backward form that supports the variant on the case; returns how many did.
int check_backward(const std::string& name, const Shape& shape, GateSet gates = GateSet::uniform_init) {
  const Variant v = parse_variant(name);
  const Problem p = test::make(v, shape, gates, v.rule->stateful());
  const std::vector<float> dy = generate_dy(p, 11);
  auto ref_case = find_backward_impl("reference", "cpu", "fp64")->prepare(v, p, dy, {});
  ref_case->run();
  const Gradients ref = ref_case->gradients();
  int ran = 0;
  for (const BackwardImpl* impl : cuda_backward_impls()) {
    if (!impl->unsupported_reason(v).empty()) continue;
    const std::string what = impl->key().str() + " " + name + " " + shape.str() + " " + gate_set_name(gates);
    auto c = impl->prepare(v, p, dy, {Mode::sequence, 16});
    c->run();
    const GradientErrors e = compare_gradients(c->gradients(), ref);
    const double f = v.tolerance_factor();
    EXPECT_TRUE(e.same_tensors) << what;
    EXPECT_TRUE(e.worst.finite) << what << " d" << e.worst_tensor;
    EXPECT_LE(e.worst.rel_l2, f * rel_l2_limit(impl->key().dtype)) << what << " d" << e.worst_tensor;
    EXPECT_LE(e.worst.max_abs, f * max_abs_limit(impl->key().dtype)) << what << " d" << e.worst_tensor;
    ++ran;
  }
  return ran;
}

TEST_F(CudaBackward, SoftmaxOnOddShapesRaggedTilesAndTheWidestHead) {
  for (const Shape& s : {Shape{1, 1, 1, 16, 16}, Shape{2, 3, 37, 16, 12}, Shape{1, 2, 97, 24, 40},
                         Shape{1, 1, 70, 128, 128}})
    EXPECT_EQ(check_backward("softmax", s), 1) << s.str() << ": blocked/cuda/fp32";
}

// The CUDA backward forms a stateful variant has: recurrent, and chunked for the
// gated-linear family.
int stateful_forms(const std::string& name) { return parse_variant(name).rule->is_gated_linear() ? 2 : 1; }

TEST_F(CudaBackward, EveryStatefulPresetGateSetAndInitialState) {
  for (const auto& name : preset_names()) {
    if (!parse_variant(name).rule->stateful()) continue;
    for (const Shape& s : {Shape{1, 1, 1, 16, 16}, Shape{2, 3, 37, 16, 12}, Shape{1, 2, 70, 32, 40}})
      EXPECT_EQ(check_backward(name, s), stateful_forms(name)) << name << " " << s.str();
    for (GateSet g : {GateSet::tiny, GateSet::mixed, GateSet::ones})
      EXPECT_EQ(check_backward(name, {1, 2, 45, 16, 16}, g), stateful_forms(name)) << name << " " << gate_set_name(g);
  }
}

// Every feature map's VJP without sum normalisation (the presets sum-normalise
// dpfp's), normalised and not, on a scalar gate and on gate rows.
TEST_F(CudaBackward, EveryFeatureMapOnTheFactorRules) {
  for (const char* map : {"identity", "elu1", "relu_proj", "favor", "dpfp"})
    for (const std::string rule : {"rule=gated,norm=on", "rule=decay,norm=off"})
      EXPECT_EQ(check_backward(rule + ",phi=" + map, {1, 2, 19, 16, 16}), 2) << rule << " " << map;
}

// m = 256 and 320: the recurrent kernels' wider register paths (8 and 16 columns per
// lane), the chunked kernels' shorter chunks (10 tokens fit at m = 256, 8 at 320, 5 at
// d = m = 256);
// 144 value rows: nine row blocks, the last one partial (recurrent), nine state tiles (chunked).
TEST_F(CudaBackward, WideFeaturesAndManyRowBlocks) {
  EXPECT_EQ(check_backward("rule=add,phi=favor,norm=on,m=256", {1, 2, 23, 32, 24}), 2);
  EXPECT_EQ(check_backward("rule=delta,phi=dpfp,nu=2,norm=off", {1, 1, 19, 64, 16}), 1);
  EXPECT_EQ(check_backward("rule=gated,phi=relu_proj,norm=on,m=320", {1, 1, 17, 16, 20}), 2);
  EXPECT_EQ(check_backward("rule=delta,phi=favor,norm=off,m=320", {1, 1, 17, 16, 20}), 1);
  EXPECT_EQ(check_backward("dfw", {1, 1, 21, 16, 144}), 2);
  EXPECT_EQ(check_backward("rule=decay,phi=identity,norm=off", {1, 1, 40, 256, 256}), 2);
}

// More chunks than the chunked kernels' grid (4 blocks per SM: 528 on an H200 or the
// emulated device): blocks take chunk after chunk, reusing their shared arrays.
TEST_F(CudaBackward, BlocksTakeSeveralChunksEach) {
  EXPECT_EQ(check_backward("dfw", {1, 2, 4500, 16, 16}, GateSet::mixed), 2);
}

// The checkpoint length (recurrent) or chunk length (chunked) changes where states are
// recomputed or how the tokens are split, not the gradients: against the recurrent
// form at C = 1 (no recomputation).
TEST_F(CudaBackward, EveryCheckpointAndChunkLengthGivesTheSameGradients) {
  for (const char* name : {"gated", "dfw"}) {
    const Variant v = parse_variant(name);
    const Problem p = test::make(v, {1, 2, 37, 16, 16}, GateSet::uniform_init, true);
    const std::vector<float> dy = generate_dy(p, 5);
    auto first = find_backward_impl("recurrent", "cuda", "fp32")->prepare(v, p, dy, {Mode::sequence, 1});
    first->run();
    const auto want = first->gradients();
    for (const char* form : {"recurrent", "chunked"}) {
      const BackwardImpl* impl = find_backward_impl(form, "cuda", "fp32");
      ASSERT_NE(impl, nullptr) << form;
      for (int64_t chunk : {1, 2, 8, 16, 36, 37, 1000}) {
        auto c = impl->prepare(v, p, dy, {Mode::sequence, chunk});
        c->run();
        const Gradients have = c->gradients();
        const auto got = have.tensors(), ref = want.tensors();
        ASSERT_EQ(got.size(), ref.size());
        for (size_t i = 0; i < ref.size(); ++i)
          EXPECT_LE(rel_l2(*got[i].second, *ref[i].second), 1e-6)
              << name << " " << form << " C=" << chunk << " d" << ref[i].first;
      }
    }
  }
}

// Repeatable up to the order of the atomic sums (the recurrent form adds its rows'
// terms across blocks); the event timer answers.
TEST_F(CudaBackward, RunsAreRepeatableAndTimed) {
  for (const std::string name : {"softmax", "dfw", "linear"}) {
    const Variant v = parse_variant(name);
    const Problem p = test::make(v, {1, 2, 45, 16, 40});
    const std::vector<float> dy = generate_dy(p, 3);
    for (const BackwardImpl* impl : cuda_backward_impls()) {
      if (!impl->unsupported_reason(v).empty()) continue;
      auto c = impl->prepare(v, p, dy, {Mode::sequence, 16});
      c->run();
      const Gradients first = c->gradients();
      EXPECT_GE(c->timed_run_ms(), 0.0) << impl->key().str();
      const Gradients second = c->gradients();
      const auto a = first.tensors(), b = second.tensors();
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_LE(rel_l2(*a[i].second, *b[i].second), 1e-6) << impl->key().str() << " " << name << " d" << a[i].first;
    }
  }
}

// The memory plan (harness/memory_plan.cpp) covers what a backward case allocates on
// the device, within 5%.
TEST_F(CudaBackward, TheMemoryPlanCoversTheDeviceBuffers) {
  for (const auto& [name, form, chunk] : {std::tuple<std::string, std::string, int64_t>{"softmax", "blocked", 0},
                                          {"dfw", "recurrent", 16}, {"linear", "recurrent", 5},
                                          {"gated", "recurrent", 64}, {"fwp", "recurrent", 16},
                                          {"dfw", "chunked", 16}, {"linear", "chunked", 5}, {"gated", "chunked", 64}}) {
    BenchCase c = test::cpu_case(name, form, BenchMode::backward, {2, 3, 70, 16, 40}, chunk);
    c.backend = "cuda";
    const Variant& v = c.variant;
    const Problem p = test::make(v, c.shape, GateSet::uniform_init, false);
    const std::vector<float> dy = generate_dy(p, 3);
    const std::size_t before = MemoryTracker::device().current();
    MemoryTracker::device().reset_peak();
    {
      auto run = find_backward_impl(form, "cuda", "fp32")->prepare(v, p, dy, {Mode::sequence, chunk});
      run->run();
      run->synchronize();
    }
    const double used = double(MemoryTracker::device().peak() - before);
    const double planned = double(plan_case_memory(c, 1).device);
    EXPECT_GE(planned, used) << name << " " << form;
    EXPECT_LE(planned, 1.05 * used) << name << " " << form;
  }
}

TEST_F(CudaBackward, TooWideAHeadIsRefusedWithTheLimit) {
  const Variant v = parse_variant("softmax");
  const Problem p = test::make(v, {1, 1, 8, 136, 16});
  const std::vector<float> dy = generate_dy(p, 3);
  const BackwardImpl* impl = find_backward_impl("blocked", "cuda", "fp32");
  ASSERT_NE(impl, nullptr);
  try {
    impl->prepare(v, p, dy, {});
    FAIL() << "dk = 136 was taken";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("128"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dfw
