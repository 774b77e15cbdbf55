// The memory plan of a bench case (memory_plan.hpp) against what is really
// allocated: its inputs equal the generated Problem's bytes, its tracked part
// equals MemoryTracker's peak while the form is prepared and run, and the whole
// host plan matches the growth of the heap (glibc's own count, mallinfo2) to
// within page rounding and allocator headers, for every CPU form and every kind
// of input (gates, feature parameters, s0, a KV cache). Form "best" plans every
// candidate, so it covers the probe's peak. CUDA plans (no device needed): the
// device buffers in the case's dtype.
#include <malloc.h>
#include <omp.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "backward_impl.hpp"
#include "bench_case_util.hpp"
#include "bench_cases.hpp"
#include "form_probe.hpp"
#include "generator.hpp"
#include "memory_plan.hpp"
#include "memory_tracker.hpp"

namespace dfw {
namespace {

BenchCase make_case(const std::string& variant, const std::string& form, BenchMode mode, Shape shape,
                    int64_t chunk = 0) {
  return test::cpu_case(variant, form, mode, shape, form == "chunked" || form == "best" ? chunk : 0);
}

int64_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return int64_t(mi.uordblks + mi.hblkhd);
}

int64_t problem_bytes(const Problem& p) {
  std::size_t n = 0;
  for (const auto* v : {&p.q, &p.k, &p.v, &p.gate, &p.beta, &p.gate_v, &p.gate_k, &p.w, &p.b, &p.omega, &p.s0})
    n += v->size();
  return int64_t(n * sizeof(float));
}

struct Measured {
  int64_t inputs = 0;        // the Problem's tensors
  int64_t tracked_peak = 0;  // MemoryTracker::host() while prepared and run
  int64_t heap_growth = 0;   // heap in use after prepare, less before the Problem
};

RunOptions run_options(const BenchCase& c) {
  RunOptions o;
  o.mode = run_mode(c.mode);
  if (c.chunk > 0) o.chunk = c.chunk;
  return o;
}

Problem problem_of(const BenchCase& c) {
  GeneratorOptions gen;
  gen.with_initial_state = c.mode == BenchMode::decode && c.variant.rule->stateful();
  return generate_problem(c.variant, c.problem_shape(), gen);
}

Measured measure(const BenchCase& c) {
  Measured m;
  const int64_t heap_before = heap_in_use();
  const std::size_t tracked_before = MemoryTracker::host().current();
  const Problem p = problem_of(c);
  m.inputs = problem_bytes(p);
  MemoryTracker::host().reset_peak();
  std::unique_ptr<Prepared> prepared = find_impl(c.form, c.backend, c.dtype)->prepare(c.variant, p, run_options(c));
  m.heap_growth = heap_in_use() - heap_before;
  prepared->run();
  m.tracked_peak = int64_t(MemoryTracker::host().peak() - tracked_before);
  return m;
}

const Shape kSmall{2, 3, 97, 32, 24};    // odd T, dk != dv
const Shape kLarge{2, 4, 512, 64, 64};   // 1 MiB per q, k, v: page rounding is small beside it

std::vector<BenchCase> every_cpu_form(const Shape& s) {
  return {make_case("dfw", "recurrent", BenchMode::prefill, s),
          make_case("dfw", "chunked", BenchMode::prefill, s, 16),
          make_case("linear", "chunked", BenchMode::prefill, s, 64),     // normalised: z row
          make_case("t2r", "chunked", BenchMode::prefill, s, 32),        // relu_proj: w, b
          make_case("performer", "recurrent", BenchMode::prefill, s),    // favor: omega
          make_case("gated", "recurrent", BenchMode::prefill, s),        // scalar gate
          make_case("delta", "recurrent", BenchMode::prefill, s),        // beta
          make_case("dfw", "decode", BenchMode::decode, s),              // s0
          make_case("linear", "decode", BenchMode::decode, s),
          make_case("softmax", "decode", BenchMode::decode, s),          // KV cache of T + 1 tokens
          make_case("softmax", "blocked", BenchMode::prefill, s)};
}

TEST(MemoryPlan, InputsAndTrackedBuffersAreExactlyWhatIsAllocated) {
  for (const BenchCase& c : every_cpu_form(kSmall)) {
    const MemoryPlan plan = plan_case_memory(c, omp_get_max_threads());
    const Measured got = measure(c);
    EXPECT_EQ(plan.inputs, got.inputs) << c.label();
    EXPECT_EQ(plan.tracked, got.tracked_peak) << c.label();
    EXPECT_GT(plan.tracked, 0) << c.label();
    EXPECT_EQ(plan.device, 0) << c.label();
  }
}

// Backward cases (bench --pass bwd / fwdbwd): dy beside the inputs; the tracked
// peak of the backward form's gradients and workspace (and the forward form's
// buffers too for fwdbwd) is exactly the plan.
TEST(MemoryPlan, BackwardCasesPlanTheirGradientsAndWorkspace) {
  auto backward_case = [](const char* variant, const char* form, BenchMode mode, int64_t chunk) {
    BenchCase c = make_case(variant, form, mode, kSmall);
    c.chunk = chunk;
    return c;
  };
  for (const BenchCase& c : {backward_case("dfw", "recurrent", BenchMode::backward, 16),
                             backward_case("t2r", "recurrent", BenchMode::backward, 0),  // w, b per (b, h)
                             backward_case("linear", "recurrent", BenchMode::backward, 40),  // z row
                             backward_case("delta", "recurrent", BenchMode::training, 0),
                             backward_case("dfw", "chunked", BenchMode::backward, 7),
                             backward_case("t2r", "chunked", BenchMode::backward, 0),  // z row, w, b
                             backward_case("gated", "chunked", BenchMode::training, 0),
                             backward_case("softmax", "blocked", BenchMode::backward, 0),
                             backward_case("softmax", "blocked", BenchMode::training, 0)}) {
    const MemoryPlan plan = plan_case_memory(c, omp_get_max_threads());
    const std::size_t before = MemoryTracker::host().current();
    const Problem p = problem_of(c);
    const std::vector<float> dy(p.v.size(), 1.f);
    EXPECT_EQ(plan.inputs, problem_bytes(p) + int64_t(dy.size() * sizeof(float))) << c.label();
    MemoryTracker::host().reset_peak();
    {
      std::unique_ptr<Prepared> fwd;
      if (c.mode == BenchMode::training) fwd = find_impl(c.form, "cpu", "fp32")->prepare(c.variant, p, run_options(c));
      auto bwd = find_backward_impl(c.form, "cpu", "fp32")->prepare(c.variant, p, dy, run_options(c));
      if (fwd) fwd->run();
      bwd->run();
    }
    EXPECT_EQ(plan.tracked, int64_t(MemoryTracker::host().peak() - before)) << c.label();
    EXPECT_GT(plan.tracked, 0) << c.label();
  }
}

// AddressSanitizer replaces malloc, and glibc's mallinfo2 then sees none of it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcHeap = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcHeap = false;
#else
constexpr bool kGlibcHeap = true;
#endif
#else
constexpr bool kGlibcHeap = true;
#endif

TEST(MemoryPlan, HostPlanMatchesTheHeapGrowth) {
  if (!kGlibcHeap) GTEST_SKIP() << "built with AddressSanitizer: mallinfo2 does not see its allocations";
  for (const BenchCase& c : every_cpu_form(kLarge)) {
    const MemoryPlan plan = plan_case_memory(c, omp_get_max_threads());
    const Measured got = measure(c);
    // The heap rounds each mapping up to a page and adds a header per block:
    // at most ~20 arrays here, so 1% + 128 KiB either way.
    const double slack = 0.01 * double(plan.host()) + 128 * 1024;
    EXPECT_GE(double(plan.host()) + slack, double(got.heap_growth)) << c.label();
    EXPECT_LE(double(plan.host()) - slack, double(got.heap_growth)) << c.label();
  }
}

TEST(MemoryPlan, BestPlansEveryCandidateAndCoversTheProbe) {
  for (const char* variant : {"dfw", "softmax"}) {
    const BenchCase best = make_case(variant, "best", BenchMode::prefill, kSmall, 16);
    const MemoryPlan plan = plan_case_memory(best, omp_get_max_threads());
    int64_t tracked_sum = 0;
    for (const std::string& form : best_candidates(best.variant, best.mode, "cpu", "fp32")) {
      BenchCase one = best;
      one.form = form;
      one.chunk = form == "chunked" ? best.chunk : 0;
      tracked_sum += plan_case_memory(one, omp_get_max_threads()).tracked;
    }
    EXPECT_EQ(plan.tracked, tracked_sum) << variant;

    const Problem p = problem_of(best);
    MemoryTracker::host().reset_peak();
    const std::size_t before = MemoryTracker::host().current();
    std::vector<const Impl*> impls;
    for (const std::string& form : best_candidates(best.variant, best.mode, "cpu", "fp32"))
      impls.push_back(find_impl(form, "cpu", "fp32"));
    const ProbeResult probe = probe_fastest_form(best, impls, p, run_options(best));
    EXPECT_GE(plan.tracked, int64_t(MemoryTracker::host().peak() - before)) << variant;
  }
}

TEST(MemoryPlan, TheIssuesSoftmaxDecodeCaseIsPlannedPastAnyDesktop) {
  // bench --variants softmax --mode decode --seqlens 131072 --batch 24 --heads 16 --dk 64 --dv 64:
  // q, k, v of T + 1 tokens (3 x 12.9 GB) and the KV cache (25.8 GB).
  const BenchCase c = make_case("softmax", "decode", BenchMode::decode, Shape{24, 16, 131072, 64, 64});
  const MemoryPlan plan = plan_case_memory(c, 2);
  const double token_bytes = 24.0 * 16 * 131073 * 64 * 4;
  EXPECT_EQ(double(plan.inputs), 3 * token_bytes);
  EXPECT_GE(double(plan.tracked), 2 * token_bytes);
  EXPECT_GT(double(plan.host()), 5 * token_bytes);  // 64.4 GB
}

TEST(MemoryPlan, CudaFormsPlanDeviceBuffersInTheirDtype) {
  // Softmax decode on the device: q, k, v and the K, V caches in the dtype, fp32 partials.
  BenchCase c = make_case("softmax", "decode", BenchMode::decode, Shape{4, 8, 4095, 64, 64});
  c.backend = "cuda";
  const double tokens = 4.0 * 8 * 4096 * 64;
  for (const char* dtype : {"fp16", "fp32"}) {
    c.dtype = dtype;
    const double e = std::string(dtype) == "fp16" ? 2 : 4;
    const MemoryPlan plan = plan_case_memory(c, 2);
    EXPECT_GE(double(plan.device), 5 * tokens * e) << dtype;
    EXPECT_LT(double(plan.device), 5 * tokens * e * 1.01) << dtype;
    EXPECT_EQ(plan.tracked, 0) << dtype;
    EXPECT_EQ(double(plan.inputs), 3 * tokens * 4) << dtype;  // the Problem stays fp32 on the host
  }
  // A normalised decode step ping-pongs two fp32 states (dv + 1 rows).
  BenchCase lin = make_case("linear", "decode", BenchMode::decode, Shape{4, 8, 100, 64, 64});
  lin.backend = "cuda";
  lin.dtype = "fp16";
  EXPECT_GE(plan_case_memory(lin, 2).device, 2 * 4 * 8 * 65 * 64 * 4);
}

TEST(MemoryPlan, CudaBackwardFormsPlanGradientsAndTheWalksCheckpoints) {
  const Shape shape{2, 4, 4096, 64, 64};
  const double tensor = 2.0 * 4 * 4096 * 64 * 4;  // one (B, H, T, 64) fp32 tensor
  BenchCase soft = make_case("softmax", "blocked", BenchMode::backward, shape);
  soft.backend = "cuda";
  soft.dtype = "fp32";
  // q, k, v, dy, y and three gradients.
  EXPECT_GE(double(plan_case_memory(soft, 2).device), 8 * tensor);
  EXPECT_LT(double(plan_case_memory(soft, 2).device), 8.1 * tensor);
  BenchCase dfw = make_case("dfw", "recurrent", BenchMode::backward, shape);
  dfw.backend = "cuda";
  dfw.dtype = "fp32";
  dfw.chunk = 64;
  const double every_state = 2.0 * 4 * 4096 * 64 * 64 * 4;  // what storing S_t for every token takes
  const double checkpointed = double(plan_case_memory(dfw, 2).device);
  // Inputs with both gate rows, dy, gradients and features: 17 tensors; the walk's
  // workspace (T / 64 + 65 rows of m per state row) is 2 more.
  EXPECT_GT(checkpointed, 17 * tensor);
  EXPECT_LT(checkpointed, 19.5 * tensor);
  EXPECT_LT(checkpointed, every_state / 3);
  dfw.chunk = 1;  // a checkpoint at every token: every state, twice over
  EXPECT_GT(double(plan_case_memory(dfw, 2).device), every_state);
  // Training: the forward form's device buffers as well.
  dfw.chunk = 64;
  dfw.mode = BenchMode::training;
  EXPECT_GT(plan_case_memory(dfw, 2).device, int64_t(checkpointed));
}

}  // namespace
}  // namespace dfw
