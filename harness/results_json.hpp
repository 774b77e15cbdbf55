// Minimal JSON writing for the results files: an object builder that keeps the
// key order and writes one line (so each benchmark entry of results/NAME.json is
// one line, which is how --resume reads entries back).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfw {

std::string json_quote(const std::string& s);  // "..." with JSON escapes
std::string json_number(double v);             // shortest round-trip form; null if not finite

class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonObject& add(const std::string& key, double value);
  JsonObject& add(const std::string& key, int64_t value);
  JsonObject& add(const std::string& key, int value) { return add(key, int64_t(value)); }
  JsonObject& add(const std::string& key, bool value);
  JsonObject& add_raw(const std::string& key, const std::string& json);  // already-encoded value
  // One line: {"a": 1, "b": "x"}. With indent > 0: one member per line, the
  // members indented by `indent` spaces and the closing brace by indent - 2.
  std::string str(int indent = 0) const;

 private:
  std::vector<std::pair<std::string, std::string>> members_;
};

// The string value of "key": "..." in a one-line object written by JsonObject;
// empty when absent.
std::string json_string_member(const std::string& line, const std::string& key);

}  // namespace dfw
