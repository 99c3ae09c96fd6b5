// File: stages/json/json_scalar.h
//
// A JsonScalar is a value written in a config to compare event fields with
// (filter's `equals:`, route's `routes:`): a string, number, boolean or null.
// A quoted YAML scalar is always a string; an unquoted one is a JSON literal
// if it is one (`200`, `1.5`, `true`, `null`) and a string otherwise
// (`error`). Comparison is by JSON type: the number 200 does not equal the
// string "200", and numbers compare by value (`1` equals `1.0`).
//
//   JsonScalar level = JsonScalar::FromConfig(node);   // `equals: error`
//   if (ScalarMatches(level, field)) ...             // json_dom.h
//
// Also JsonNumber, the exact comparison of JSON numbers of any kind.
//
// Free of simdjson (see json_dom.h). Immutable value types: safe to share
// between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config/config_node.h"
#include "pipeline/config/option_reader.h"

namespace sluice::stages {

// A JSON number as simdjson read it: a signed or unsigned 64-bit integer, or
// a double.
class JsonNumber {
 public:
  static JsonNumber Int64(int64_t value);
  static JsonNumber Uint64(uint64_t value);
  static JsonNumber Double(double value);
  // The number `text` spells in JSON grammar (`-7`, `1.5e3`), or nullopt.
  static std::optional<JsonNumber> Parse(std::string_view text);

  // Exact: no rounding of large integers through double.
  int Compare(const JsonNumber& other) const;
  bool operator==(const JsonNumber& other) const { return Compare(other) == 0; }

  // The number as JSON text (`7`, `1.5`, `2.0`).
  std::string ToJson() const;

 private:
  enum class Kind : uint8_t { kInt64, kUint64, kDouble };
  // -1, 0 or 1 as `value` is below, equal to or above this integer.
  // REQUIRES: kind_ is not kDouble.
  int CompareWithDouble(double value) const;

  Kind kind_ = Kind::kInt64;
  int64_t int64_ = 0;
  uint64_t uint64_ = 0;
  double double_ = 0;
};

class JsonScalar {
 public:
  // REQUIRES: `node` is a scalar or null (a null node is JSON null).
  static JsonScalar FromConfig(const ConfigNode& node);
  // The same, from text: `quoted` text is always a string.
  static JsonScalar FromText(std::string_view text, bool quoted);

  enum class Kind : uint8_t { kNull, kBoolean, kNumber, kString };

  Kind kind() const { return kind_; }
  // REQUIRES: kind() is the value's kind.
  bool boolean() const { return boolean_; }
  const JsonNumber& number() const { return number_; }
  const std::string& string() const { return string_; }

  // The value as JSON text: `"error"`, `200`, `true`, `null`.
  std::string ToJson() const;

 private:
  Kind kind_ = Kind::kNull;
  bool boolean_ = false;
  JsonNumber number_;
  std::string string_;
};

// The values `node` holds, for an option `key` that takes one value or a list
// (`equals: error`, `equals: [error, fatal]`): the node itself if a scalar, or
// null (JSON null) if `node` is null; its items if a list of scalars. A map, a
// nested list or an empty list is reported through `options` at its place and
// gives nullopt.
std::optional<std::vector<JsonScalar>> ReadJsonScalars(OptionReader& options, std::string_view key,
                                                       const ConfigNode* node);

}  // namespace sluice::stages
