// JSON writing helpers (results_json.hpp).
#include "results_json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dfw {

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  for (int digits = 6; digits < 17; ++digits) {  // shortest form that reads back exactly
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", digits, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

JsonObject& JsonObject::add(const std::string& key, const std::string& value) {
  members_.emplace_back(key, json_quote(value));
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, double value) {
  members_.emplace_back(key, json_number(value));
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, int64_t value) {
  members_.emplace_back(key, std::to_string(value));
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, bool value) {
  members_.emplace_back(key, value ? "true" : "false");
  return *this;
}
JsonObject& JsonObject::add_raw(const std::string& key, const std::string& json) {
  members_.emplace_back(key, json);
  return *this;
}

std::string JsonObject::str(int indent) const {
  std::string out = "{";
  const std::string pad(indent, ' '), close_pad(indent >= 2 ? indent - 2 : 0, ' ');
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (indent > 0) out += (i ? ",\n" : "\n") + pad;
    else if (i) out += ", ";
    out += json_quote(members_[i].first) + ": " + members_[i].second;
  }
  if (indent > 0 && !members_.empty()) out += "\n" + close_pad;
  return out + "}";
}

std::string json_string_member(const std::string& line, const std::string& key) {
  const std::string pattern = json_quote(key) + ": \"";
  const auto at = line.find(pattern);
  if (at == std::string::npos) return "";
  std::string out;
  for (std::size_t i = at + pattern.size(); i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') return out;
    if (c == '\\' && i + 1 < line.size()) {
      const char e = line[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
    } else {
      out += c;
    }
  }
  return "";
}

}  // namespace dfw
