// dfwbench eval: one variant on .npy inputs (a whole sequence, or --mode
// decode_step: one generated token); writes y.npy, state.npy (and z.npy when
// normalised), and with dy.npy the gradients dq.npy, dk.npy, ... of the form's
// backward, so results can be checked against numpy or PyTorch code. The
// files are replaced as a set: all are written before any is renamed into place,
// and an output of an earlier run that this one does not make is removed.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "atomic_file.hpp"
#include "backward_impl.hpp"
#include "check_cases.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "npy.hpp"

namespace dfw {
namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

// An input read as `got` must have shape `want`: equal sizes are not enough, a
// transposed or reshaped array would be read as other tokens. Absent inputs pass.
void expect_shape(const std::string& dir, const std::string& name, const std::vector<int64_t>& got,
                  const std::vector<int64_t>& want) {
  if (!got.empty() && got != want)
    throw std::invalid_argument(dir + "/" + name + ".npy: shape " + shape_str(got) + ", expected " + shape_str(want));
}

// --out must name an existing directory; checked before any work so a bad path
// fails at once and leaves nothing behind.
void require_output_dir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) throw std::invalid_argument("--out " + dir + ": no such directory");
  if (!S_ISDIR(st.st_mode)) throw std::invalid_argument("--out " + dir + ": not a directory");
}

// Reads DIR/NAME.npy into out, checking its rank; returns the shape. Absent and
// optional: out stays empty.
std::vector<int64_t> load(const std::string& dir, const std::string& name, std::size_t rank, bool required,
                          std::vector<float>& out) {
  const std::string path = dir + "/" + name + ".npy";
  if (!exists(path)) {
    if (required) throw std::invalid_argument(path + ": missing (required by this variant)");
    return {};
  }
  NpyArray a = read_npy(path);
  if (a.shape.size() != rank)
    throw std::invalid_argument(path + ": expected " + std::to_string(rank) + " dimensions, got " +
                                std::to_string(a.shape.size()));
  out = std::move(a.data);
  return a.shape;
}

}  // namespace

int run_eval(int argc, char** argv) {
  Cli cli("eval",
          "Runs one variant on inputs read from .npy files (float32 or float64, C order; float64\n"
          "is rounded to float32) and writes y.npy (B, H, T, dv) and state.npy (B, H, dv, m),\n"
          "plus z.npy (B, H, m) for normalised variants, as float64.\n"
          "Inputs in --in: q, k (B, H, T, dk); v (B, H, T, dv); gate (B, H, T) for gated;\n"
          "beta (B, H, T) for delta; gate_v (B, H, T, dv) and gate_k (B, H, T, m) for decay;\n"
          "w (H, m, dk) and b (H, m) for relu_proj; omega (H, m, dk) for favor; optional s0\n"
          "(B, H, dv, m). Gates must lie in (0, 1]; NaN or Inf in any input is refused.\n"
          "With dy.npy (B, H, T, dv) in --in (--mode sequence), the form's backward also runs and\n"
          "writes the gradients of L = sum(y * dy): dq.npy, dk.npy, dv.npy, and dgate, dbeta,\n"
          "dgate_v, dgate_k, dw, db (summed over the batch), ds0 for the inputs given, each shaped\n"
          "as its input, float64.");
  cli.option("variant", "", "preset or spec string (required)");
  cli.option("form", "recurrent", "reference, recurrent, chunked, blocked or decode (softmax: blocked or decode)");
  cli.option("backend", "cpu", "cpu or cuda");
  cli.option("dtype", "fp32", "fp32 (cpu), fp64 (reference), fp16 or bf16 (cuda)");
  cli.option("chunk", "64", "chunk length of the chunked form");
  cli.option("mode", "sequence", "sequence (y of every token) or decode_step (y of the last token, shape\n"
                                 "(B, H, 1, dv): softmax against a KV cache of the first T - 1 tokens; a\n"
                                 "stateful rule one token, T = 1, from s0)");
  cli.option("in", "", "directory holding the input .npy files (required)");
  cli.option("out", "", "directory for y.npy, state.npy, z.npy (required; must exist); an earlier run's\n"
                        "output that this variant does not make is removed");
  if (!cli.parse(argc, argv)) return 0;
  for (const char* req : {"variant", "in", "out"})
    if (cli.str(req).empty()) throw std::invalid_argument(std::string("--") + req + " is required");
  const Variant v = parse_variant(cli.str("variant"));
  if (!v.defined()) throw std::invalid_argument(v.name + ": " + v.undefined_reason);
  const std::string backend = cli.str("backend");
  if (backend != "cpu" && backend != "cuda") throw std::invalid_argument("--backend must be cpu or cuda, got '" + backend + "'");
  if (backend == "cuda" && !cuda_unavailable_reason().empty())
    throw std::runtime_error("--backend cuda: " + cuda_unavailable_reason());
  std::string form = cli.str("form"), dtype = cli.str("dtype");
  if (form == "reference") dtype = "fp64";
  if (form == "recurrent" && !v.rule->stateful()) form = "blocked";
  const Impl* impl = find_impl(form, backend, dtype);
  if (!impl) throw std::invalid_argument("no implementation " + form + "/" + backend + "/" + dtype);
  const std::string mode_name = cli.str("mode");
  if (mode_name != "sequence" && mode_name != "decode_step")
    throw std::invalid_argument("--mode must be sequence or decode_step, got '" + mode_name + "'");
  const Mode mode = mode_name == "decode_step" ? Mode::decode_step : Mode::sequence;
  const std::string why = impl->unsupported_reason(v, mode);
  if (!why.empty()) throw std::invalid_argument(impl->key().str() + " does not support " + v.name + ": " + why);
  const long long chunk = cli.integer("chunk");
  if (chunk < 1) throw std::invalid_argument("--chunk must be >= 1");

  const std::string in = cli.str("in"), out = cli.str("out");
  require_output_dir(out);
  Problem p;
  const auto qs = load(in, "q", 4, true, p.q);
  p.shape = {qs[0], qs[1], qs[2], qs[3], 0};
  const auto vs = load(in, "v", 4, true, p.v);
  p.shape.dv = vs[3];
  validate_shape(p.shape, 1);
  const int64_t B = qs[0], H = qs[1], T = qs[2], dk = qs[3], dv = vs[3];
  expect_shape(in, "v", vs, {B, H, T, dv});
  p.m = v.m(dk);
  expect_shape(in, "k", load(in, "k", 4, true, p.k), {B, H, T, dk});
  const bool proj = v.phi && v.phi->needs_projection(), omega = v.phi && v.phi->needs_omega();
  const auto ws = load(in, "w", 3, proj, p.w);
  const auto os = load(in, "omega", 3, omega, p.omega);
  if (!ws.empty()) p.m = ws[1];  // relu_proj / favor: m is the parameters' width
  if (!os.empty()) p.m = os[1];
  const int64_t m = p.m;
  expect_shape(in, "w", ws, {H, m, dk});
  expect_shape(in, "b", load(in, "b", 2, proj, p.b), {H, m});
  expect_shape(in, "omega", os, {H, m, dk});
  const unsigned gates = v.rule->gate_inputs();
  expect_shape(in, "gate", load(in, "gate", 3, gates & kScalarGate, p.gate), {B, H, T});
  expect_shape(in, "beta", load(in, "beta", 3, gates & kScalarBeta, p.beta), {B, H, T});
  expect_shape(in, "gate_v", load(in, "gate_v", 4, gates & kDecayGates, p.gate_v), {B, H, T, dv});
  expect_shape(in, "gate_k", load(in, "gate_k", 4, gates & kDecayGates, p.gate_k), {B, H, T, m});
  expect_shape(in, "s0", load(in, "s0", 4, false, p.s0), {B, H, dv, m});
  validate_problem(v, p);
  std::vector<float> dy;
  expect_shape(in, "dy", load(in, "dy", 4, false, dy), {B, H, T, dv});
  Gradients grads;
  const bool backward = !dy.empty();
  if (backward) {
    if (mode != Mode::sequence) throw std::invalid_argument(in + "/dy.npy: gradients need --mode sequence");
    for (float x : dy)
      if (!std::isfinite(x)) throw std::invalid_argument(in + "/dy.npy: NaN or Inf");
    const BackwardImpl* bwd = find_backward_impl(form, backend, dtype);
    if (!bwd) throw std::invalid_argument(in + "/dy.npy: no " + form + "/" + backend + "/" + dtype + " backward form");
    if (const std::string no = bwd->unsupported_reason(v); !no.empty())
      throw std::invalid_argument(bwd->key().str() + " backward does not support " + v.name + ": " + no);
    auto prepared = bwd->prepare(v, p, dy, {mode, chunk});
    prepared->run();
    grads = prepared->gradients();
  }

  const Output o = run_once(*impl, v, p, {mode, chunk});
  const int64_t y_tokens = mode == Mode::decode_step ? 1 : p.shape.T;
  const Shape& s = p.shape;
  // All written before any is renamed into place: a failed write leaves the
  // previous outputs, never a new y.npy beside a stale state.npy.
  // An output this variant does not make (state.npy for softmax, z.npy when not
  // normalised) is removed with the same commit, never left from an earlier run.
  AtomicFileSet files;
  try {
    files.stage(out + "/y.npy", npy_bytes({s.B, s.H, y_tokens, s.dv}, o.y));
    if (!o.state.empty()) files.stage(out + "/state.npy", npy_bytes({s.B, s.H, s.dv, p.m}, o.state));
    else files.remove_on_commit(out + "/state.npy");
    if (!o.z.empty()) files.stage(out + "/z.npy", npy_bytes({s.B, s.H, p.m}, o.z));
    else files.remove_on_commit(out + "/z.npy");
    const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"q", {s.B, s.H, s.T, s.dk}}, {"k", {s.B, s.H, s.T, s.dk}},     {"v", {s.B, s.H, s.T, s.dv}},
        {"gate", {s.B, s.H, s.T}},    {"beta", {s.B, s.H, s.T}},         {"gate_v", {s.B, s.H, s.T, s.dv}},
        {"gate_k", {s.B, s.H, s.T, p.m}}, {"w", {s.H, p.m, s.dk}},      {"b", {s.H, p.m}},
        {"s0", {s.B, s.H, s.dv, p.m}}};
    const auto given = grads.tensors();
    for (const auto& [tensor, shape] : shapes) {
      const std::string& name = tensor;  // a lambda below captures it, which C++17 allows no structured binding
      const std::string path = out + "/d" + name + ".npy";
      const auto it = std::find_if(given.begin(), given.end(), [&](const auto& g) { return g.first == name; });
      if (it != given.end()) files.stage(path, npy_bytes(shape, *it->second));
      else files.remove_on_commit(path);
    }
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (no output file was replaced)");
  }
  files.commit();
  std::fprintf(stderr, "[eval] %s %s: %s m=%lld -> %s/y.npy%s%s\n", v.name.c_str(), impl->key().str().c_str(),
               s.str().c_str(), (long long)p.m, out.c_str(), o.state.empty() ? "" : ", state.npy",
               backward ? ", the gradients d*.npy" : "");
  return 0;
}

}  // namespace dfw
