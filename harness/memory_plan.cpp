// plan_case_memory (memory_plan.hpp): each form's allocations, written from the
// same shapes its constructor uses. Element counts in floats unless noted.
#include "memory_plan.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "cost_model.hpp"
#include "cpu/chunked_backward.hpp"
#include "cpu/recurrent_backward.hpp"
#include "chunked_backward_sizes.hpp"
#include "recurrent_backward_sizes.hpp"
#include "chunked_prefill_layout.hpp"
#include "kernel_kinds.hpp"
#include "softmax_decode_plan.hpp"

namespace dfw {
namespace {

constexpr int64_t kFloat = 4, kDouble = 8;
constexpr int64_t kSoftmaxQueries = 128;      // softmax_blocked_cpu.cpp kQueries
constexpr int64_t kSoftmaxKeys = 128;         // softmax_blocked_cpu.cpp kKeys
constexpr int64_t kMaxChunk = 16;             // chunked_cpu.cpp kMaxChunk
constexpr int64_t kLanes = 16;                // lanes.hpp kLanes

// Bytes of a HostBuffer<float> of n elements (HostSpace rounds up to 64 bytes).
int64_t host_buffer(int64_t n) { return n > 0 ? (n * kFloat + 63) / 64 * 64 : 0; }

// Element counts of the Problem's tensors (generator.cpp), in Problem's order.
struct ProblemElements {
  int64_t q = 0, k = 0, v = 0, gate = 0, beta = 0, gate_v = 0, gate_k = 0, w = 0, b = 0, omega = 0, s0 = 0;
  int64_t all() const { return q + k + v + gate + beta + gate_v + gate_k + w + b + omega + s0; }
  int64_t gated_and_params() const { return gate + beta + gate_v + gate_k + w + b + omega + s0; }
  template <class F>
  int64_t sum_of(F bytes) const {
    int64_t total = 0;
    for (int64_t n : {q, k, v, gate, beta, gate_v, gate_k, w, b, omega, s0}) total += bytes(n);
    return total;
  }
};

ProblemElements problem_elements(const BenchCase& c) {
  const Shape s = c.problem_shape();
  const Variant& v = c.variant;
  const int64_t BH = s.B * s.H, T = s.T, m = c.m;
  ProblemElements e;
  e.q = e.k = BH * T * s.dk;
  e.v = BH * T * s.dv;
  const unsigned gates = v.rule->gate_inputs();
  if (gates & kScalarGate) e.gate = BH * T;
  if (gates & kScalarBeta) e.beta = BH * T;
  if (gates & kDecayGates) {
    e.gate_v = BH * T * s.dv;
    e.gate_k = BH * T * m;
  }
  if (v.phi && v.phi->needs_projection()) {
    e.w = s.H * m * s.dk;
    e.b = s.H * m;
  }
  if (v.phi && v.phi->needs_omega()) e.omega = s.H * m * s.dk;
  if (c.mode == BenchMode::decode && v.rule->stateful()) e.s0 = BH * s.dv * m;  // bench_runner: random s0
  return e;
}

// CpuCase (variants/cpu/cpu_case.cpp): every input copied, y, and the state.
int64_t cpu_case_bytes(const BenchCase& c, const ProblemElements& e, int64_t rows) {
  const Shape s = c.problem_shape();
  const int64_t BH = s.B * s.H;
  return e.sum_of(host_buffer) + host_buffer(BH * s.T * s.dv) +
         (c.variant.rule->stateful() ? host_buffer(BH * rows * c.m) : 0);
}

// ChunkScratch (chunked_cpu.cpp): rows of 16-float Lanes for one chunk of at
// most kMaxChunk tokens, whatever C is (the CPU form carries the state every
// min(C, 16) tokens), widths padded to whole Lanes.
int64_t chunk_scratch_floats(int64_t rows, int64_t m) {
  auto lanes = [](int64_t n) { return (n + kLanes - 1) / kLanes; };
  const int64_t mv = lanes(m), rv = lanes(rows);
  const int64_t lane_rows = 6 * kMaxChunk * mv + 5 * kMaxChunk * rv + kLanes * mv * rv + 3 * rv + 3 * mv +
                            lanes(kMaxChunk * m);
  return lane_rows * kLanes;
}

// Backward forms (recurrent_, chunked_, softmax_blocked_backward_cpu.cpp): one
// gradient per input but omega, w and b per (b, h) before the batch sum, and per
// thread the recurrent walk's or the chunked form's workspace, or the blocked
// form's y, L and D; the chunked form also copies the inputs (CpuInputs).
void plan_cpu_backward(const BenchCase& c, const ProblemElements& e, int64_t threads, MemoryPlan& p) {
  const Shape s = c.problem_shape();
  const int64_t BH = s.B * s.H, T = s.T, m = c.m;
  const int64_t rows = s.dv + (c.variant.normalise ? 1 : 0);
  int64_t grads = 0;
  for (int64_t n : {e.q, e.k, e.v, e.gate, e.beta, e.gate_v, e.gate_k, e.s0}) grads += host_buffer(n);
  if (c.form == "recurrent") {
    const int64_t every = std::clamp<int64_t>(c.chunk > 0 ? c.chunk : 64, 1, T);
    p.tracked = grads + host_buffer(threads * recurrent_backward_workspace(T, m, rows, every)) +
                host_buffer(e.w > 0 ? BH * m * s.dk : 0) + host_buffer(e.b > 0 ? BH * m : 0);
  } else if (c.form == "chunked") {  // + its aligned copy of the inputs (CpuInputs)
    p.tracked = grads + e.sum_of(host_buffer) +
                host_buffer(threads * chunked_backward_workspace(T, m, rows, c.chunk > 0 ? c.chunk : 64)) +
                host_buffer(e.w > 0 ? BH * m * s.dk : 0) + host_buffer(e.b > 0 ? BH * m : 0);
  } else if (c.form == "blocked") {
    p.tracked = grads + host_buffer(threads * T * (s.dv + 2));
  }
}

void plan_cpu(const BenchCase& c, const ProblemElements& e, int64_t threads, MemoryPlan& p) {
  if (is_backward(c.mode)) {
    MemoryPlan bwd;
    plan_cpu_backward(c, e, threads, bwd);
    if (c.mode == BenchMode::training) {  // the forward form's own buffers as well
      BenchCase fwd = c;
      fwd.mode = BenchMode::prefill;
      plan_cpu(fwd, e, threads, p);
    }
    p.tracked += bwd.tracked;
    p.scratch += bwd.scratch;
    return;
  }
  const Shape s = c.problem_shape();
  const int64_t BH = s.B * s.H, T = s.T, m = c.m;
  const int64_t rows = s.dv + (c.variant.normalise ? 1 : 0);
  const bool stateful = c.variant.rule->stateful();
  if (c.form == "recurrent") {
    p.tracked = cpu_case_bytes(c, e, rows) + host_buffer(threads * 2 * T * m) + host_buffer(threads * rows);
  } else if (c.form == "chunked") {
    p.tracked = cpu_case_bytes(c, e, rows);
    p.scratch = threads * chunk_scratch_floats(rows, m) * kFloat;
  } else if (c.form == "decode" && stateful) {
    p.tracked = cpu_case_bytes(c, e, rows) + host_buffer(threads * (2 * m + rows));
  } else if (c.form == "decode") {  // KV cache (softmax_decode_cpu.cpp); the Problem is read in place
    const int64_t out_tokens = c.mode == BenchMode::decode ? 1 : T;
    p.tracked = host_buffer(BH * T * s.dk) + host_buffer(BH * T * s.dv) + host_buffer(BH * out_tokens * s.dv) +
                host_buffer(threads * T);
  } else if (c.form == "blocked") {  // q, k, v, y copies; per thread one head's packed K, V and block tiles
    const int64_t dv_padded = (s.dv + kLanes - 1) / kLanes * kLanes;
    const int64_t panels = (T + kSoftmaxKeys - 1) / kSoftmaxKeys;
    p.tracked = host_buffer(e.q) + host_buffer(e.k) + 2 * host_buffer(e.v);
    p.scratch = threads *
                (panels * kSoftmaxKeys * s.dk + T * dv_padded +
                 kSoftmaxQueries * (s.dk + kSoftmaxKeys + dv_padded + 3)) *
                kFloat;
  } else if (c.form == "reference") {  // float64 outputs (reference.cpp), read in place
    p.scratch = (BH * T * s.dv + (stateful ? BH * s.dv * m : 0) + (c.variant.normalise ? BH * m : 0)) * kDouble;
  }
}

// CUDA forms (kernels/*_form.cpp): DeviceInputs (q, k, v in the dtype, the rest
// fp32; plus gate rows made on the host for a rule the decay kernels run,
// kernel_kinds.hpp), y in the dtype, the state (two copies for a normalised decode) or the
// KV cache and split partials; the chunked form's workspace of every chunk's state and
// decay totals (chunked_prefill_kernel.cuh). Its spill slices depend on the device's
// shared memory and SM count and are left to the margin (memory_budget.hpp).
void plan_cuda(const BenchCase& c, const ProblemElements& e, MemoryPlan& p) {
  const Shape s = c.problem_shape();
  const int64_t BH = s.B * s.H, T = s.T;
  const int64_t el = dtype_bytes(c.dtype);
  const int64_t rows = s.dv + (c.variant.normalise ? 1 : 0);
  int64_t inputs = (e.q + e.k + e.v) * el + e.gated_and_params() * kFloat;
  if (cuda_gate_rows_from_factors(c.variant)) inputs += BH * T * (s.dv + c.m) * kFloat;  // gate rows made on the host
  const int64_t out_tokens = c.mode == BenchMode::decode ? 1 : T;
  if (c.variant.rule->stateful()) {
    const int64_t copies = c.form == "decode" && c.variant.normalise ? 2 : 1;
    p.device = inputs + BH * T * s.dv * el + copies * BH * rows * c.m * kFloat;
    if (c.form == "chunked" && T > 0) {
      const ChunkStateBytes w = chunk_state_bytes(BH, T, c.chunk > 0 ? c.chunk : 64, int(rows), int(c.m));
      p.device += int64_t(w.states + w.decay);
    }
  } else if (c.form == "decode") {
    p.device = inputs + BH * T * (s.dk + s.dv) * el + BH * kSoftmaxDecodeMaxSplits * (s.dv + 2) * kFloat +
               BH * out_tokens * s.dv * el;
  } else if (c.form == "cudnn") {  // decode: its own KV cache; cuDNN's workspace is left to the margin
    p.device = inputs + BH * out_tokens * s.dv * el + (c.mode == BenchMode::decode ? BH * T * (s.dk + s.dv) * el : 0);
  } else {
    p.device = inputs + BH * T * s.dv * el;
  }
  // Host: one tensor converted to the dtype at a time; a stateful form's initial state.
  p.scratch = std::max(std::max(e.q, e.v) * el, c.variant.rule->stateful() ? BH * rows * c.m * kFloat : 0);
}

// CUDA backward forms (fp32; kernels/*_backward_form.cpp): the inputs, dy and one
// gradient per input; blocked: y, L and D; recurrent and chunked: the features, their
// gradients, the walk's per-token sums and its workspace (recurrent_backward_sizes.hpp,
// chunked_backward_sizes.hpp).
void plan_cuda_backward(const BenchCase& c, const ProblemElements& e, MemoryPlan& p) {
  const Shape s = c.problem_shape();
  const int64_t BH = s.B * s.H, T = s.T, tokens = BH * T;
  const int64_t inputs = e.all() * kFloat, grads = (e.all() - e.omega) * kFloat, dy = e.v * kFloat;
  if (c.form == "blocked") {
    p.device = inputs + dy + grads + (e.v + 2 * tokens) * kFloat;
  } else if (c.form == "recurrent" || c.form == "chunked") {
    const int64_t feature_rows = (c.variant.sum_normalise ? 6 : 4) + 1;  // + a scalar factor's db
    const int64_t requested = c.chunk > 0 ? c.chunk : 64;
    int64_t walk = 0, sums = 2;  // sum_da, dc; recurrent normalised: dy . n and den
    if (c.form == "recurrent") {
      const int every = int(std::clamp<int64_t>(requested, 1, T));
      walk = recurrent_backward_workspace_floats(BH, T, int(s.dv), int(c.m), every, c.variant.normalise);
      sums += c.variant.normalise ? 2 : 0;
    } else {
      const int rows = int(s.dv) + (c.variant.normalise ? 1 : 0);
      walk = chunked_backward_work(BH, T, chunked_backward_chunk(requested, int(c.m), rows), int(c.m), rows).floats;
    }
    p.device = inputs + dy + grads + (feature_rows * tokens * c.m + sums * tokens + walk) * kFloat;
  }
}

}  // namespace

MemoryPlan plan_case_memory(const BenchCase& c, int threads) {
  validate_shape(c.problem_shape(), c.m);
  const ProblemElements e = problem_elements(c);
  MemoryPlan p;
  p.inputs = e.all() * kFloat;
  if (is_backward(c.mode)) p.inputs += e.v * kFloat;  // dy, shaped as v (bench_runner.cpp)
  // Form "best": the probe holds the best candidate so far while it prepares the
  // next one, so plan every candidate at once (form_probe.hpp).
  const std::vector<std::string> forms =
      c.form == "best" ? best_candidates(c.variant, c.mode, c.backend, c.dtype) : std::vector<std::string>{c.form};
  for (const std::string& form : forms) {
    BenchCase one = c;
    one.form = form;
    MemoryPlan f;
    if (c.backend == "cuda") {
      if (one.mode != BenchMode::backward) plan_cuda(one, e, f);  // training: the forward form's buffers too
      if (is_backward(one.mode)) {
        MemoryPlan bwd;
        plan_cuda_backward(one, e, bwd);
        f.device += bwd.device;
      }
    } else {
      plan_cpu(one, e, std::max(threads, 1), f);
    }
    p.tracked += f.tracked;
    p.scratch += f.scratch;
    p.device += f.device;
  }
  return p;
}

}  // namespace dfw
