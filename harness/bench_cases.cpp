// Presets and case expansion for `dfwbench bench` (bench_cases.hpp).
#include "bench_cases.hpp"

#include <set>
#include <sstream>
#include <stdexcept>

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

// SPEC's paper protocol: batch 32, one head, d = m = 64; decode from T = 0.
constexpr int64_t kPaperBatch = 32, kPaperHeads = 1, kPaperD = 64;

Sweep paper(const std::string& backend) {
  Sweep s;
  s.groups.push_back(group(BenchMode::decode, {run("softmax", "decode"), run("dfw", "decode"), run("delta", "decode")},
                           shapes_over(range(0, 1920, 128), kPaperBatch, kPaperHeads, kPaperD)));
  return s;
}

Sweep paper_prefill(const std::string& backend) {
  Sweep s;
  s.groups.push_back(group(BenchMode::prefill,
                           {run("softmax", "blocked"), run("dfw", "chunked"), run("dfw", "recurrent"),
                            run("delta", "recurrent")},
                           shapes_over(range(128, 1920, 128), kPaperBatch, kPaperHeads, kPaperD)));
  return s;
}

// T doubling from 256 to 65536 with B T = 65536 tokens per run.
Sweep scaling(const std::string& backend, const std::string& dtype) {
  Sweep s;
  SweepGroup g;
  g.mode = BenchMode::prefill;
  for (const auto& name : preset_names()) {
    Variant v = parse_variant(name);
    const std::string f = best_form(v, g.mode, backend, dtype);
    g.runs.emplace_back(std::move(v), f);
  }
  for (int64_t T = 256; T <= 65536; T *= 2) g.shapes.push_back(make_shape(65536 / T, 12, T, 64));
  s.groups.push_back(std::move(g));
  return s;
}

// Every rule x feature map x normalisation combination at one prefill shape.
Sweep grid(const std::string& backend, const std::string& dtype) {
  Sweep s;
  SweepGroup g;
  g.mode = BenchMode::prefill;
  for (Variant& v : all_combinations()) {
    const std::string f = best_form(v, g.mode, backend, dtype);
    g.runs.emplace_back(std::move(v), f);
  }
  g.shapes.push_back(make_shape(4, 8, 1024, 64));
  s.groups.push_back(std::move(g));
  return s;
}

// Exactly the rows the CPU targets read (bench_targets.hpp defines them).
Sweep cpu_targets() {
  Sweep s;
  for (const TargetRow& r : cpu_target_rows()) {
    SweepGroup g = group(r.mode, {run(r.variant, r.form)}, {r.shape});
    g.gate_sets = {r.gates};
    s.groups.push_back(std::move(g));
  }
  return s;
}

// dfw decode with a state far larger than a last-level cache.
Sweep decode_large(const std::string& backend) {
  Sweep s;
  const int64_t B = backend == "cuda" ? 256 : 64;
  s.groups.push_back(group(BenchMode::decode, {run("dfw", "decode")}, shapes_over({128, 1024, 16384}, B, 16, 128)));
  return s;
}

}  // namespace

const char* bench_mode_name(BenchMode m) { return m == BenchMode::decode ? "decode" : "prefill"; }

BenchMode parse_bench_mode(const std::string& s) {
  if (s == "prefill") return BenchMode::prefill;
  if (s == "decode") return BenchMode::decode;
  throw std::invalid_argument("--mode must be prefill or decode, got '" + s + "'");
}

Mode run_mode(BenchMode m) { return m == BenchMode::decode ? Mode::decode_step : Mode::sequence; }

Shape BenchCase::problem_shape() const {
  Shape s = shape;
  if (mode == BenchMode::decode) s.T = variant.rule->stateful() ? 1 : shape.T + 1;
  return s;
}

std::string BenchCase::key() const {
  std::ostringstream os;
  os << variant.name << '|' << variant.spec() << '|' << form << '|' << backend << '|' << dtype << '|'
     << bench_mode_name(mode) << '|' << shape.B << '|' << shape.H << '|' << shape.T << '|' << shape.dk << '|'
     << shape.dv << '|' << m << '|' << chunk << '|' << gate_set_name(gates);
  return os.str();
}

std::string BenchCase::label() const {
  std::ostringstream os;
  os << variant.name << ' ' << form << '/' << backend << '/' << dtype << ' ' << bench_mode_name(mode) << " B=" << shape.B
     << " H=" << shape.H << " T=" << shape.T << " dk=" << shape.dk << " dv=" << shape.dv << " m=" << m;
  if (chunk > 0) os << " chunk=" << chunk;
  if (gates != GateSet::uniform_init) os << " gates=" << gate_set_name(gates);
  return os.str();
}

std::string BenchCase::benchmark_name() const {
  std::ostringstream os;
  os << variant.name << '/' << form << '/' << backend << '/' << dtype << '/' << bench_mode_name(mode)
     << "/B:" << shape.B << "/H:" << shape.H << "/T:" << shape.T << "/dk:" << shape.dk << "/dv:" << shape.dv
     << "/m:" << m;
  if (chunk > 0) os << "/chunk:" << chunk;
  if (gates != GateSet::uniform_init) os << "/gates:" << gate_set_name(gates);
  return os.str();
}

int64_t BenchCase::tokens() const { return mode == BenchMode::decode ? shape.B : shape.B * shape.T; }

const std::vector<std::string>& bench_preset_names() {
  static const std::vector<std::string> names = {"paper", "paper-prefill", "scaling", "grid", "cpu-targets",
                                                 "decode-large"};
  return names;
}

std::string bench_preset_help() {
  return "  paper          decode step, T = 0..1920 step 128, B = 32, H = 1, d = m = 64: softmax (KV cache)\n"
         "                 vs dfw vs delta (SPEC's paper protocol; fp16 on cuda, fp32 on cpu)\n"
         "  paper-prefill  the same shapes as whole sequences, T = 128..1920: softmax blocked, dfw chunked\n"
         "                 and recurrent, delta recurrent\n"
         "  scaling        prefill, T = 256..65536 doubling with B T = 65536, H = 12, d = m = 64, every\n"
         "                 preset variant in its best prefill form\n"
         "  grid           prefill, every rule x feature map x norm at B = 4, H = 8, T = 1024, d = 64\n"
         "  cpu-targets    the CPU performance targets: dfw / softmax decode at B = 32, H = 12, d = 64,\n"
         "                 T = 128 and 16384; dfw decode at B = 64, H = 16, d = m = 128; dfw chunked\n"
         "                 and recurrent prefill at B = 1, T = 4096, H = 12, d = 64 and H = 16, d = 128\n"
         "                 (gates uniform and tiny); softmax blocked prefill at B = 1, H = 12, T = 4096,\n"
         "                 d = 64; dfw and gated chunked with gates uniform, tiny, mixed, ones; prints\n"
         "                 each target's ratio and PASS / MISS / inconclusive (disturbed run) / MISSING\n"
         "  decode-large   dfw decode with a state larger than a last-level cache: H = 16, d = m = 128,\n"
         "                 B = 64 (cpu) or 256 (cuda), T = 128, 1024, 16384\n";
}

Sweep preset_sweep(const std::string& name, const std::string& backend) {
  const std::string dtype = backend == "cuda" ? "fp16" : "fp32";
  Sweep s;
  if (name == "paper") s = paper(backend);
  else if (name == "paper-prefill") s = paper_prefill(backend);
  else if (name == "scaling") s = scaling(backend, dtype);
  else if (name == "grid") s = grid(backend, dtype);
  else if (name == "cpu-targets") s = cpu_targets();
  else if (name == "decode-large") s = decode_large(backend);
  else throw std::invalid_argument("unknown preset '" + name + "'\npresets:\n" + bench_preset_help());
  s.name = name;
  s.backend = backend;
  s.dtype = dtype;
  return s;
}

std::string best_form(const Variant& v, BenchMode mode, const std::string& backend, const std::string& dtype) {
  if (mode == BenchMode::decode) return "decode";
  if (!v.rule->stateful()) return "blocked";
  const Impl* chunked = find_impl("chunked", backend, dtype);
  if (v.defined() && chunked && chunked->unsupported_reason(v, Mode::sequence).empty()) return "chunked";
  return "recurrent";
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
          c.chunk = form == "chunked" ? sweep.chunk : 0;
          c.gates = gates;
          if (g.mode == BenchMode::prefill && shape.T < 1)
            throw std::invalid_argument(c.label() + ": a prefill needs T >= 1 (T = 0 exists only as a decode context)");
          validate_shape(c.problem_shape(), c.m);
          if (keys.insert(c.key()).second) out.push_back(std::move(c));
        }
  return out;
}

}  // namespace dfw
