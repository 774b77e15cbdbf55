// The results of one sweep on disk: results/NAME.csv (tidy rows, results_row.hpp)
// and results/NAME.json (Google Benchmark's layout: "context", then "benchmarks",
// one entry per line, each carrying its "case_key"). Both files are rewritten
// atomically after every case, JSON first, so a kill at any moment leaves the
// previous complete pair; the CSV decides which cases are done.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "results_row.hpp"

namespace dfw {

class ResultsStore {
 public:
  ResultsStore(const std::string& dir, const std::string& name);
  const std::string& csv_path() const { return csv_path_; }
  const std::string& json_path() const { return json_path_; }

  // Reads the existing pair (for --resume); missing files are an empty store.
  // Throws std::invalid_argument for a CSV whose header is not results_csv_header()
  // (or that header without its last column, roofline_ms: an older file, read as 0).
  void load();
  bool has(const std::string& key) const { return rows_.count(key) > 0; }
  std::size_t size() const { return rows_.size(); }
  // Adds or replaces a case: its row and its benchmark entries (one-line JSON objects).
  void put(const ResultRow& row, std::vector<std::string> json_entries);
  // Replaces the row of a case already present, keeping its benchmark entries.
  void replace_row(const ResultRow& row) { rows_.at(row.key()) = row; }
  // Rows in `order` (case keys) first, then rows loaded earlier that are not in it.
  std::vector<ResultRow> rows(const std::vector<std::string>& order) const;
  // Writes NAME.json, then NAME.csv; context_json is the "context" object.
  // Creates the directory when missing. Throws std::runtime_error on an I/O failure.
  void write(const std::vector<std::string>& order, const std::string& context_json) const;

 private:
  std::vector<std::string> ordered_keys(const std::vector<std::string>& order) const;

  std::string dir_, csv_path_, json_path_;
  std::map<std::string, ResultRow> rows_;
  std::map<std::string, std::vector<std::string>> entries_;
  std::vector<std::string> insertion_order_;
};

}  // namespace dfw
