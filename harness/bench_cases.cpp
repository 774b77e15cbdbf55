// Presets and case expansion for `dfwbench bench` (bench_cases.hpp).
#include "bench_cases.hpp"

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

#include "memory_plan.hpp"
#include "bench_targets.hpp"
#include "parse_number.hpp"

namespace dfw {
namespace {

Shape make_shape(int64_t B, int64_t H, int64_t T, int64_t d) { return Shape{B, H, T, d, d}; }

std::vector<Shape> shapes_over(const std::vector<int64_t>& seqlens, int64_t B, int64_t H, int64_t d) {
  std::vector<Shape> out;
  for (int64_t T : seqlens) out.push_back(make_shape(B, H, T, d));
  return out;
}

std::vector<int64_t> range(int64_t first, int64_t last, int64_t step) {
  std::vector<int64_t> out;
  for (int64_t t = first; t <= last; t += step) out.push_back(t);
  return out;
}

SweepGroup group(BenchMode mode, std::vector<std::pair<Variant, std::string>> runs, std::vector<Shape> shapes) {
  SweepGroup g;
  g.mode = mode;
  g.runs = std::move(runs);
  g.shapes = std::move(shapes);
  return g;
}

std::pair<Variant, std::string> run(const std::string& variant, const std::string& form) {
  return {parse_variant(variant), form};
}

// The paper's protocol (docs/MATH.md, "The paper's speed benchmark"): batch 32,
// one head, d = m = 64; decode from T = 0.
constexpr int64_t kPaperBatch = 32, kPaperHeads = 1, kPaperD = 64;

// On cuda both add softmax through cuDNN (form cudnn: NVIDIA's fused attention, the
// vendor baseline; UNSUPPORTED rows where it was not built or cannot load).
Sweep paper(const std::string& backend) {
  Sweep s;
  std::vector<std::pair<Variant, std::string>> runs = {run("softmax", "decode"), run("dfw", "decode"),
                                                       run("delta", "decode")};
  if (backend == "cuda") runs.push_back(run("softmax", "cudnn"));
  s.groups.push_back(
      group(BenchMode::decode, runs, shapes_over(range(0, 1920, 128), kPaperBatch, kPaperHeads, kPaperD)));
  return s;
}

Sweep paper_prefill(const std::string& backend) {
  Sweep s;
  std::vector<std::pair<Variant, std::string>> runs = {run("softmax", "blocked"), run("dfw", "chunked"),
                                                       run("dfw", "recurrent"), run("delta", "recurrent")};
  if (backend == "cuda") runs.push_back(run("softmax", "cudnn"));
  s.groups.push_back(
      group(BenchMode::prefill, runs, shapes_over(range(128, 1920, 128), kPaperBatch, kPaperHeads, kPaperD)));
  return s;
}

// T doubling from 256 to 65536 with B T = 65536 tokens per run.
Sweep scaling() {
  Sweep s;
  SweepGroup g;
  g.mode = BenchMode::prefill;
  for (const auto& name : preset_names()) g.runs.emplace_back(parse_variant(name), "best");
  for (int64_t T = 256; T <= 65536; T *= 2) g.shapes.push_back(make_shape(65536 / T, 12, T, 64));
  s.groups.push_back(std::move(g));
  return s;
}

// Every rule x feature map x normalisation combination at one prefill shape.
Sweep grid() {
  Sweep s;
  SweepGroup g;
  g.mode = BenchMode::prefill;
  for (Variant& v : all_combinations()) g.runs.emplace_back(std::move(v), "best");
  g.shapes.push_back(make_shape(4, 8, 1024, 64));
  s.groups.push_back(std::move(g));
  return s;
}

// A training step of the attention (forward, then backward, one timed run) over T:
// the paper's shapes (B = 32, H = 1, d = m = 64) and B = 8, H = 16, d = m = 128;
// the gated-linear variants chunked (the form training uses, as fla does), delta
// recurrent (it has no chunked form here). On cuda every stateful rule's training step
// runs recurrent: the step is one form forward then backward in fp32 (preset_sweep's
// dtype here), and the CUDA chunked forward is fp16 / bf16 only; the chunked CUDA
// backward (fp32) is timed alone in the target group below.
Sweep training(const std::string& backend) {
  Sweep s;
  const char* gated_linear = backend == "cuda" ? "recurrent" : "chunked";
  const std::vector<std::pair<Variant, std::string>> runs = {
      run("softmax", "blocked"), run("dfw", gated_linear), run("delta", "recurrent"), run("gated", gated_linear),
      run("linear", gated_linear)};
  s.groups.push_back(group(BenchMode::training, runs, shapes_over({128, 256, 512, 1024, 2048}, kPaperBatch, kPaperHeads,
                                                                  kPaperD)));
  s.groups.push_back(group(BenchMode::training, runs, shapes_over({256, 512, 1024}, 8, 16, 128)));
  // The backward issue's targets, in the same run: dfw's backward against its forward
  // at B = 1, H = 12, T = 4096, d = m = 64 (time, and the checkpointed walk's memory
  // against storing every state).
  const Shape target = make_shape(1, 12, 4096, 64);
  s.groups.push_back(group(BenchMode::prefill, {run("dfw", "recurrent"), run("dfw", "chunked")}, {target}));
  s.groups.push_back(group(BenchMode::backward, {run("dfw", "recurrent"), run("dfw", "chunked")}, {target}));
  return s;
}

using Stream = StreamingDecodeShape;

// Exactly the rows the CPU targets read (bench_targets.hpp defines them); the
// streaming decode row, whose batch the targets leave open (kAnyBatch), gets the
// batch sized from this machine's last-level cache.
Sweep cpu_targets(const StreamSizing& sizing) {
  Sweep s;
  for (TargetRow r : cpu_target_rows()) {
    if (r.shape.B == kAnyBatch) r.shape.B = streaming_decode_batch("cpu", sizing);
    SweepGroup g = group(r.mode, {run(r.variant, r.form)}, {r.shape});
    g.gate_sets = {r.gates};
    s.groups.push_back(std::move(g));
  }
  return s;
}

// Exactly the rows the GPU targets read (bench_targets.hpp), on the cuda backend only
// (a B8 H16 T16384 recurrent prefill would take hours on a CPU): any other backend is
// refused with the reason there is no device (std::runtime_error: exit 1, as for
// --backend cuda without one).
Sweep gpu_targets(const std::string& backend) {
  if (backend != "cuda") {
    const std::string reason = cuda_unavailable_reason();
    throw std::runtime_error("preset gpu-targets needs a CUDA device, and this run has none: " +
                             (cuda_device_emulated() ? std::string("the CUDA device is emulated, whose times are not a GPU's")
                              : !reason.empty()      ? reason
                                                     : "--backend " + backend + " given"));
  }
  Sweep s;
  std::vector<TargetRow> rows = gpu_target_rows();
  for (const PairedRatioSpec& spec : paired_ratio_specs("gpu-targets"))  // and the rows of its informative ratios
    for (const TargetRow& r : {spec.numerator, spec.denominator})
      if (std::none_of(rows.begin(), rows.end(), [&](const TargetRow& o) {
            return o.variant == r.variant && o.form == r.form && o.mode == r.mode && o.shape.str() == r.shape.str();
          }))
        rows.push_back(r);
  for (const TargetRow& r : rows) s.groups.push_back(group(r.mode, {run(r.variant, r.form)}, {r.shape}));
  return s;
}

// dfw decode with a state of at least kStreamFactor x the last-level cache.
Sweep decode_large(const std::string& backend, const StreamSizing& sizing) {
  Sweep s;
  s.groups.push_back(group(BenchMode::decode, {run("dfw", "decode")},
                           shapes_over({Stream::T, 1024, 16384}, streaming_decode_batch(backend, sizing), Stream::H,
                                       Stream::d)));
  return s;
}

}  // namespace

const char* bench_mode_name(BenchMode m) {
  switch (m) {
    case BenchMode::decode: return "decode";
    case BenchMode::backward: return "bwd";
    case BenchMode::training: return "fwdbwd";
    default: return "prefill";
  }
}

BenchMode parse_bench_mode(const std::string& s) {
  if (s == "prefill") return BenchMode::prefill;
  if (s == "decode") return BenchMode::decode;
  if (s == "bwd") return BenchMode::backward;
  if (s == "fwdbwd") return BenchMode::training;
  throw std::invalid_argument("--mode must be prefill or decode, got '" + s + "'");
}

Mode run_mode(BenchMode m) { return m == BenchMode::decode ? Mode::decode_step : Mode::sequence; }

bool is_backward(BenchMode m) { return m == BenchMode::backward || m == BenchMode::training; }

BenchMode prefill_pass(const std::string& pass) {
  if (pass == "fwd") return BenchMode::prefill;
  if (pass == "bwd") return BenchMode::backward;
  if (pass == "fwdbwd") return BenchMode::training;
  throw std::invalid_argument("--pass must be fwd, bwd or fwdbwd, got '" + pass + "'");
}

Shape BenchCase::problem_shape() const {
  Shape s = shape;
  if (mode == BenchMode::decode) s.T = variant.rule->stateful() ? 1 : shape.T + 1;
  return s;
}

std::string BenchCase::key() const {
  std::ostringstream os;
  os << variant.name << '|' << variant.spec() << '|' << form << '|' << backend << '|' << dtype << '|'
     << bench_mode_name(mode) << '|' << shape.B << '|' << shape.H << '|' << shape.T << '|' << shape.dk << '|'
     << shape.dv << '|' << m << '|' << (form == "best" ? 0 : chunk) << '|' << gate_set_name(gates);
  return os.str();
}

std::string BenchCase::label() const {
  std::ostringstream os;
  os << variant.name << ' ' << form << '/' << backend << '/' << dtype << ' ' << bench_mode_name(mode) << " B=" << shape.B
     << " H=" << shape.H << " T=" << shape.T << " dk=" << shape.dk << " dv=" << shape.dv << " m=" << m;
  if (chunk > 0 && form != "best") os << " chunk=" << chunk;
  if (gates != GateSet::uniform_init) os << " gates=" << gate_set_name(gates);
  return os.str();
}

std::string BenchCase::benchmark_name() const {
  std::ostringstream os;
  os << variant.name << '/' << form << '/' << backend << '/' << dtype << '/' << bench_mode_name(mode)
     << "/B:" << shape.B << "/H:" << shape.H << "/T:" << shape.T << "/dk:" << shape.dk << "/dv:" << shape.dv
     << "/m:" << m;
  if (chunk > 0 && form != "best") os << "/chunk:" << chunk;
  if (gates != GateSet::uniform_init) os << "/gates:" << gate_set_name(gates);
  return os.str();
}

ResultRow BenchCase::identity_row(const std::string& timed_form) const {
  ResultRow r;
  r.preset = preset;
  r.variant = variant.name;
  r.spec = variant.spec();
  r.form = timed_form;
  r.backend = backend;
  r.dtype = dtype;
  r.mode = bench_mode_name(mode);
  r.B = shape.B;
  r.H = shape.H;
  r.T = shape.T;
  r.dk = shape.dk;
  r.dv = shape.dv;
  r.m = m;
  r.chunk = timed_form == "chunked" ? chunk : 0;
  r.gates = gate_set_name(gates);
  return r;
}

int64_t BenchCase::tokens() const { return mode == BenchMode::decode ? shape.B : shape.B * shape.T; }

const std::vector<std::string>& bench_preset_names() {
  static const std::vector<std::string> names = {"paper", "paper-prefill", "scaling", "grid", "cpu-targets",
                                                 "gpu-targets", "decode-large", "training"};
  return names;
}

std::string bench_preset_help() {
  return "  paper          decode step, T = 0..1920 step 128, B = 32, H = 1, d = m = 64: softmax (KV cache)\n"
         "                 vs dfw vs delta (docs/MATH.md's paper protocol; fp16 on cuda, fp32 on cpu);\n"
         "                 on cuda also softmax through cuDNN (form cudnn)\n"
         "  paper-prefill  the same shapes as whole sequences, T = 128..1920: softmax blocked, dfw chunked\n"
         "                 and recurrent, delta recurrent; on cuda also softmax cudnn\n"
         "  scaling        prefill, T = 256..65536 doubling with B T = 65536, H = 12, d = m = 64, every\n"
         "                 preset variant in its fastest prefill form (probed per case: --forms best)\n"
         "  grid           prefill, every rule x feature map x norm at B = 4, H = 8, T = 1024, d = 64,\n"
         "                 each in its fastest form (probed)\n"
         "  cpu-targets    the CPU performance targets: dfw / softmax decode at B = 32, H = 12, d = 64,\n"
         "                 T = 128 and 16384; dfw decode at H = 16, d = m = 128, T = 128, B as in\n"
         "                 decode-large; dfw chunked and recurrent prefill at B = 1, T = 4096, H = 12,\n"
         "                 d = 64 and H = 16, d = 128 (gates uniform and tiny); softmax blocked prefill\n"
         "                 at B = 1, H = 12, T = 4096, d = 64; dfw and gated chunked with gates uniform,\n"
         "                 tiny, mixed, ones; prints each target's ratio and PASS / MISS /\n"
         "                 inconclusive (disturbed run) / MISSING\n"
         "  gpu-targets    the GPU targets (cuda only, bf16): dfw chunked and recurrent and softmax\n"
         "                 blocked (flash) prefill at B = 8, H = 16, T = 16384, d = m = 128, dfw decode at\n"
         "                 B = 256, H = 16, d = m = 128; chunked and flash against the in-run cuBLAS\n"
         "                 rate, recurrent / chunked, decode against the copy bandwidth; verdicts as\n"
         "                 cpu-targets'; softmax prefill blocked / cudnn beside them (information)\n"
         "  decode-large   dfw decode with a state of at least 4x the last-level cache (the GPU's L2 on\n"
         "                 cuda): H = 16, d = m = 128, T = 128, 1024, 16384, B = the least batch whose\n"
         "                 state (B x 1 MiB) reaches that, at least 64 (cpu) or 256 (cuda), at most what\n"
         "                 the memory available holds\n"
         "  training       forward + backward in one timed run (--pass fwdbwd), T = 128..2048 doubling\n"
         "                 at B = 32, H = 1, d = m = 64 and T = 256..1024 at B = 8, H = 16, d = m = 128:\n"
         "                 softmax blocked; dfw, gated, linear chunked (cuda: recurrent, as the CUDA\n"
         "                 chunked forward is fp16 / bf16 only); delta recurrent (checkpointed backward);\n"
         "                 fp32 on either backend; and dfw forward and backward (recurrent, chunked)\n"
         "                 alone at B = 1, H = 12, T = 4096, d = m = 64\n";
}

int64_t streaming_decode_batch(const std::string& backend, const StreamSizing& sizing) {
  BenchCase one;  // the case at B = 1: its state and its plan grow linearly with B
  one.variant = parse_variant("dfw");
  one.form = "decode";
  one.backend = backend;
  one.dtype = backend == "cuda" ? "fp16" : "fp32";
  one.mode = BenchMode::decode;
  one.shape = make_shape(1, Stream::H, Stream::T, Stream::d);
  one.m = one.variant.m(Stream::d);
  const MemoryPlan plan = plan_case_memory(one, 1);
  const int64_t state = Stream::H * Stream::d * one.m * 4;
  return streaming_batch(sizing, backend == "cuda" ? Stream::min_batch_cuda : Stream::min_batch_cpu, state,
                         backend == "cuda" ? plan.device : plan.host());
}

Sweep preset_sweep(const std::string& name, const std::string& backend, const StreamSizing& sizing) {
  const std::string dtype = backend == "cuda" ? "fp16" : "fp32";
  Sweep s;
  if (name == "paper") s = paper(backend);
  else if (name == "paper-prefill") s = paper_prefill(backend);
  else if (name == "scaling") s = scaling();
  else if (name == "grid") s = grid();
  else if (name == "cpu-targets") s = cpu_targets(sizing);
  else if (name == "gpu-targets") s = gpu_targets(backend);
  else if (name == "decode-large") s = decode_large(backend, sizing);
  else if (name == "training") s = training(backend);
  else throw std::invalid_argument("unknown preset '" + name + "'\npresets:\n" + bench_preset_help());
  s.name = name;
  s.backend = backend;
  // Every backward form is fp32; the GPU targets are bf16 (flash-linear-attention's dtype).
  s.dtype = name == "training" ? "fp32" : name == "gpu-targets" ? "bf16" : dtype;
  return s;
}

std::vector<std::string> best_candidates(const Variant& v, BenchMode mode, const std::string& backend,
                                         const std::string& dtype) {
  std::vector<std::string> out;
  if (!v.defined() || is_backward(mode)) return out;  // the probe times forward forms only
  const std::vector<std::string> forms =
      mode == BenchMode::decode ? std::vector<std::string>{"decode"}
                                : std::vector<std::string>{"recurrent", "chunked", "blocked"};
  for (const std::string& f : forms) {
    const Impl* impl = find_impl(f, backend, dtype);
    if (impl && impl->unsupported_reason(v, run_mode(mode)).empty()) out.push_back(f);
  }
  return out;
}

std::vector<int64_t> parse_seqlens(const std::string& text) {
  auto number = [&](const std::string& s) {
    const auto v = parse_integer(s);
    if (!v || *v < 0)
      throw std::invalid_argument("--seqlens: '" + s + "' is not a non-negative integer (in '" + text + "')");
    return int64_t(*v);
  };
  std::vector<int64_t> out;
  const auto first_colon = text.find(':');
  if (first_colon == std::string::npos) {
    std::string item;
    std::istringstream in(text);
    while (std::getline(in, item, ','))
      if (!item.empty()) out.push_back(number(item));
  } else {
    const auto second_colon = text.find(':', first_colon + 1);
    if (second_colon == std::string::npos)
      throw std::invalid_argument("--seqlens: a range is FIRST:LAST:STEP or FIRST:LAST:xFACTOR, got '" + text + "'");
    const int64_t first = number(text.substr(0, first_colon));
    const int64_t last = number(text.substr(first_colon + 1, second_colon - first_colon - 1));
    const std::string step = text.substr(second_colon + 1);
    if (!step.empty() && step[0] == 'x') {
      const int64_t factor = number(step.substr(1));
      if (factor < 2 || first < 1) throw std::invalid_argument("--seqlens: a doubling range needs FIRST >= 1, factor >= 2");
      for (int64_t t = first; t <= last; t *= factor) out.push_back(t);
    } else {
      const int64_t s = number(step);
      if (s < 1) throw std::invalid_argument("--seqlens: the step must be >= 1");
      out = range(first, last, s);
    }
  }
  if (out.empty()) throw std::invalid_argument("--seqlens: '" + text + "' gives no sequence length");
  return out;
}

std::vector<BenchCase> expand_bench_cases(const Sweep& sweep) {
  std::vector<BenchCase> out;
  std::set<std::string> keys;
  for (const SweepGroup& g : sweep.groups)
    for (const Shape& shape : g.shapes)
      for (GateSet gates : g.gate_sets)
        for (const auto& [variant, form] : g.runs) {
          BenchCase c;
          c.preset = sweep.name;
          c.variant = variant;
          c.form = form;
          c.backend = sweep.backend;
          c.dtype = sweep.dtype;
          c.mode = g.mode;
          c.shape = shape;
          c.m = variant.m(shape.dk);
          c.chunk = form == "chunked" || form == "best" ? sweep.chunk : 0;
          c.gates = gates;
          if (g.mode != BenchMode::decode && shape.T < 1)
            throw std::invalid_argument(c.label() + ": a prefill needs T >= 1 (T = 0 exists only as a decode context)");
          validate_shape(c.problem_shape(), c.m);
          if (keys.insert(c.key()).second) out.push_back(std::move(c));
        }
  return out;
}

}  // namespace dfw
