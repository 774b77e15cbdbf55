// The case list of `dfwbench bench`: presets and flags expand into BenchCases
// (variant x form x backend x dtype x mode x shape), each with a key that
// --resume uses to recognise a case already in a results file.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "generator.hpp"
#include "results_row.hpp"
#include "impl.hpp"
#include "shape.hpp"
#include "stream_sizing.hpp"
#include "variant.hpp"

namespace dfw {

enum class BenchMode {
  prefill,   // the whole sequence (Mode::sequence); T = sequence length
  decode,    // one new token (Mode::decode_step); T = context length
  backward,  // "bwd": a backward form (BackwardImpl) over the whole sequence, its
             // forward recompute included; T = sequence length
  training,  // "fwdbwd": the forward form, then the backward form, in one timed run
};

const char* bench_mode_name(BenchMode m);          // prefill, decode, bwd, fwdbwd
BenchMode parse_bench_mode(const std::string& s);  // throws std::invalid_argument
Mode run_mode(BenchMode m);
bool is_backward(BenchMode m);                     // bwd or fwdbwd: a BackwardImpl runs
// --pass fwd|bwd|fwdbwd applied to a prefill sweep; throws std::invalid_argument.
BenchMode prefill_pass(const std::string& pass);

struct BenchCase {
  std::string preset;  // the sweep's name, written in every row
  Variant variant;
  std::string form, backend, dtype;  // form "best": picked per case by a probe (form_probe.hpp)
  BenchMode mode = BenchMode::prefill;
  Shape shape;         // shape.T: context length (decode) or sequence length (prefill)
  int64_t m = 0;       // feature width (dk for softmax)
  int64_t chunk = 0;   // chunk length of the chunked form (and of best's chunked candidate); else 0
  GateSet gates = GateSet::uniform_init;  // the generator's gate set

  // The Problem's shape: prefill T tokens; decode T + 1 tokens for softmax (the
  // context, then the new token) and 1 token with a random s0 for stateful rules.
  Shape problem_shape() const;
  // Identity used by --resume: every column that tells cases apart (chunk 0 for
  // form best, whose row holds the picked form: ResultRow::key()).
  std::string key() const;
  // "dfw decode/cpu/fp32 B=32 H=1 T=128 dk=64 dv=64 m=64" (+ " chunk=64", + " gates=tiny"
  // for a gate set other than uniform).
  std::string label() const;
  // The same as a Google Benchmark name: "dfw/decode/cpu/fp32/B:32/H:1/T:128/...".
  std::string benchmark_name() const;
  int64_t tokens() const;  // tokens produced by one run: B T (prefill) or B (decode)
  // A results row holding only this case's identity columns (preset ... gates), timed
  // in `form` (the picked one for form best); the caller fills status and measurements.
  ResultRow identity_row(const std::string& form) const;
};

// Runs of one mode over a list of shapes: every (variant, form) pair at every
// shape, with inputs drawn with each gate set.
struct SweepGroup {
  BenchMode mode = BenchMode::prefill;
  std::vector<std::pair<Variant, std::string>> runs;  // (variant, form)
  std::vector<Shape> shapes;                          // shapes outer, gate sets, runs inner
  std::vector<GateSet> gate_sets = {GateSet::uniform_init};
};

struct Sweep {
  std::string name;
  std::string backend;  // cpu | cuda (already resolved)
  std::string dtype;
  int64_t chunk = 64;
  std::vector<SweepGroup> groups;
};

// The dfw decode case that streams its state from memory: the decode-large
// preset (at T = 128, 1024, 16384) and the bandwidth target of cpu-targets (at
// T = 128), which bench_targets.cpp finds by H, T and d = m alone, because the
// batch is sized from the machine: the state (B H d m fp32) spans at least
// kStreamFactor x the last-level cache (the GPU's L2 on cuda), B >= min_batch.
struct StreamingDecodeShape {
  static constexpr int64_t H = 16, d = 128, T = 128;
  static constexpr int64_t min_batch_cpu = 64, min_batch_cuda = 256;
};

// Preset names, in the order `--help` lists them.
const std::vector<std::string>& bench_preset_names();
std::string bench_preset_help();

// A preset for a resolved backend (cpu | cuda); dtype fp16 on cuda, fp32 on cpu.
// The streaming decode cases are sized by `sizing` (the default, no LLC known,
// keeps their least batch). Throws std::invalid_argument for an unknown name.
Sweep preset_sweep(const std::string& name, const std::string& backend, const StreamSizing& sizing = {});

// The batch of the streaming decode case on this backend (StreamingDecodeShape).
int64_t streaming_decode_batch(const std::string& backend, const StreamSizing& sizing);

// The forms a case of form "best" picks from (form_probe.hpp): every prefill form
// (recurrent, chunked, blocked) with an implementation here that supports the
// variant, or decode in decode mode; empty for an undefined variant.
std::vector<std::string> best_candidates(const Variant& v, BenchMode mode, const std::string& backend,
                                         const std::string& dtype);

// "128:2048:128" (inclusive, fixed step), "256:65536:x2" (doubling) or "128,256".
// Throws std::invalid_argument on a malformed or negative entry.
std::vector<int64_t> parse_seqlens(const std::string& text);

// Every case of the sweep, shapes outer, gate sets, runs inner within each group;
// a case listed twice (same key) is kept once, where it first appears.
// Throws std::invalid_argument for a shape out of range.
std::vector<BenchCase> expand_bench_cases(const Sweep& sweep);

}  // namespace dfw
