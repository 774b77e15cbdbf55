// ResultRow <-> CSV line (results_row.hpp).
#include "results_row.hpp"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "parse_number.hpp"

namespace dfw {
namespace {

// A measured quantity: empty cell when absent (0).
std::string num(double v, const char* fmt = "%.9g") {
  if (v == 0) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// A count that is meaningful at 0 too (bytes, flops).
std::string count(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

double to_double(const std::string& s, const std::string& column, int64_t line) {
  if (s.empty()) return 0;
  const auto v = parse_real(s);
  if (!v)
    throw std::invalid_argument("results CSV line " + std::to_string(line) + ": column " + column + " holds '" + s +
                                "', not a number");
  return *v;
}

}  // namespace

const std::vector<std::string>& results_csv_columns() {
  static const std::vector<std::string> cols = {
      "preset", "variant", "spec", "form", "backend", "dtype", "mode", "B", "H", "T", "dk", "dv", "m", "chunk",
      "status", "time_median_ms", "time_p20_ms", "time_p80_ms", "repetitions", "tokens_per_s", "flops", "bytes",
      "gflops", "gbps", "ceiling_gflops", "ceiling_gbps", "frac_flops_ceiling", "frac_bw_ceiling",
      "peak_host_bytes", "peak_device_bytes", "state_bytes", "machine", "commit", "threads", "disturbed", "planned_bytes", "note",
      "gates", "roofline_ms"};
  return cols;
}

std::string results_csv_header() {
  std::string out;
  for (const auto& c : results_csv_columns()) out += (out.empty() ? "" : ",") + c;
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c == '\n' ? ' ' : c);
  return out + "\"";
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool picked_by_probe(const std::string& note) { return note.rfind(kProbeNotePrefix, 0) == 0; }

std::string ResultRow::key() const {
  const bool best = picked_by_probe(note);
  std::ostringstream os;
  os << variant << '|' << spec << '|' << (best ? "best" : form) << '|' << backend << '|' << dtype << '|' << mode << '|'
     << B << '|' << H << '|' << T << '|' << dk << '|' << dv << '|' << m << '|' << (best ? 0 : chunk) << '|' << gates;
  return os.str();
}

std::string ResultRow::to_csv_line() const {
  const std::vector<std::string> f = {
      preset, variant, spec, form, backend, dtype, mode, std::to_string(B), std::to_string(H), std::to_string(T),
      std::to_string(dk), std::to_string(dv), std::to_string(m), std::to_string(chunk), status,
      num(time_median_ms), num(time_p20_ms), num(time_p80_ms), repetitions ? std::to_string(repetitions) : "",
      num(tokens_per_s), count(flops), count(bytes), num(gflops), num(gbps), num(ceiling_gflops), num(ceiling_gbps),
      num(frac_flops_ceiling, "%.6g"), num(frac_bw_ceiling, "%.6g"), count(peak_host_bytes),
      count(peak_device_bytes), count(state_bytes), machine, commit, threads ? std::to_string(threads) : "",
      disturbed ? "1" : "0", count(planned_bytes), note, gates, num(roofline_ms)};
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) out += (i ? "," : "") + csv_field(f[i]);
  return out;
}

ResultRow parse_result_row(const std::string& line, int64_t line_number) {
  const auto f = split_csv_line(line);
  const auto& cols = results_csv_columns();
  if (f.size() != cols.size())
    throw std::invalid_argument("results CSV line " + std::to_string(line_number) + ": " + std::to_string(f.size()) +
                                " fields, expected " + std::to_string(cols.size()));
  std::size_t i = 0;
  auto s = [&]() { return f[i++]; };
  auto d = [&]() {
    const double v = to_double(f[i], cols[i], line_number);
    ++i;
    return v;
  };
  auto n = [&]() { return int64_t(d()); };
  ResultRow r;
  r.preset = s(); r.variant = s(); r.spec = s(); r.form = s(); r.backend = s(); r.dtype = s(); r.mode = s();
  r.B = n(); r.H = n(); r.T = n(); r.dk = n(); r.dv = n(); r.m = n(); r.chunk = n();
  r.status = s();
  r.time_median_ms = d(); r.time_p20_ms = d(); r.time_p80_ms = d();
  r.repetitions = n();
  r.tokens_per_s = d(); r.flops = d(); r.bytes = d(); r.gflops = d(); r.gbps = d();
  r.ceiling_gflops = d(); r.ceiling_gbps = d(); r.frac_flops_ceiling = d(); r.frac_bw_ceiling = d();
  r.peak_host_bytes = d(); r.peak_device_bytes = d(); r.state_bytes = d();
  r.machine = s(); r.commit = s();
  r.threads = n();
  const std::string disturbed = s();
  if (disturbed != "0" && disturbed != "1")
    throw std::invalid_argument("results CSV line " + std::to_string(line_number) + ": disturbed must be 0 or 1, got '" +
                                disturbed + "'");
  r.disturbed = disturbed == "1";
  r.planned_bytes = d();
  r.note = s();
  r.gates = s();
  r.roofline_ms = d();
  if (r.status != "ok" && r.status != "oom" && r.status != "unsupported" && r.status != "error")
    throw std::invalid_argument("results CSV line " + std::to_string(line_number) + ": unknown status '" + r.status +
                                "'");
  return r;
}

}  // namespace dfw
