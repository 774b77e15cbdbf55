// dfwbench bench: the one timing harness every variant, form and backend runs
// through. A preset or flags expand into cases (bench_cases.hpp); each case is
// timed with Google Benchmark (bench_runner.hpp), read against the cost model and
// the ceilings measured in the same run, and results/NAME.{json,csv} are
// rewritten atomically after every case (results_store.hpp), so --resume can
// finish a sweep that was interrupted.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "atomic_file.hpp"
#include "bench_cases.hpp"
#include "bench_runner.hpp"
#include "bench_targets.hpp"
#include "ceilings.hpp"
#include "check_cases.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "cost_model.hpp"
#include "machine_info.hpp"
#include "results_json.hpp"
#include "results_store.hpp"

namespace dfw {
namespace {

using Clock = std::chrono::steady_clock;

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
  cli.option("forms", "best", "recurrent, chunked, blocked, decode; best = fastest form per variant and mode");
  cli.option("backend", "auto", "cpu, cuda, or auto (cuda when a device is usable, else cpu)");
  cli.option("mode", "prefill", "prefill (T = sequence length) or decode (T = context length); not with --preset");
  cli.option("seqlens", "128:1920:128", "FIRST:LAST:STEP (inclusive), FIRST:LAST:xFACTOR, or a list 128,256");
  cli.option("batch", "32", "batch size B");
  cli.option("heads", "1", "heads H");
  cli.option("dk", "64", "query/key width");
  cli.option("dv", "64", "value width");
  cli.option("m", "", "feature width of relu_proj / favor (other maps: must equal their fixed width)");
  cli.option("dtype", "", "fp32, fp16 or bf16 (default: fp16 on cuda, fp32 on cpu)");
  cli.option("chunk", "64", "chunk length of the chunked form");
  cli.option("repetitions", "5", "timed repetitions per case (median, p20, p80 over them)");
  cli.option("min-time", "0.05", "minimum seconds per repetition (short runs are iterated)");
  cli.option("warmup", "1", "untimed runs after prepare");
  cli.option("seed", "1234", "seed of the generated inputs");
  cli.option("out", "", "writes RESULTS_DIR/NAME.json, NAME.csv (default PRESET-BACKEND or custom-BACKEND)");
  cli.option("results-dir", "results", "directory of the results files");
  cli.option("ceilings", "measure", "measure (copy bandwidth, GEMM rate in this run) or skip");
  cli.flag("resume", "keep the cases already in NAME.csv / NAME.json, run the missing ones");
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
Sweep build_sweep(const Cli& cli, const std::string& backend) {
  Sweep sweep;
  const bool preset = cli.given("preset");
  if (preset) {
    if (cli.given("mode")) throw std::invalid_argument("--mode: the preset fixes the mode; drop --preset or --mode");
    sweep = preset_sweep(cli.str("preset"), backend);
  } else {
    sweep.name = "custom";
    sweep.backend = backend;
    sweep.dtype = backend == "cuda" ? "fp16" : "fp32";
    SweepGroup g;
    g.mode = parse_bench_mode(cli.str("mode"));
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
    if (!listed({"best", "recurrent", "chunked", "blocked", "decode", "reference"}, f))
      throw std::invalid_argument("--forms: unknown form '" + f + "' (recurrent, chunked, blocked, decode, best)");
  for (SweepGroup& g : sweep.groups) {
    if (!preset) {
      for (const Variant& v : variants)
        for (const auto& f : forms)
          g.runs.emplace_back(v, f == "best" ? best_form(v, g.mode, backend, sweep.dtype) : f);
    } else {
      std::vector<std::pair<Variant, std::string>> kept;
      for (auto& run : g.runs) {
        bool variant_ok = !cli.given("variants");
        for (const Variant& v : variants) variant_ok = variant_ok || v.spec() == run.first.spec();
        const bool form_ok = !cli.given("forms") || listed(forms, run.second) ||
                             (listed(forms, "best") && run.second == best_form(run.first, g.mode, backend, sweep.dtype));
        if (variant_ok && form_ok) kept.push_back(std::move(run));
      }
      g.runs = std::move(kept);
    }
    if (cli.given("m"))
      for (auto& run : g.runs) apply_feature_width(run.first, positive(cli, "m"), g.shapes);
  }
  return sweep;
}

Ceilings measure_ceilings(const std::string& backend, const std::string& dtype) {
  std::cerr << "measuring " << backend << " ceilings (copy bandwidth, GEMM rate) ..." << std::endl;
  return backend == "cuda" ? measure_cuda_ceilings(dtype) : measure_cpu_ceilings();
}

std::string ceilings_json(const Ceilings& c) {
  JsonObject o;
  o.add("backend", c.backend).add("threads", c.threads).add("gemm_gflops", c.gflops);
  if (c.backend == "cpu") o.add("gemm_gflops_single_thread", c.gflops_single);
  o.add("bandwidth_gbps", c.gbps).add("gemm_method", c.gemm_method).add("bandwidth_method", c.bandwidth_method);
  return o.str(6);
}

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
// targets: a JSON array of the CPU target verdicts, or "" for none.
std::string context_json(const Sweep& sweep, const TimingOptions& timing, const MachineInfo& mi, const Ceilings& c,
                         const std::string& targets = "") {
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
      .add("threads", mi.threads);
  if (sweep.backend == "cuda") o.add("gpu_name", mi.gpu_name).add("gpu_driver", mi.gpu_driver).add("gpu_clocks", mi.gpu_clocks);
  o.add_raw("ceilings", ceilings_json(c)).add_raw("timing", t.str(6));
  if (!targets.empty()) o.add_raw("cpu_targets", targets);
  return o.str(4);
}

ResultRow make_row(const BenchCase& c, const CaseTiming& t, const Cost& cost, const Ceilings& ceil,
                   const MachineInfo& mi) {
  ResultRow r;
  r.preset = c.preset;
  r.variant = c.variant.name;
  r.spec = c.variant.spec();
  r.form = c.form;
  r.backend = c.backend;
  r.dtype = c.dtype;
  r.mode = bench_mode_name(c.mode);
  r.B = c.shape.B;
  r.H = c.shape.H;
  r.T = c.shape.T;
  r.dk = c.shape.dk;
  r.dv = c.shape.dv;
  r.m = c.m;
  r.chunk = c.chunk;
  r.status = t.status;
  r.flops = cost.flops;
  r.bytes = cost.bytes;
  r.state_bytes = cost.state_bytes;
  r.ceiling_gflops = ceil.gflops;
  r.ceiling_gbps = ceil.gbps;
  r.machine = c.backend == "cuda" ? mi.gpu_name : mi.cpu_model;
  r.commit = mi.commit;
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
      .add("machine", r.machine).add("commit", r.commit);
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
    out.push_back(o.str());
  }
  return out;
}

void print_case_line(const ResultRow& r, const std::string& label, const std::string& message) {
  char buf[512];
  if (r.status == "ok")
    std::snprintf(buf, sizeof buf, "%-72s ok  %10.4f ms [%.4f, %.4f]  %9.2f GFLOP/s (%5.1f%%)  %8.2f GB/s (%5.1f%%)",
                  label.c_str(), r.time_median_ms, r.time_p20_ms, r.time_p80_ms, r.gflops,
                  100 * r.frac_flops_ceiling, r.gbps, 100 * r.frac_bw_ceiling);
  else
    std::snprintf(buf, sizeof buf, "%-72s %s: %s", label.c_str(), r.status.c_str(), message.c_str());
  std::cout << buf << std::endl;
}

}  // namespace

int run_bench(int argc, char** argv) {
  Cli cli("bench",
          "Times forms of variants over sequence lengths with Google Benchmark (manual time: wall clock on\n"
          "the CPU, CUDA events with the L2 flushed on the GPU), median / p20 / p80 over repetitions, and\n"
          "reads each time against the cost model (GFLOP/s, GB/s) and the copy-bandwidth and GEMM ceilings\n"
          "measured in the same run. Writes RESULTS_DIR/NAME.json (Google Benchmark layout) and NAME.csv\n"
          "after every case. Decode mode: softmax attends one new token over a KV cache of T tokens;\n"
          "stateful rules take one step from a random state (its cost does not depend on T).\n\n"
          "presets:\n" + bench_preset_help().substr(0, bench_preset_help().size() - 1));
  declare_flags(cli);
  if (!cli.parse(argc, argv)) return 0;

  const std::string backend = resolve_backend(cli.str("backend"));
  const Sweep sweep = build_sweep(cli, backend);
  const auto cases = expand_bench_cases(sweep);
  if (cases.empty()) throw std::invalid_argument("the sweep has no case (check --variants / --forms)");

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
  // Checked before the ceilings and the first case, so an unwritable directory
  // costs no measuring time (the results are written after every case).
  try {
    require_writable_directory(cli.str("results-dir"));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("--results-dir: ") + e.what());
  }
  ResultsStore store(cli.str("results-dir"), name);
  if (cli.on("resume")) store.load();

  const MachineInfo machine = collect_machine_info(backend == "cuda");
  Ceilings ceilings;
  ceilings.backend = backend;
  ceilings.gemm_method = ceilings.bandwidth_method = "skipped (--ceilings skip)";
  if (ceiling_mode == "measure") ceilings = measure_ceilings(backend, sweep.dtype);
  std::printf("dfwbench bench %s: %zu cases, backend %s, %s, commit %s, %d threads\n", sweep.name.c_str(), cases.size(),
              backend.c_str(), backend == "cuda" ? machine.gpu_name.c_str() : machine.cpu_model.c_str(),
              machine.commit.c_str(), machine.threads);
  if (ceiling_mode == "measure")
    std::printf("ceilings: GEMM %.1f GFLOP/s (%s), bandwidth %.1f GB/s (%s)\n", ceilings.gflops,
                ceilings.gemm_method.c_str(), ceilings.gbps, ceilings.bandwidth_method.c_str());
  else
    std::printf("ceilings: skipped (--ceilings skip); fractions are left empty\n");
  const auto& load = benchmark::CPUInfo::Get().load_avg;
  if (!load.empty() && load[0] > 0.5 * benchmark::CPUInfo::Get().num_cpus)
    std::printf("warning: load average %.2f on %d CPUs before the run: other work competes with the timed threads\n",
                load[0], benchmark::CPUInfo::Get().num_cpus);
  const std::string context = context_json(sweep, timing, machine, ceilings);

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

    const CaseTiming t = time_case(c, timing);
    Cost cost;
    if (c.variant.defined()) cost = estimate_cost(c.variant, c.form, run_mode(c.mode), c.shape, c.chunk, c.dtype);
    const ResultRow row = make_row(c, t, cost, ceilings, machine);
    store.put(row, json_entries(c, int64_t(i), t, row));
    store.write(order, context);
    print_case_line(row, c.label(), t.message);
    ++ran;
    errors += t.status == "error" ? 1 : 0;
    session_keys.push_back(c.key());
  }
  if (ceiling_mode == "measure" && ran > 0) {
    // Other load on the machine can depress one measurement: keep the best of the
    // start and the end of the run, and restate this run's rows against it.
    const Ceilings again = measure_ceilings(backend, sweep.dtype);
    if (again.gflops > ceilings.gflops || again.gbps > ceilings.gbps) {
      ceilings.gflops = std::max(ceilings.gflops, again.gflops);
      ceilings.gflops_single = std::max(ceilings.gflops_single, again.gflops_single);
      ceilings.gbps = std::max(ceilings.gbps, again.gbps);
      ceilings.gemm_method += "; best of the start and the end of the run";
      ceilings.bandwidth_method += "; best of the start and the end of the run";
      for (ResultRow row : store.rows(session_keys)) {
        if (!listed(session_keys, row.key())) continue;
        row.ceiling_gflops = ceilings.gflops;
        row.ceiling_gbps = ceilings.gbps;
        row.frac_flops_ceiling = fraction_of(row.gflops, ceilings.gflops);
        row.frac_bw_ceiling = fraction_of(row.gbps, ceilings.gbps);
        store.replace_row(row);
      }
      std::printf("ceilings at the end of the run: GEMM %.1f GFLOP/s, bandwidth %.1f GB/s (rows restated)\n",
                  again.gflops, again.gbps);
    }
    store.write(order, context_json(sweep, timing, machine, ceilings));
  }
  if (to_run == 0) store.write(order, context);  // nothing left: refresh the context only
  std::printf("wrote %s and %s (%zu rows)\n", store.csv_path().c_str(), store.json_path().c_str(), store.size());

  if (sweep.name == "cpu-targets") {
    // The verdicts go into the results file's context too, for the report.
    const std::vector<TargetResult> targets = evaluate_cpu_targets(store.rows(order));
    store.write(order, context_json(sweep, timing, machine, ceilings, targets_json(targets)));
    std::printf("\nCPU targets (ratios from this results file, ceilings measured in the run):\n%s",
                format_targets(targets).c_str());
  }
  return errors ? 1 : 0;
}

}  // namespace dfw
