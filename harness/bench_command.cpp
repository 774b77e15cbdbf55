// dfwbench bench: the one timing harness every variant, form and backend runs
// through. A preset or flags expand into cases (bench_cases.hpp); each case is
// timed with Google Benchmark (bench_runner.hpp), read against the cost model and
// the ceilings measured in the same run, and results/NAME.{json,csv} are
// rewritten atomically after every case (results_store.hpp), so --resume can
// finish a sweep that was interrupted. A case whose timing is disturbed is
// re-run a bounded number of times, and rows that stay disturbed, or belong to
// a run whose ceilings changed, are marked so (run_quality.hpp).
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "atomic_file.hpp"
#include "bench_cases.hpp"
#include "bench_runner.hpp"
#include "bench_targets.hpp"
#include "paired_ratio.hpp"
#include "ceilings.hpp"
#include "check_cases.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "cuda_ceilings.hpp"
#include "cost_model.hpp"
#include "machine_info.hpp"
#include "memory_budget.hpp"
#include "memory_plan.hpp"
#include "results_json.hpp"
#include "results_store.hpp"
#include "roofline.hpp"
#include "stream_sizing.hpp"
#include "run_quality.hpp"
#include "thread_policy.hpp"

namespace dfw {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMaxThreads = 1024;  // --threads: a bound far above any core count it is meant for

std::string duration_text(double seconds) {
  const long long s = (long long)(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  return buf;
}

void declare_flags(Cli& cli) {
  cli.option("preset", "", "a named sweep (presets above); shape flags override it, --variants / --forms filter it");
  cli.option("variants", "softmax,dfw,delta",
             "comma list of presets, or spec strings separated by ';'");
  cli.option("forms", "best",
             "recurrent, chunked, blocked, decode, cudnn (softmax through cuDNN, cuda), or best: each\n"
             "case's fastest form, probed (row note)");
  cli.option("backend", "auto", "cpu, cuda, or auto (cuda when a device is usable, else cpu)");
  cli.option("mode", "prefill", "prefill (T = sequence length) or decode (T = context length); not with --preset");
  cli.option("pass", "fwd",
             "with --mode prefill: fwd (the forward form), bwd (its backward form: the gradients of\n"
             "L = sum(y * dy), recomputing what it needs of the forward) or fwdbwd (forward, then\n"
             "backward, one timed run: a training step of the attention); not with --preset");
  cli.option("seqlens", "128:1920:128", "FIRST:LAST:STEP (inclusive), FIRST:LAST:xFACTOR, or a list 128,256");
  cli.option("batch", "32", "batch size B");
  cli.option("heads", "1", "heads H");
  cli.option("dk", "64", "query/key width");
  cli.option("dv", "64", "value width");
  cli.option("m", "", "feature width of relu_proj / favor (other maps: must equal their fixed width)");
  cli.option("dtype", "", "fp32, fp16 or bf16 (default: fp16 on cuda, fp32 on cpu)");
  cli.option("chunk", "64", "chunk length of the chunked form");
  cli.option("gates", "uniform", "gate sets of the inputs, each its own case: uniform, tiny, mixed, ones");
  cli.option("repetitions", "5", "timed repetitions per case (median, p20, p80 over them)");
  cli.option("min-time", "0.05", "minimum seconds per repetition (short runs are iterated)");
  cli.option("warmup", "1", "untimed runs after prepare");
  cli.option("seed", "1234", "seed of the generated inputs");
  cli.option("out", "", "writes RESULTS_DIR/NAME.json, NAME.csv (default PRESET-BACKEND or custom-BACKEND)");
  cli.option("results-dir", "results/<machine-id>",
             "directory of the results files (<machine-id>: `dfwbench machine-id`)");
  cli.option("ceilings", "measure",
             "measure (copy bandwidth, GEMM rate at the start and the end of this run) or skip");
  cli.option("memory-limit", "",
             "BYTES (K/M/G/T) or N%: at most this planned per case, below what the process can get");
  cli.option("threads", "", "CPU threads (default: the cores this process may run on); see 'threads' above");
  cli.option("attempts", "3", "timings of a case at most (a disturbed case is re-run); see 'disturbed runs' above");
  cli.flag("resume", "keep the cases already in NAME.csv / NAME.json, run the missing ones");
  cli.option("filter", "",
             "only the cases whose name matches this regular expression (ECMAScript, anywhere in\n"
             "the name); a case's name is its line of --list, e.g. '^dfw chunked/.* T=4096 '");
  cli.flag("list", "print the cases and exit without running anything");
}

std::string resolve_backend(const std::string& b) {
  if (b == "cpu") return b;
  if (b == "cuda") {
    if (!cuda_unavailable_reason().empty()) throw std::runtime_error("--backend cuda: " + cuda_unavailable_reason());
    if (cuda_device_emulated())
      throw std::runtime_error("--backend cuda: the CUDA device is emulated (a -DDFWBENCH_CUDA_EMU=ON build); "
                               "its times are not a GPU's, so bench does not time it (use check for accuracy)");
    return b;
  }
  if (b == "auto") return cuda_unavailable_reason().empty() && !cuda_device_emulated() ? "cuda" : "cpu";
  throw std::invalid_argument("--backend must be cpu, cuda or auto, got '" + b + "'");
}

int64_t positive(const Cli& cli, const std::string& name) {
  const long long v = cli.integer(name);
  if (v < 1) throw std::invalid_argument("--" + name + " must be >= 1, got " + std::to_string(v));
  return v;
}

// --m: the free width of relu_proj / favor; any other map must already have it.
void apply_feature_width(Variant& v, int64_t m, const std::vector<Shape>& shapes) {
  if (!v.rule->stateful() || !v.phi) return;
  const std::string map = v.phi->name();
  if (map == "relu_proj" || map == "favor") {
    v.features.m = m;
    return;
  }
  for (const Shape& s : shapes)
    if (v.m(s.dk) != m)
      throw std::invalid_argument("--m " + std::to_string(m) + ": " + v.name + " has m = " +
                                  std::to_string(v.m(s.dk)) + " fixed by its feature map " + map + " (dk = " +
                                  std::to_string(s.dk) + ")");
}

bool listed(const std::vector<std::string>& list, const std::string& x) {
  for (const auto& l : list)
    if (l == x) return true;
  return false;
}

// The sweep from --preset (with overrides) or from the flags alone.
Sweep build_sweep(const Cli& cli, const std::string& backend, const StreamSizing& sizing) {
  Sweep sweep;
  const bool preset = cli.given("preset");
  if (preset) {
    if (cli.given("mode")) throw std::invalid_argument("--mode: the preset fixes the mode; drop --preset or --mode");
    if (cli.given("pass")) throw std::invalid_argument("--pass: the preset fixes the pass; drop --preset or --pass");
    sweep = preset_sweep(cli.str("preset"), backend, sizing);
  } else {
    sweep.name = "custom";
    sweep.backend = backend;
    sweep.dtype = backend == "cuda" ? "fp16" : "fp32";
    SweepGroup g;
    g.mode = parse_bench_mode(cli.str("mode"));
    if (g.mode != BenchMode::prefill && g.mode != BenchMode::decode)
      throw std::invalid_argument("--mode must be prefill or decode (the backward is --pass bwd or fwdbwd)");
    if (g.mode == BenchMode::decode && cli.str("pass") != "fwd")
      throw std::invalid_argument("--pass " + cli.str("pass") + ": a decode step has no backward; use --mode prefill");
    if (g.mode == BenchMode::prefill) g.mode = prefill_pass(cli.str("pass"));
    Shape s;
    for (int64_t T : parse_seqlens(cli.str("seqlens"))) {
      s.T = T;
      g.shapes.push_back(s);
    }
    sweep.groups.push_back(std::move(g));
  }
  if (cli.given("dtype")) sweep.dtype = cli.str("dtype");
  (void)dtype_bytes(sweep.dtype);  // validates the name
  sweep.chunk = positive(cli, "chunk");
  if (!preset || cli.given("gates")) {
    std::vector<GateSet> sets;
    for (const auto& name : split_list(cli.str("gates"))) sets.push_back(parse_gate_set(name));
    if (sets.empty()) throw std::invalid_argument("--gates is empty");
    for (SweepGroup& g : sweep.groups) g.gate_sets = sets;
  }

  // Shape flags: every shape of every group (defaults only without a preset).
  for (SweepGroup& g : sweep.groups) {
    if (preset && cli.given("seqlens")) {
      const Shape base = g.shapes.front();
      g.shapes.clear();
      for (int64_t T : parse_seqlens(cli.str("seqlens"))) {
        Shape s = base;
        s.T = T;
        g.shapes.push_back(s);
      }
    }
    for (Shape& s : g.shapes) {
      if (!preset || cli.given("batch")) s.B = positive(cli, "batch");
      if (!preset || cli.given("heads")) s.H = positive(cli, "heads");
      if (!preset || cli.given("dk")) s.dk = positive(cli, "dk");
      if (!preset || cli.given("dv")) s.dv = positive(cli, "dv");
    }
  }

  // Runs: without a preset, variants x forms; with one, --variants / --forms filter.
  const auto variants = select_variants(cli.str("variants"));
  const auto forms = split_list(cli.str("forms"));
  if (forms.empty()) throw std::invalid_argument("--forms is empty");
  for (const auto& f : forms)
    if (!listed({"best", "recurrent", "chunked", "blocked", "decode", "cudnn", "reference"}, f))
      throw std::invalid_argument("--forms: unknown form '" + f + "' (recurrent, chunked, blocked, decode, cudnn, best)");
  for (SweepGroup& g : sweep.groups) {
    if (!preset) {
      for (const Variant& v : variants)
        for (const auto& f : forms) g.runs.emplace_back(v, f);
    } else {
      std::vector<std::pair<Variant, std::string>> kept;
      for (auto& run : g.runs) {
        bool variant_ok = !cli.given("variants");
        for (const Variant& v : variants) variant_ok = variant_ok || v.spec() == run.first.spec();
        const bool form_ok = !cli.given("forms") || listed(forms, run.second);
        if (variant_ok && form_ok) kept.push_back(std::move(run));
      }
      g.runs = std::move(kept);
    }
    if (cli.given("m"))
      for (auto& run : g.runs) apply_feature_width(run.first, positive(cli, "m"), g.shapes);
  }
  return sweep;
}

// The CPU copy streams two buffers of at least kStreamFactor x the LLC each.
Ceilings measure_ceilings(const std::string& backend, const std::string& dtype, const StreamSizing& sizing) {
  std::cerr << "measuring " << backend << " ceilings (copy bandwidth, GEMM rate) ..." << std::endl;
  if (backend == "cuda") return measure_cuda_ceilings(dtype);
  CpuCeilingOptions opts;
  opts.copy_bytes = 2 * copy_buffer_bytes(sizing, opts.copy_bytes / 2);
  return measure_cpu_ceilings(opts);
}

// The last-level cache the streaming cases are sized against: the GPU's L2 on
// cuda, else the CPU's (stream_sizing.hpp).
int64_t llc_bytes_for(const std::string& backend) {
  return backend == "cuda" ? cuda_device_info().l2_bytes : last_level_cache_bytes();
}

std::string ceilings_json(const Ceilings& c) {
  JsonObject o;
  o.add("backend", c.backend).add("threads", c.threads).add("gemm_gflops", c.gflops);
  if (c.backend == "cpu") o.add("gemm_gflops_single_thread", c.gflops_single);
  o.add("bandwidth_gbps", c.gbps).add("gemm_method", c.gemm_method).add("bandwidth_method", c.bandwidth_method);
  if (c.contention)
    o.add("run_delay_fraction", c.contention->run_delay).add("preemptions_per_s", c.contention->preemptions_per_s);
  return o.str(6);
}

// How this run is judged (run_quality.hpp) and what it found: "disturbed" is
// empty for a quiet run, else why every row of the run is disturbed.
std::string quality_json(const QualityLimits& q, const std::string& disturbed) {
  JsonObject o;
  o.add("max_spread_p80_over_p20", q.max_spread).add("max_run_delay_fraction", q.max_run_delay)
      .add("max_preemptions_per_s", q.max_preemptions_per_s)
      .add("max_ceiling_change", q.max_ceiling_change).add("attempts", q.attempts).add("disturbed", disturbed);
  return o.str(6);
}

// What the context records beside the case rows.
struct RunRecord {
  Ceilings start, end;    // end.backend is empty until measured
  QualityLimits quality;
  std::string disturbed;  // why the whole run is disturbed ("" when not)
  std::string targets;    // JSON array of the CPU target verdicts, or ""
  std::string paired_ratios;  // JSON array of the preset's paired ratios (paired_ratio.hpp), or ""
};

std::string executable_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, std::size_t(n)) : "dfwbench";
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&t));
  return buf;
}

// Google Benchmark's context fields, then dfwbench's.
// run: the ceilings at the start (and end), the run's quality and the CPU target
// verdicts (a JSON array, or "" for none).
std::string context_json(const Sweep& sweep, const TimingOptions& timing, const MachineInfo& mi,
                         const RunRecord& run, const StreamSizing& sizing) {
  const auto& cpu = benchmark::CPUInfo::Get();
  std::string caches = "[";
  for (std::size_t i = 0; i < cpu.caches.size(); ++i) {
    JsonObject o;
    o.add("type", cpu.caches[i].type).add("level", cpu.caches[i].level).add("size", int64_t(cpu.caches[i].size))
        .add("num_sharing", cpu.caches[i].num_sharing);
    caches += (i ? ", " : "") + o.str();
  }
  caches += "]";
  std::string load = "[";
  for (std::size_t i = 0; i < cpu.load_avg.size(); ++i) load += (i ? ", " : "") + json_number(cpu.load_avg[i]);
  load += "]";
  JsonObject t;
  t.add("repetitions", timing.repetitions).add("min_time_s", timing.min_time_s).add("warmup_runs", timing.warmup_runs)
      .add("seed", int64_t(timing.seed)).add("clock", sweep.backend == "cuda" ? "CUDA events, L2 flushed before each run"
                                                                              : "steady_clock around run()");
  JsonObject o;
  o.add("date", now_text())
      .add("host_name", benchmark::SystemInfo::Get().name)
      .add("executable", executable_path())
      .add("num_cpus", cpu.num_cpus)
      .add("mhz_per_cpu", int64_t(cpu.cycles_per_second / 1e6))
      .add("cpu_scaling_enabled", cpu.scaling == benchmark::CPUInfo::ENABLED)
      .add_raw("caches", caches)
      .add_raw("load_avg", load)
      .add("preset", sweep.name)
      .add("backend", sweep.backend)
      .add("dtype", sweep.dtype)
      .add("commit", mi.commit)
      .add("compiler", mi.compiler)
      .add("cxx_flags", mi.cxx_flags)
      .add("cpu_model", mi.cpu_model)
      .add("cpu_isa", mi.cpu_isa)
      .add("threads", mi.threads)
      .add("cores_available", available_cores())
      .add("omp_wait_policy", omp_wait_policy())
      .add("llc_bytes", sizing.llc_bytes)
      .add("memory_budget_bytes", sizing.budget_bytes);
  if (sweep.backend == "cuda") o.add("gpu_name", mi.gpu_name).add("gpu_driver", mi.gpu_driver).add("gpu_clocks", mi.gpu_clocks);
  if (sweep.backend == "cpu" || !mi.gpu_name.empty()) o.add("machine_id", machine_id(mi, sweep.backend));
  o.add_raw("ceilings", ceilings_json(run.start));
  if (!run.end.backend.empty()) o.add_raw("ceilings_end", ceilings_json(run.end));
  o.add_raw("timing", t.str(6)).add_raw("run_quality", quality_json(run.quality, run.disturbed));
  if (!run.targets.empty()) o.add_raw(sweep.name == "gpu-targets" ? "gpu_targets" : "cpu_targets", run.targets);
  if (!run.paired_ratios.empty()) o.add_raw("paired_ratios", run.paired_ratios);
  return o.str(4);
}

ResultRow make_row(const BenchCase& c, const CaseTiming& t, const Cost& cost, const Ceilings& ceil,
                   const MachineInfo& mi, const MemoryPlan& plan) {
  ResultRow r = c.identity_row(t.form.empty() ? c.form : t.form);
  r.status = t.status;
  r.flops = cost.flops;
  r.bytes = cost.bytes;
  r.state_bytes = cost.state_bytes;
  r.ceiling_gflops = ceil.gflops;
  r.ceiling_gbps = ceil.gbps;
  if (c.backend == "cuda") r.roofline_ms = roofline_ms(cost.flops, cost.bytes);
  r.machine = c.backend == "cuda" ? mi.gpu_name : mi.cpu_model;
  r.commit = mi.commit;
  r.planned_bytes = double(plan.host() + plan.device);
  r.note = t.note;
  if (t.status == "ok") {
    r.time_median_ms = t.median_ms;
    r.time_p20_ms = t.p20_ms;
    r.time_p80_ms = t.p80_ms;
    r.repetitions = int64_t(t.repetition_ms.size());
    const double s = t.median_ms / 1e3;
    r.tokens_per_s = double(c.tokens()) / s;
    r.gflops = cost.flops / s / 1e9;
    r.gbps = cost.bytes / s / 1e9;
    r.frac_flops_ceiling = fraction_of(r.gflops, ceil.gflops);
    r.frac_bw_ceiling = fraction_of(r.gbps, ceil.gbps);
    r.peak_host_bytes = t.peak_host_bytes;
    r.peak_device_bytes = t.peak_device_bytes;
  }
  return r;
}

// The case's fields, shared by each of its benchmark entries.
void add_case_fields(JsonObject& o, const std::string& key, const ResultRow& r) {
  o.add("case_key", key).add("preset", r.preset).add("variant", r.variant).add("spec", r.spec).add("form", r.form)
      .add("backend", r.backend).add("dtype", r.dtype).add("mode", r.mode).add("B", r.B).add("H", r.H).add("T", r.T)
      .add("dk", r.dk).add("dv", r.dv).add("m", r.m).add("chunk", r.chunk).add("status", r.status)
      .add("flops", r.flops).add("bytes", r.bytes).add("state_bytes", r.state_bytes)
      .add("peak_host_bytes", r.peak_host_bytes).add("peak_device_bytes", r.peak_device_bytes)
      .add("machine", r.machine).add("commit", r.commit).add("gates", r.gates).add("cpu_threads", r.threads)
      .add("disturbed", r.disturbed).add("planned_bytes", r.planned_bytes).add("note", r.note);
  if (r.backend == "cuda") o.add("roofline_ms", r.roofline_ms);
}

// Google Benchmark's entries for the case, one line each.
std::vector<std::string> json_entries(const BenchCase& c, int64_t index, const CaseTiming& t, const ResultRow& r) {
  std::vector<std::string> out;
  const std::string key = c.key();
  if (t.runs.empty() || t.status != "ok") {
    JsonObject o;
    o.add("name", c.benchmark_name()).add("family_index", index).add("per_family_instance_index", int64_t(0))
        .add("run_name", c.benchmark_name()).add("run_type", "iteration").add("error_occurred", true)
        .add("error_message", t.status + ": " + t.message);
    add_case_fields(o, key, r);
    out.push_back(o.str());
    return out;
  }
  for (const auto& run : t.runs) {
    JsonObject o;
    o.add("name", run.name).add("family_index", index).add("per_family_instance_index", int64_t(0))
        .add("run_name", run.run_name).add("run_type", run.run_type).add("repetitions", run.repetitions);
    if (run.run_type == "iteration") o.add("repetition_index", run.repetition_index);
    o.add("threads", run.threads);
    if (run.run_type == "aggregate")
      o.add("aggregate_name", run.aggregate_name).add("aggregate_unit", run.aggregate_unit);
    o.add("iterations", run.iterations).add("real_time", run.real_time_ms).add("cpu_time", run.cpu_time_ms)
        .add("time_unit", "ms");
    const bool is_time = run.run_type == "iteration" || run.aggregate_name == "mean" ||
                         run.aggregate_name == "median" || run.aggregate_name == "p20" || run.aggregate_name == "p80";
    if (is_time && run.real_time_ms > 0) {
      const double s = run.real_time_ms / 1e3;
      o.add("tokens_per_s", double(c.tokens()) / s).add("gflops", r.flops / s / 1e9).add("gbps", r.bytes / s / 1e9);
    }
    add_case_fields(o, key, r);
    if (t.contention)
      o.add("run_delay_fraction", t.contention->run_delay).add("preemptions_per_s", t.contention->preemptions_per_s);
    out.push_back(o.str());
  }
  return out;
}

// The fractions printed are the row's own, against the ceilings measured at the
// start of the run, as in the CSV and JSON. A cuda time is followed by its roofline
// bound (roofline.hpp: nominal H200 rates, a bound and not a measurement).
void print_case_line(const ResultRow& r, const std::string& label, const std::string& message) {
  char buf[640];
  if (r.status == "ok") {
    int n = std::snprintf(buf, sizeof buf, "%-72s ok  %10.4f ms [%.4f, %.4f]  %9.2f GFLOP/s (%5.1f%%)  %8.2f GB/s (%5.1f%%)",
                          label.c_str(), r.time_median_ms, r.time_p20_ms, r.time_p80_ms, r.gflops,
                          100 * r.frac_flops_ceiling, r.gbps, 100 * r.frac_bw_ceiling);
    if (r.backend == "cuda" && n > 0 && std::size_t(n) < sizeof buf)
      std::snprintf(buf + n, sizeof buf - n, "  bound %.4g ms (roofline, nominal H200)", r.roofline_ms);
  } else
    std::snprintf(buf, sizeof buf, "%-72s %s: %s", label.c_str(), r.status.c_str(), message.c_str());
  std::cout << buf << (r.note.empty() ? "" : "  [" + r.note + "]") << std::endl;
}

// Times a case, again while its timing is disturbed, up to q.attempts timings.
// `why` gets the reason it is still disturbed ("" when quiet); `note` says so
// when a re-timing was needed and came out quiet ("" otherwise).
CaseTiming time_until_quiet(const BenchCase& c, const TimingOptions& timing, const QualityLimits& q,
                            std::string& why, std::string& note) {
  Retiming retiming;
  retiming.attempts = q.attempts;
  retiming.disturbance = [&q](const CaseTiming& t) { return timing_disturbance(t, q); };
  const CaseTiming t = time_case(c, timing, retiming);
  why.clear();
  note.clear();
  if (t.disturbances.empty()) return t;
  const std::string attempts = std::to_string(t.attempts);
  if (int(t.disturbances.size()) == t.attempts)
    why = t.disturbances.back() + " after " + attempts + " timing" + (t.attempts > 1 ? "s" : "");
  else
    note = "quiet at timing " + attempts + " (timing 1: " + t.disturbances.front() + ")";
  return t;
}

// The threads and disturbed-run paragraphs of --help, with the bounds in force.
std::string run_quality_help() {
  const QualityLimits q;
  const CpuCeilingOptions c;
  char buf[2048];
  std::snprintf(
      buf, sizeof buf,
      "threads: the CPU forms run OpenMP threads over batch x heads, --threads of them (default: the cores\n"
      "this process may run on). Idle threads spin ~30-50 us, then sleep: dfwbench sets OMP_WAIT_POLICY=PASSIVE\n"
      "and GOMP_SPINCOUNT=1000 and re-executes itself before libgomp reads them, unless the environment\n"
      "already names a policy; the policy, the threads and the cores are recorded in the results' context,\n"
      "the threads in every row.\n\n"
      "disturbed runs: a case whose repetitions spread beyond p80/p20 = %.2f, or whose threads waited for\n"
      "a core more than %.0f%% of the timed time while preempted more than %.0f times/s (kernel run delay and\n"
      "involuntary switches: another process held the cores), is timed again on the same inputs, up to\n"
      "--attempts timings; one still so is marked disturbed (column disturbed = 1, the reason in note).\n"
      "The ceilings are measured at the start and at the end of the run, each the best of %d windows of\n"
      ">= %.0f ms; if start and end differ by more than %.0f%%, or either measurement met competing work as\n"
      "above, every row of the run is disturbed. Fractions of ceilings (console, CSV, JSON) are against\n"
      "the start ceilings. A target verdict drawn from a disturbed row reads 'inconclusive (disturbed run)',\n"
      "never PASS or MISS.",
      q.max_spread, 100 * q.max_run_delay, q.max_preemptions_per_s, c.windows, 1e3 * c.min_window_s,
      100 * q.max_ceiling_change);
  return buf;
}

// The preset's paired ratios (bench_targets.hpp), each from the two cases of this
// sweep it names, 15 pairs; printed, recorded in the context, then written.
std::vector<PairedRatio> measure_paired_ratios(const Sweep& sweep, const std::vector<BenchCase>& cases,
                                               const TimingOptions& timing, RunRecord& record,
                                               const std::function<void()>& write) {
  constexpr int kPairs = 15;
  std::vector<PairedRatio> ratios;
  for (const PairedRatioSpec& spec : paired_ratio_specs(sweep.name)) {
    auto find = [&](const TargetRow& want) {
      return std::find_if(cases.begin(), cases.end(), [&](const BenchCase& c) { return same_case(want, c); });
    };
    const auto num = find(spec.numerator), den = find(spec.denominator);
    if (num == cases.end() || den == cases.end()) continue;  // filtered out of this run
    if (ratios.empty()) std::printf("\nratios measured in pairs (%d pairs, the two cases timed alternately):\n", kPairs);
    const PairedRatio r = measure_paired_ratio(spec.name, *num, *den, timing, kPairs);
    if (r.status == "ok")
      std::printf("  %-70s %7.3f  [p20 %.3f, p80 %.3f]  (%.2f / %.2f ms)\n", r.name.c_str(), r.median, r.p20, r.p80,
                  r.numerator_ms, r.denominator_ms);
    else
      std::printf("  %-70s %s: %s\n", r.name.c_str(), r.status.c_str(), r.message.c_str());
    ratios.push_back(r);
  }
  if (ratios.empty()) return ratios;
  record.paired_ratios = paired_ratios_json(ratios);
  write();
  return ratios;
}

}  // namespace

int run_bench(int argc, char** argv) {
  Cli cli("bench",
          "Times forms of variants over sequence lengths with Google Benchmark (manual time: wall clock on\n"
          "the CPU, CUDA events with the L2 flushed on the GPU), median / p20 / p80 over repetitions, and\n"
          "reads each time against the cost model (GFLOP/s, GB/s) and the copy-bandwidth and GEMM ceilings\n"
          "measured in the same run; cuda rows also carry roofline_ms, max(bytes / 4.3 TB/s, FLOPs / 790\n"
          "TFLOP/s) at nominal H200 rates: a bound, not a measurement (printed as 'bound').\n"
          "Writes RESULTS_DIR/NAME.json (Google Benchmark layout) and NAME.csv\n"
          "after every case. Decode mode: softmax attends one new token over a KV cache of T tokens;\n"
          "stateful rules take one step from a random state (its cost does not depend on T).\n"
          "Before a case allocates, its planned bytes (inputs, state or KV cache, workspace, outputs) are\n"
          "compared with the memory the process can get (MemAvailable, cgroup limit, free device memory,\n"
          "less a margin; --memory-limit lowers it): a case that cannot fit is recorded as oom with its\n"
          "planned_bytes, and the sweep goes on (--resume keeps it as done). Memory-bound cases and the copy\n"
          "ceiling are sized from the last-level cache (llc_bytes in the results context).\n\n"
          "presets:\n" + bench_preset_help() + "\n" + run_quality_help());
  declare_flags(cli);
  if (!cli.parse(argc, argv)) return 0;

  const std::string backend = resolve_backend(cli.str("backend"));
  const int64_t requested = cli.given("threads") ? positive(cli, "threads") : available_cores();
  if (requested > kMaxThreads)
    throw std::invalid_argument("--threads must be <= " + std::to_string(kMaxThreads) + ", got " +
                                std::to_string(requested));
  const int threads = int(requested);
  omp_set_num_threads(threads);
  QualityLimits quality;
  quality.attempts = int(positive(cli, "attempts"));
  const MemoryLimit memory_limit =
      cli.given("memory-limit") ? parse_memory_limit(cli.str("memory-limit")) : MemoryLimit{};
  StreamSizing sizing;
  sizing.llc_bytes = llc_bytes_for(backend);
  {
    const MemoryBudget start = current_budget(memory_limit, backend == "cuda");
    sizing.budget_bytes = backend == "cuda" ? start.device_bytes : start.host_bytes;
  }
  const Sweep sweep = build_sweep(cli, backend, sizing);
  std::vector<BenchCase> cases = expand_bench_cases(sweep);
  const std::regex filter = case_filter(cli.str("filter"));
  cases.erase(std::remove_if(cases.begin(), cases.end(),
                             [&](const BenchCase& c) { return !std::regex_search(c.label(), filter); }),
              cases.end());
  if (cases.empty()) throw std::invalid_argument("the sweep has no case (check --variants / --forms / --filter)");

  if (cli.on("list")) {
    for (std::size_t i = 0; i < cases.size(); ++i) std::printf("%4zu  %s\n", i + 1, cases[i].label().c_str());
    std::printf("%zu cases (%s, backend %s)\n", cases.size(), sweep.name.c_str(), backend.c_str());
    return 0;
  }

  TimingOptions timing;
  timing.repetitions = int(positive(cli, "repetitions"));
  timing.min_time_s = cli.number("min-time");
  if (!(timing.min_time_s > 0)) throw std::invalid_argument("--min-time must be > 0 seconds");
  timing.warmup_runs = int(cli.integer("warmup"));
  if (timing.warmup_runs < 0) throw std::invalid_argument("--warmup must be >= 0");
  timing.seed = uint64_t(cli.integer("seed"));
  const std::string ceiling_mode = cli.str("ceilings");
  if (ceiling_mode != "measure" && ceiling_mode != "skip")
    throw std::invalid_argument("--ceilings must be measure or skip");

  const std::string name = cli.given("out") ? cli.str("out") : sweep.name + "-" + backend;
  if (name.empty() || name.find('/') != std::string::npos)
    throw std::invalid_argument("--out must be a plain name (no '/'), got '" + name + "'");
  const MachineInfo machine = collect_machine_info(backend == "cuda");
  const std::string results_dir =
      cli.given("results-dir") ? cli.str("results-dir") : "results/" + machine_id(machine, backend);
  // Checked before the ceilings and the first case, so an unwritable directory
  // costs no measuring time (the results are written after every case).
  try {
    require_writable_directory(results_dir);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("--results-dir: ") + e.what());
  }
  ResultsStore store(results_dir, name);
  if (cli.on("resume")) store.load();

  RunRecord record;
  record.quality = quality;
  Ceilings& ceilings = record.start;
  ceilings.backend = backend;
  ceilings.gemm_method = ceilings.bandwidth_method = "skipped (--ceilings skip)";
  if (ceiling_mode == "measure") ceilings = measure_ceilings(backend, sweep.dtype, sizing);
  std::printf("dfwbench bench %s: %zu cases, backend %s, %s, commit %s, %d threads (%d cores available), "
              "OpenMP wait policy %s\n",
              sweep.name.c_str(), cases.size(), backend.c_str(),
              backend == "cuda" ? machine.gpu_name.c_str() : machine.cpu_model.c_str(), machine.commit.c_str(),
              machine.threads, available_cores(), omp_wait_policy().c_str());
  if (threads > available_cores())
    std::printf("warning: %d threads on %d available cores: the threads compete for cores; expect disturbed rows\n",
                threads, available_cores());
  if (ceiling_mode == "measure")
    std::printf("ceilings at the start: GEMM %.1f GFLOP/s (%s), bandwidth %.1f GB/s (%s)\n", ceilings.gflops,
                ceilings.gemm_method.c_str(), ceilings.gbps, ceilings.bandwidth_method.c_str());
  else
    std::printf("ceilings: skipped (--ceilings skip); fractions are left empty\n");
  if (const std::string busy = ceilings_disturbance(ceilings, ceilings, quality); !busy.empty())
    std::printf("warning: %s; this run's rows will be marked disturbed\n", busy.c_str());
  const auto& load = benchmark::CPUInfo::Get().load_avg;
  if (!load.empty() && load[0] > 0.5 * benchmark::CPUInfo::Get().num_cpus)
    std::printf("warning: load average %.2f on %d CPUs before the run: other work competes with the timed threads\n",
                load[0], benchmark::CPUInfo::Get().num_cpus);
  const std::string context = context_json(sweep, timing, machine, record, sizing);

  std::vector<std::string> order;
  for (const auto& c : cases) order.push_back(c.key());
  const auto start = Clock::now();
  std::size_t to_run = 0, ran = 0, errors = 0;
  std::vector<std::string> session_keys;  // cases run by this invocation
  for (const auto& c : cases) to_run += store.has(c.key()) ? 0 : 1;
  if (to_run < cases.size())
    std::cerr << "resume: " << cases.size() - to_run << " of " << cases.size() << " cases already in "
              << store.csv_path() << std::endl;

  for (std::size_t i = 0; i < cases.size(); ++i) {
    const BenchCase& c = cases[i];
    if (store.has(c.key())) continue;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::cerr << "case " << i + 1 << " of " << cases.size() << ": " << c.label() << "  (elapsed "
              << duration_text(elapsed);
    if (ran > 0) std::cerr << ", ETA " << duration_text(elapsed / double(ran) * double(to_run - ran));
    std::cerr << ")" << std::endl;

    // Out of memory is a result: a case planned past the budget allocates nothing.
    const MemoryPlan plan = plan_case_memory(c, machine.threads);
    const std::string shortfall = memory_shortfall(plan, current_budget(memory_limit, backend == "cuda"));
    CaseTiming t;
    std::string disturbed, retried;
    if (shortfall.empty()) {
      t = time_until_quiet(c, timing, quality, disturbed, retried);
    } else {
      t.status = "oom";
      t.message = t.note = shortfall;
    }
    Cost cost;
    const std::string form = t.form.empty() ? c.form : t.form;
    if (c.variant.defined())
      cost = is_backward(c.mode)
                 ? estimate_backward_cost(c.variant, form, c.shape, c.chunk, c.dtype, c.mode == BenchMode::training)
                 : estimate_cost(c.variant, form, run_mode(c.mode), c.shape, c.chunk, c.dtype);
    ResultRow row = make_row(c, t, cost, ceilings, machine, plan);
    if (backend == "cpu") row.threads = threads;
    add_note(row, retried);
    if (!disturbed.empty()) mark_disturbed(row, disturbed);
    store.put(row, json_entries(c, int64_t(i), t, row));
    store.write(order, context);
    print_case_line(row, c.label(), t.message);
    ++ran;
    errors += t.status == "error" ? 1 : 0;
    session_keys.push_back(c.key());
  }
  if (ceiling_mode == "measure" && ran > 0) {
    // The same ceilings at the end: a run whose machine changed under it (other
    // work came or went) is disturbed as a whole. Fractions stay against the
    // start ceilings, as printed for each case.
    record.end = measure_ceilings(backend, sweep.dtype, sizing);
    record.disturbed = ceilings_disturbance(record.start, record.end, quality);
    std::printf("ceilings at the end:   GEMM %.1f GFLOP/s, bandwidth %.1f GB/s (fractions stay against the start)\n",
                record.end.gflops, record.end.gbps);
    if (!record.disturbed.empty()) {
      std::printf("run disturbed: %s\nevery row of this run is marked disturbed; no verdict is drawn from it\n",
                  record.disturbed.c_str());
      for (ResultRow row : store.rows(session_keys)) {
        if (!listed(session_keys, row.key())) continue;
        mark_disturbed(row, record.disturbed);
        store.replace_row(row);
      }
    }
    store.write(order, context_json(sweep, timing, machine, record, sizing));
  }
  if (to_run == 0) store.write(order, context);  // nothing left: refresh the context only
  std::printf("wrote %s and %s (%zu rows)\n", store.csv_path().c_str(), store.json_path().c_str(), store.size());

  const auto write_context = [&] { store.write(order, context_json(sweep, timing, machine, record, sizing)); };
  std::vector<TargetResult> targets;
  const bool judged = sweep.name == "cpu-targets" || sweep.name == "gpu-targets";
  const char* which = sweep.name == "gpu-targets" ? "GPU" : "CPU";
  if (judged) {
    // The verdicts go into the results file's context too, for the report.
    // Only this invocation's rows: those --resume kept were timed in another run.
    targets = evaluate_targets(sweep.name, store.rows(order), session_keys);
    record.targets = targets_json(targets);
    write_context();
    std::printf("\n%s targets (ratios from this results file, ceilings measured in the run):\n%s", which,
                format_targets(targets).c_str());
  }
  if (ran == 0) return errors ? 1 : 0;
  const std::vector<PairedRatio> pairs = measure_paired_ratios(sweep, cases, timing, record, write_context);
  if (judged && !pairs.empty()) {
    // Time ratios judged again from the pairs, which drift between rows cannot move.
    judge_from_pairs(targets, pairs, record.quality.max_spread, sweep.name);
    record.targets = targets_json(targets);
    write_context();
    std::printf("\n%s targets, the time ratios from the pairs:\n%s", which, format_targets(targets).c_str());
  }
  return errors ? 1 : 0;
}

}  // namespace dfw
