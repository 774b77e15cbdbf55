// One tidy result row: the CSV columns the plotting and report scripts read,
// typed, with conversion to and from a CSV line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfw {

// The CSV header, exactly (scripts depend on the names and the order).
const std::vector<std::string>& results_csv_columns();
std::string results_csv_header();  // the columns joined by ',' (no newline)

// How the note of a row whose form was picked by `--forms best` starts
// (form_probe.hpp): "best of recurrent 5.18 ms, chunked 40.9 ms (probe 0.2 s)".
constexpr const char* kProbeNotePrefix = "best of ";
bool picked_by_probe(const std::string& note);

struct ResultRow {
  std::string preset, variant, spec, form, backend, dtype, mode;
  int64_t B = 0, H = 0, T = 0, dk = 0, dv = 0, m = 0, chunk = 0;
  std::string status;  // ok | oom | unsupported | error
  // Timing (ok rows only; 0 otherwise, written as empty cells).
  double time_median_ms = 0, time_p20_ms = 0, time_p80_ms = 0;
  int64_t repetitions = 0;
  double tokens_per_s = 0;
  double flops = 0, bytes = 0;  // cost model of one run
  double gflops = 0, gbps = 0;  // achieved at the median time
  double ceiling_gflops = 0, ceiling_gbps = 0;
  double frac_flops_ceiling = 0, frac_bw_ceiling = 0;
  double peak_host_bytes = 0, peak_device_bytes = 0, state_bytes = 0;
  std::string machine, commit;
  // Run quality and planning (appended columns).
  int64_t threads = 0;        // CPU threads the case ran with (0: not recorded / GPU)
  bool disturbed = false;     // the run's noise checks failed: no verdict may use this row
  double planned_bytes = 0;   // memory the case planned to allocate (an oom row says why)
  std::string note;           // free text: why a form was picked, why a row is oom or disturbed
  std::string gates = "uniform";  // the generator's gate set (generator.hpp) the inputs were drawn with
  double roofline_ms = 0;     // cuda rows: the nominal H200 bound (roofline.hpp), not a measurement; else 0 (empty)

  // The same identity as BenchCase::key(). A row whose form the best-form probe
  // picked (its note starts with kProbeNotePrefix) is the case "best", chunk 0.
  std::string key() const;
  std::string to_csv_line() const;  // no newline; fields quoted where needed
};

// Parses one data line of a file with results_csv_header(); throws
// std::invalid_argument naming the line on a wrong field count or a bad number.
ResultRow parse_result_row(const std::string& line, int64_t line_number);

// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
std::vector<std::string> split_csv_line(const std::string& line);
std::string csv_field(const std::string& s);  // quoted when it holds , or "

}  // namespace dfw
