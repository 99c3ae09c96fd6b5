#include "stages/json/json_scalar.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"
#include "stages/json/json_syntax.h"
#include "stages/json/json_writer.h"

namespace sluice::stages {

JsonNumber JsonNumber::Int64(int64_t value) {
  JsonNumber number;
  number.kind_ = Kind::kInt64;
  number.int64_ = value;
  return number;
}

JsonNumber JsonNumber::Uint64(uint64_t value) {
  JsonNumber number;
  number.kind_ = Kind::kUint64;
  number.uint64_ = value;
  return number;
}

JsonNumber JsonNumber::Double(double value) {
  JsonNumber number;
  number.kind_ = Kind::kDouble;
  number.double_ = value;
  return number;
}

std::optional<JsonNumber> JsonNumber::Parse(std::string_view text) {
  if (text.empty() || !(text[0] == '-' || (text[0] >= '0' && text[0] <= '9'))) {
    return std::nullopt;
  }
  // The JSON grammar (no "+1", ".5", "01", "1_000") and the range simdjson
  // accepts.
  if (FindJsonErrorOffset(text).has_value()) return std::nullopt;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (text.find_first_of(".eE") == std::string_view::npos) {
    if (text[0] == '-') {
      int64_t value = 0;
      if (std::from_chars(begin, end, value).ec == std::errc()) return Int64(value);
    } else {
      uint64_t value = 0;
      if (std::from_chars(begin, end, value).ec == std::errc()) {
        if (value <= static_cast<uint64_t>(INT64_MAX)) return Int64(static_cast<int64_t>(value));
        return Uint64(value);
      }
    }
    return std::nullopt;
  }
  double value = 0;
  const std::from_chars_result result = std::from_chars(begin, end, value);
  if (result.ptr != end) return std::nullopt;
  // Underflow reads as zero, as in simdjson; overflow was refused above.
  return Double(value);
}

namespace {

template <typename T>
int Order(T left, T right) {
  return left < right ? -1 : (left > right ? 1 : 0);
}

}  // namespace

int JsonNumber::CompareWithDouble(double value) const {
  // Exact, without rounding the integer to a double: compare the double's
  // whole part (exactly an integer of our kind once in range), then its
  // fraction. JSON has no NaN.
  const double whole = std::trunc(value);
  const double fraction = value - whole;
  int order = 0;
  if (kind_ == Kind::kInt64) {
    if (whole < -9223372036854775808.0) return -1;  // -2^63
    if (whole >= 9223372036854775808.0) return 1;   // 2^63
    order = Order(static_cast<int64_t>(whole), int64_);
  } else {
    if (whole < 0) return -1;
    if (whole >= 18446744073709551616.0) return 1;  // 2^64
    order = Order(static_cast<uint64_t>(whole), uint64_);
  }
  if (order != 0) return order;
  return Order(fraction, 0.0);
}

int JsonNumber::Compare(const JsonNumber& other) const {
  if (kind_ == Kind::kDouble && other.kind_ == Kind::kDouble) {
    return Order(double_, other.double_);
  }
  if (other.kind_ == Kind::kDouble) return -CompareWithDouble(other.double_);
  if (kind_ == Kind::kDouble) return other.CompareWithDouble(double_);
  if (kind_ == other.kind_) {
    return kind_ == Kind::kInt64 ? Order(int64_, other.int64_) : Order(uint64_, other.uint64_);
  }
  // One int64, one uint64 (which is above INT64_MAX, or kept as uint64).
  if (kind_ == Kind::kInt64) {
    return int64_ < 0 ? -1 : Order(static_cast<uint64_t>(int64_), other.uint64_);
  }
  return other.int64_ < 0 ? 1 : Order(uint64_, static_cast<uint64_t>(other.int64_));
}

std::string JsonNumber::ToJson() const {
  std::string text;
  switch (kind_) {
    case Kind::kInt64:
      AppendJsonInt64(int64_, text);
      break;
    case Kind::kUint64:
      AppendJsonUint64(uint64_, text);
      break;
    case Kind::kDouble:
      AppendJsonDouble(double_, text);
      break;
  }
  return text;
}

JsonScalar JsonScalar::FromConfig(const ConfigNode& node) {
  if (node.is_null()) return JsonScalar();
  return FromText(node.scalar(), node.quoted());
}

JsonScalar JsonScalar::FromText(std::string_view text, bool quoted) {
  JsonScalar scalar;
  if (!quoted) {
    if (text == "null") return scalar;
    if (text == "true" || text == "false") {
      scalar.kind_ = Kind::kBoolean;
      scalar.boolean_ = text == "true";
      return scalar;
    }
    if (std::optional<JsonNumber> number = JsonNumber::Parse(text)) {
      scalar.kind_ = Kind::kNumber;
      scalar.number_ = *number;
      return scalar;
    }
  }
  scalar.kind_ = Kind::kString;
  scalar.string_ = std::string(text);
  return scalar;
}

std::string JsonScalar::ToJson() const {
  switch (kind_) {
    case Kind::kNull:
      return "null";
    case Kind::kBoolean:
      return boolean_ ? "true" : "false";
    case Kind::kNumber:
      return number_.ToJson();
    case Kind::kString: {
      std::string text;
      AppendJsonString(string_, text);
      return text;
    }
  }
  return "null";
}

std::optional<std::vector<JsonScalar>> ReadJsonScalars(OptionReader& options, std::string_view key,
                                                       const ConfigNode* node) {
  if (node == nullptr || node->is_null()) return std::vector<JsonScalar>{JsonScalar()};
  if (node->is_scalar()) return std::vector<JsonScalar>{JsonScalar::FromConfig(*node)};
  if (!node->is_sequence()) {
    options.ErrorAt(node->mark(),
                    absl::StrCat(Av(key), ": expected a value or a list of values, got ",
                                 Av(node->kind_name())));
    return std::nullopt;
  }
  if (node->items().empty()) {
    options.ErrorAt(node->mark(), absl::StrCat(Av(key), ": the list is empty"));
    return std::nullopt;
  }
  std::vector<JsonScalar> values;
  bool ok = true;
  for (const ConfigNode& item : node->items()) {
    if (!item.is_scalar() && !item.is_null()) {
      options.ErrorAt(item.mark(),
                      absl::StrCat(Av(key), ": expected a value, got ", Av(item.kind_name())));
      ok = false;
      continue;
    }
    values.push_back(JsonScalar::FromConfig(item));
  }
  if (!ok) return std::nullopt;
  return values;
}

}  // namespace sluice::stages
