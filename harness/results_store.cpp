// ResultsStore: load / merge / atomic write of the CSV + JSON pair.
#include "results_store.hpp"

#include <fstream>
#include <set>
#include <stdexcept>

#include "atomic_file.hpp"
#include "results_json.hpp"

namespace dfw {
namespace {

const char* kBenchmarksOpen = "  \"benchmarks\": [";
const char* kBenchmarksClose = "  ]";

}  // namespace

ResultsStore::ResultsStore(const std::string& dir, const std::string& name)
    : dir_(dir), csv_path_(dir + "/" + name + ".csv"), json_path_(dir + "/" + name + ".json") {}

void ResultsStore::load() {
  std::ifstream csv(csv_path_);
  if (!csv) return;
  std::string line;
  if (!std::getline(csv, line)) return;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  // A file written before the roofline_ms column (its rows: no bound) resumes too.
  const bool before_roofline = line + ",roofline_ms" == results_csv_header();
  if (line != results_csv_header() && !before_roofline)
    throw std::invalid_argument(csv_path_ + ": the header is not dfwbench's results header; not resuming over it");
  int64_t n = 1;
  while (std::getline(csv, line)) {
    ++n;
    if (line.empty()) continue;
    ResultRow r = parse_result_row(before_roofline ? line + "," : line, n);
    const std::string key = r.key();
    if (!rows_.count(key)) insertion_order_.push_back(key);
    rows_[key] = std::move(r);
  }
  std::ifstream json(json_path_);
  bool inside = false;
  while (std::getline(json, line)) {
    if (!inside) {
      inside = line == kBenchmarksOpen;
      continue;
    }
    if (line == kBenchmarksClose) break;
    std::string entry = line.substr(line.find_first_not_of(' '));
    if (!entry.empty() && entry.back() == ',') entry.pop_back();
    const std::string key = json_string_member(entry, "case_key");
    if (rows_.count(key)) entries_[key].push_back(entry);
  }
}

void ResultsStore::put(const ResultRow& row, std::vector<std::string> json_entries) {
  const std::string key = row.key();
  if (!rows_.count(key)) insertion_order_.push_back(key);
  rows_[key] = row;
  entries_[key] = std::move(json_entries);
}

std::vector<std::string> ResultsStore::ordered_keys(const std::vector<std::string>& order) const {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& k : order)
    if (rows_.count(k) && seen.insert(k).second) keys.push_back(k);
  for (const auto& k : insertion_order_)
    if (seen.insert(k).second) keys.push_back(k);
  return keys;
}

std::vector<ResultRow> ResultsStore::rows(const std::vector<std::string>& order) const {
  std::vector<ResultRow> out;
  for (const auto& k : ordered_keys(order)) out.push_back(rows_.at(k));
  return out;
}

void ResultsStore::write(const std::vector<std::string>& order, const std::string& context_json) const {
  make_directories(dir_);
  const auto keys = ordered_keys(order);
  std::string json = "{\n  \"context\": " + context_json + ",\n" + kBenchmarksOpen + "\n";
  bool first = true;
  for (const auto& k : keys) {
    const auto it = entries_.find(k);
    if (it == entries_.end()) continue;
    for (const auto& e : it->second) {
      json += (first ? "    " : ",\n    ") + e;
      first = false;
    }
  }
  json += std::string(first ? "" : "\n") + kBenchmarksClose + "\n}\n";
  write_file_atomically(json_path_, json);

  std::string csv = results_csv_header() + "\n";
  for (const auto& k : keys) csv += rows_.at(k).to_csv_line() + "\n";
  write_file_atomically(csv_path_, csv);
}

}  // namespace dfw
