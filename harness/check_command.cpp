// dfwbench check: every supported (variant, form, backend, dtype) against the
// float64 reference on odd shapes, gate edge sets, an initial state and a
// decode step; with --pass bwd (or all, the default) every backward form's
// gradients against the float64 reference gradient as well. One table, exit 1 on
// any FAIL, exit 2 when no case ran.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "accuracy.hpp"
#include "atomic_file.hpp"
#include "backward_impl.hpp"
#include "check_cases.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "impl.hpp"
#include "machine_info.hpp"
#include "parse_number.hpp"

namespace dfw {
namespace {

// A row's form/backend/dtype; the emulated device's rows say so (cuda-emu results are
// never a GPU's).
std::string row_impl_label(const std::string& form, const FormKey& key) {
  const std::string backend = key.backend == "cuda" && cuda_device_emulated() ? "cuda-emu" : key.backend;
  return form + "/" + backend + "/" + key.dtype;
}

// The chunk lengths as a form (Impl or BackwardImpl) computes with them, each once, in order.
template <class Form>
std::vector<int64_t> distinct_chunks(const std::vector<int64_t>& chunks, const Form& form) {
  std::vector<int64_t> out;
  for (int64_t c : chunks)
    if (const int64_t e = form.effective_chunk(c); std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
  return out;
}

struct Row {
  std::string variant, impl, shape, inputs, status, note;
  CaseErrors err;
};

std::string fmt_err(double e) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", e);
  return buf;
}

void print_row(const Row& r) {
  std::printf("%-34s %-20s %-26s %-14s %-9s %-9s %-9s %s%s\n", r.variant.c_str(), r.impl.c_str(), r.shape.c_str(),
              r.inputs.c_str(), r.status == "UNSUPPORTED" ? "-" : fmt_err(r.err.y.rel_l2).c_str(),
              r.status == "UNSUPPORTED" ? "-" : fmt_err(r.err.y.max_abs).c_str(),
              r.status == "UNSUPPORTED" || r.err.state.rel_l2 == 0 ? "-" : fmt_err(r.err.state.rel_l2).c_str(),
              r.status.c_str(), r.note.empty() ? "" : ("  " + r.note).c_str());
}

// What --filter matches: the row's name as printed, space-separated.
std::string row_name(const Row& r) { return r.variant + " " + r.impl + " " + r.shape + " " + r.inputs; }

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

int run_check(int argc, char** argv) {
  Cli cli("check",
          "Runs every supported (variant, form, backend, dtype) against the float64 reference on\n"
          "odd shapes (T = 1, 7, 97, 1025; dv != m; odd B*H), gate edge sets (ones, 1e-6, abrupt\n"
          "switches), a random initial state and a decode step. Limits (relative L2): fp32 1e-4,\n"
          "fp16 5e-3, bf16 2e-2; max-abs error over max |ref| at 10x those. Exit 1 on any FAIL,\n"
          "2 when the selection runs no case (every one UNSUPPORTED). Backward rows (form '<form>-bwd',\n"
          "on the whole-sequence cases) compare the gradients of L = sum(y * dy) with respect to\n"
          "every input with the float64 reference gradient, under the same limits for each tensor;\n"
          "the row shows the worst tensor.");
  cli.option("variants", "all",
             "';'-separated list of presets / spec strings (spec strings contain commas; a list of\n"
             "presets alone may use ','); 'all' = presets + every rule x map combination");
  cli.option("forms", "all", "','-separated list of forms to check (recurrent, chunked, blocked, decode, cudnn)");
  cli.option("backend", "auto", "cpu, cuda, or auto (every backend built; CUDA forms UNSUPPORTED without a device)");
  cli.option("chunks", "16,64,256",
             "chunk lengths for chunked forms (and checkpoint lengths of backward forms); a form that caps the "
             "length (the CPU chunked forms: 16) runs each capped length once");
  cli.option("pass", "all", "fwd (forward forms), bwd (backward forms) or all");
  cli.option("seed", "1234", "seed of the generated inputs");
  cli.option("out", "", "also write the rows as CSV to this file");
  cli.option("filter", "",
             "only the rows whose name matches this regular expression (ECMAScript, anywhere in the\n"
             "name); a row's name is its variant, form/backend/dtype, shape and inputs as printed,\n"
             "space-separated, e.g. 'ssd chunked/cpu/fp32 B=3 H=1 T=97 dk=32 dv=24 uniform C=16'");
  cli.flag("quick", "only the two smallest shapes and no edge sets");
  cli.flag("long", "also long multi-chunk sequences: T = 1025 at d = m = 64 and T = 4097 at d = m = 128, each\n"
                   "with every gate set the variant takes (minutes per variant on the emulated device)");
  cli.flag("no-distance", "skip the informational distance of each preset to exact softmax");
  if (!cli.parse(argc, argv)) return 0;

  const std::string backend = cli.str("backend");
  if (backend != "cpu" && backend != "cuda" && backend != "auto")
    throw std::invalid_argument("--backend must be cpu, cuda or auto");
  if (backend == "cuda" && !cuda_unavailable_reason().empty())
    throw std::runtime_error("--backend cuda: " + cuda_unavailable_reason());
  std::vector<int64_t> chunks;
  for (const auto& c : split_list(cli.str("chunks"))) {
    const auto v = parse_integer(c);
    if (!v || *v < 1) throw std::invalid_argument("--chunks entries must be integers >= 1, got '" + c + "'");
    chunks.push_back(*v);
  }
  const auto variants = select_variants(cli.str("variants"));
  const auto forms = split_list(cli.str("forms"));
  auto form_selected = [&](const std::string& f) {
    if (f == "reference") return false;
    if (forms.size() == 1 && forms[0] == "all") return true;
    for (const auto& x : forms) if (x == f) return true;
    return false;
  };
  if (!(forms.size() == 1 && forms[0] == "all"))
    for (const auto& f : forms)
      if (f != "recurrent" && f != "chunked" && f != "blocked" && f != "decode" && f != "cudnn")
        throw std::invalid_argument("unknown form '" + f + "' (recurrent, chunked, blocked, decode, cudnn)");
  const std::string pass_sel = cli.str("pass");
  if (pass_sel != "fwd" && pass_sel != "bwd" && pass_sel != "all")
    throw std::invalid_argument("--pass must be fwd, bwd or all, got '" + pass_sel + "'");
  const bool want_fwd = pass_sel != "bwd", want_bwd = pass_sel != "fwd";
  const std::regex filter = case_filter(cli.str("filter"));
  const uint64_t seed = uint64_t(cli.integer("seed"));
  if (cli.on("quick") && cli.on("long")) throw std::invalid_argument("--quick and --long exclude each other");
  const auto cases = expand_check_cases(variants, cli.on("quick"), seed, cli.on("long"));

  std::printf("%-34s %-20s %-26s %-14s %-9s %-9s %-9s %s\n", "variant", "form/backend/dtype", "shape", "inputs",
              "relL2(y)", "maxabs(y)", "relL2(S)", "status");
  std::vector<Row> rows;
  int pass = 0, fail = 0, unsupported = 0;
  // One UNSUPPORTED row per (variant, implementation), on the variant's first case.
  auto report_unsupported = [&](const CheckCase& c, Row row, const std::string& reason) {
    if (!c.first_of_variant || !std::regex_search(row_name(row), filter)) return;
    row.shape = row.inputs = "-";
    row.status = "UNSUPPORTED";
    row.note = reason;
    ++unsupported;
    print_row(row);
    rows.push_back(row);
  };
  auto record = [&](const Row& r) {  // a checked row: PASS or FAIL
    (r.status == "PASS" ? pass : fail) += 1;
    print_row(r);
    rows.push_back(r);
  };
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t ci = 0; ci < cases.size(); ++ci) {
    const CheckCase& c = cases[ci];
    if (ci % 25 == 0)
      std::fprintf(stderr, "[check] case %zu of %zu (%.0f s)\n", ci + 1, cases.size(),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    Problem problem;
    Output ref;
    bool have_ref = false;
    std::map<std::string, Output> rounded_refs;  // dtype -> reference of its rounded q, k, v
    for (const Impl* impl : all_impls()) {
      const FormKey key = impl->key();
      if (!want_fwd || !form_selected(key.form)) continue;
      if (backend != "auto" && key.backend != backend) continue;
      Row row{c.variant.name, row_impl_label(key.form, key), c.shape.str(), c.inputs, "", "", {}};
      if (const std::string reason = impl->unsupported_reason(c.variant, c.mode); !reason.empty()) {
        report_unsupported(c, row, reason);
        continue;
      }
      if (!have_ref) {
        problem = make_check_problem(c);
        ref = run_once(*find_impl("reference", "cpu", "fp64"), c.variant, problem, {c.mode, 64});
        have_ref = true;
      }
      if (const std::string range = dtype_range_problem(key.dtype, ref.y); !range.empty()) {
        // Beyond the dtype, not the kernel: its own status, never a pass or a failure.
        row.status = "UNSUPPORTED";
        row.note = range;
        ++unsupported;
        print_row(row);
        rows.push_back(row);
        continue;
      }
      const std::vector<int64_t> sizes =
          key.form == "chunked" ? distinct_chunks(chunks, *impl) : std::vector<int64_t>{64};
      for (int64_t chunk : sizes) {
        Row r = row;
        if (key.form == "chunked") r.inputs += " C=" + std::to_string(chunk);
        if (!std::regex_search(row_name(r), filter)) continue;
        try {
          const bool rounded = compares_on_rounded_inputs(c.variant, key.dtype);
          if (rounded && !rounded_refs.count(key.dtype))
            rounded_refs[key.dtype] = run_once(*find_impl("reference", "cpu", "fp64"), c.variant,
                                               with_qkv_rounded_to(problem, key.dtype), {c.mode, 64});
          r.err = compare_outputs(run_once(*impl, c.variant, problem, {c.mode, chunk}),
                                  rounded ? rounded_refs[key.dtype] : ref);
          const double f = c.variant.tolerance_factor();
          const bool ok = within_limits(r.err, key.dtype, f);
          r.note = c.variant.tolerance_reason();
          if (rounded) r.note += "; reference of the " + key.dtype + "-rounded q, k, v";
          r.status = ok ? "PASS" : "FAIL";
          if (!r.err.finite()) r.note = "NaN or Inf in the output";
          if (!ok && r.err.finite()) r.note = "over the limit " + fmt_err(f * rel_l2_limit(key.dtype));
        } catch (const std::exception& e) {
          r.status = "FAIL";
          r.note = e.what();
        }
        record(r);
      }
    }
    if (want_bwd && c.mode == Mode::sequence) {
      std::vector<float> dy;
      Gradients ref_grad;
      bool have_ref_grad = false;
      for (const BackwardImpl* impl : all_backward_impls()) {
        const FormKey key = impl->key();
        if (!form_selected(key.form)) continue;
        if (backend != "auto" && key.backend != backend) continue;
        Row row{c.variant.name, row_impl_label(key.form + "-bwd", key), c.shape.str(), c.inputs, "", "", {}};
        if (const std::string reason = impl->unsupported_reason(c.variant); !reason.empty()) {
          report_unsupported(c, row, reason);
          continue;
        }
        const std::vector<int64_t> sizes =
            impl->takes_chunk() ? distinct_chunks(chunks, *impl) : std::vector<int64_t>{64};
        for (int64_t chunk : sizes) {
          Row r = row;
          if (impl->takes_chunk()) r.inputs += " C=" + std::to_string(chunk);
          if (!std::regex_search(row_name(r), filter)) continue;
          try {
            if (!have_ref_grad) {
              if (!have_ref) {
                problem = make_check_problem(c);
                have_ref = true;
              }
              dy = generate_dy(problem, seed);
              auto ref_case = find_backward_impl("reference", "cpu", "fp64")->prepare(c.variant, problem, dy, {});
              ref_case->run();
              ref_grad = ref_case->gradients();
              have_ref_grad = true;
            }
            auto prepared = impl->prepare(c.variant, problem, dy, {Mode::sequence, chunk});
            prepared->run();
            const GradientErrors g = compare_gradients(prepared->gradients(), ref_grad);
            r.err.y = g.worst;  // scaled by each tensor's factor
            const double f = c.variant.tolerance_factor();
            const bool ok = g.worst.finite && g.worst.rel_l2 <= f * rel_l2_limit(key.dtype) &&
                            g.worst.max_abs <= f * max_abs_limit(key.dtype);
            r.status = ok ? "PASS" : "FAIL";
            r.note = "worst d" + g.worst_tensor;
            if (g.worst_factor > 1.01) {
              char buf[160];
              std::snprintf(buf, sizeof buf, " (error / %.3g: its terms cancel that much in the reference)",
                            g.worst_factor);
              r.note += buf;
            }
            if (!c.variant.tolerance_reason().empty()) r.note += "; " + c.variant.tolerance_reason();
            if (!g.same_tensors) r.note = "the form returned other gradient tensors than the reference";
            else if (!g.worst.finite) r.note = "NaN or Inf in d" + g.worst_tensor;
            else if (!ok) r.note += ": over the limit " + fmt_err(f * rel_l2_limit(key.dtype));
          } catch (const std::exception& e) {
            r.status = "FAIL";
            r.note = e.what();
          }
          record(r);
        }
      }
    }
  }
  std::printf("\ncheck: %d passed, %d failed, %d unsupported\n", pass, fail, unsupported);

  if (!cli.str("out").empty()) {
    std::ostringstream csv;
    const MachineInfo info = collect_machine_info(backend != "cpu" && cuda_unavailable_reason().empty());
    csv << "variant,impl,form,backend,dtype,shape,inputs,rel_l2_y,max_abs_y,rel_l2_state,status,note,machine,commit\n";
    for (const Row& r : rows) {
      const auto parts = split_list(r.impl, '/');
      csv << csv_quote(r.variant) << "," << r.impl << "," << parts[0] << "," << parts[1] << "," << parts[2] << ","
          << r.shape << "," << csv_quote(r.inputs) << "," << r.err.y.rel_l2 << "," << r.err.y.max_abs << ","
          << r.err.state.rel_l2 << "," << r.status << "," << csv_quote(r.note) << ","
          << csv_quote(parts[1] != "cpu" ? info.gpu_name : info.cpu_model) << "," << info.commit << "\n";
    }
    write_file_atomically(cli.str("out"), csv.str());
    std::fprintf(stderr, "[check] wrote %s\n", cli.str("out").c_str());
  }
  // A selection where nothing ran proves nothing: say so instead of passing.
  if (pass + fail == 0)
    throw std::invalid_argument("no case ran: every selected (variant, form, backend) is UNSUPPORTED (reasons in "
                                "the table above); choose other --variants, --forms or --backend");
  if (!cli.on("no-distance")) print_softmax_distances(seed);
  return fail == 0 ? 0 : 1;
}

}  // namespace dfw
