#include "pipeline/config/option_reader.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

#include "pipeline/string_view_compat.h"

namespace sluice {
namespace {

const SourceMark& DefaultMark() {
  static const SourceMark* const mark = new SourceMark();
  return *mark;
}

}  // namespace

std::optional<int64_t> ParseConfigInt(std::string_view text) {
  const std::string digits = absl::StrReplaceAll(Av(text), {{"_", ""}});
  int64_t value = 0;
  if (digits.empty() || !absl::SimpleAtoi(digits, &value)) return std::nullopt;
  return value;
}

std::optional<absl::Duration> ParseConfigDuration(std::string_view text) {
  absl::Duration duration;
  if (text.empty() || text == "0" || !absl::ParseDuration(Av(text), &duration)) {
    // "0" parses, but we want units everywhere else: a bare number is
    // ambiguous (seconds? milliseconds?).
    if (text == "0") return absl::ZeroDuration();
    return std::nullopt;
  }
  if (duration == absl::InfiniteDuration() || duration == -absl::InfiniteDuration()) {
    return std::nullopt;
  }
  return duration;
}

std::optional<uint64_t> ParseConfigBytes(std::string_view text) {
  auto strip = [](std::string_view t) {
    while (!t.empty() && absl::ascii_isspace(static_cast<unsigned char>(t.front())))
      t.remove_prefix(1);
    while (!t.empty() && absl::ascii_isspace(static_cast<unsigned char>(t.back())))
      t.remove_suffix(1);
    return t;
  };
  text = strip(text);
  size_t digits_end = 0;
  while (digits_end < text.size() &&
         (absl::ascii_isdigit(static_cast<unsigned char>(text[digits_end])) ||
          text[digits_end] == '_')) {
    ++digits_end;
  }
  std::optional<int64_t> number = ParseConfigInt(text.substr(0, digits_end));
  if (!number || *number < 0) return std::nullopt;
  const std::string unit = absl::AsciiStrToLower(Av(strip(text.substr(digits_end))));
  uint64_t multiplier = 1;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "kib") {
    multiplier = uint64_t{1} << 10;
  } else if (unit == "mib") {
    multiplier = uint64_t{1} << 20;
  } else if (unit == "gib") {
    multiplier = uint64_t{1} << 30;
  } else if (unit == "kb") {
    multiplier = 1000;
  } else if (unit == "mb") {
    multiplier = 1000 * 1000;
  } else if (unit == "gb") {
    multiplier = 1000 * 1000 * 1000;
  } else {
    return std::nullopt;
  }
  const auto value = static_cast<uint64_t>(*number);
  if (value > UINT64_MAX / multiplier) return std::nullopt;
  return value * multiplier;
}

OptionReader::OptionReader(const ConfigNode* node, std::string what, ConfigErrors& errors)
    : node_(node), what_(std::move(what)), errors_(&errors) {
  if (node_ != nullptr && node_->is_null()) node_ = nullptr;
  if (node_ != nullptr && !node_->is_map()) {
    ErrorAt(node_->mark(), absl::StrCat("expected a map, got ", Av(node_->kind_name())));
    node_ = nullptr;
  }
}

const SourceMark& OptionReader::mark() const {
  return node_ != nullptr ? node_->mark() : DefaultMark();
}

void OptionReader::Error(std::string_view key, std::string_view message) {
  const ConfigNode* value = node_ != nullptr ? node_->Find(key) : nullptr;
  failed_ = true;
  errors_->Add(value != nullptr ? value->mark() : mark(),
               absl::StrCat(what_, ": ", Av(key), ": ", Av(message)));
}

void OptionReader::ErrorAt(const SourceMark& mark, std::string_view message) {
  failed_ = true;
  errors_->Add(mark, absl::StrCat(what_, ": ", Av(message)));
}

const ConfigNode* OptionReader::Node(std::string_view key) {
  Known(key);
  if (node_ == nullptr) return nullptr;
  const ConfigNode* value = node_->Find(key);
  if (value != nullptr && value->is_null()) return nullptr;
  return value;
}

const ConfigNode* OptionReader::Scalar(std::string_view key) {
  const ConfigNode* value = Node(key);
  if (value == nullptr) return nullptr;
  if (!value->is_scalar()) {
    Error(key, absl::StrCat("expected a single value, got ", Av(value->kind_name())));
    return nullptr;
  }
  return value;
}

std::optional<std::string> OptionReader::String(std::string_view key) {
  const ConfigNode* value = Scalar(key);
  if (value == nullptr) return std::nullopt;
  return value->scalar();
}

std::optional<int64_t> OptionReader::Int(std::string_view key, int64_t min, int64_t max) {
  const ConfigNode* value = Scalar(key);
  if (value == nullptr) return std::nullopt;
  std::optional<int64_t> number = ParseConfigInt(value->scalar());
  if (!number) {
    Error(key, absl::StrCat("expected an integer, got \"", value->scalar(), "\""));
    return std::nullopt;
  }
  if (*number < min || *number > max) {
    if (max == std::numeric_limits<int64_t>::max()) {
      Error(key, absl::StrCat(*number, " is out of range: must be at least ", min));
    } else {
      Error(key, absl::StrCat(*number, " is out of range [", min, ", ", max, "]"));
    }
    return std::nullopt;
  }
  return number;
}

std::optional<double> OptionReader::Double(std::string_view key, double min, double max) {
  const ConfigNode* value = Scalar(key);
  if (value == nullptr) return std::nullopt;
  double number = 0;
  if (!absl::SimpleAtod(value->scalar(), &number) || !std::isfinite(number)) {
    Error(key, absl::StrCat("expected a number, got \"", value->scalar(), "\""));
    return std::nullopt;
  }
  if (number < min || number > max) {
    Error(key, absl::StrCat(value->scalar(), " is out of range [", min, ", ", max, "]"));
    return std::nullopt;
  }
  return number;
}

std::optional<bool> OptionReader::Bool(std::string_view key) {
  const ConfigNode* value = Scalar(key);
  if (value == nullptr) return std::nullopt;
  if (value->scalar() == "true") return true;
  if (value->scalar() == "false") return false;
  Error(key, absl::StrCat("expected true or false, got \"", value->scalar(), "\""));
  return std::nullopt;
}

std::optional<absl::Duration> OptionReader::Duration(std::string_view key, absl::Duration min) {
  const ConfigNode* value = Scalar(key);
  if (value == nullptr) return std::nullopt;
  std::optional<absl::Duration> duration = ParseConfigDuration(value->scalar());
  if (!duration) {
    Error(key, absl::StrCat("expected a duration with a unit (250ms, 5s, 1m), got \"",
                            value->scalar(), "\""));
    return std::nullopt;
  }
  if (*duration < min) {
    Error(key, absl::StrCat(value->scalar(), " is out of range: must be at least ",
                            absl::FormatDuration(min)));
    return std::nullopt;
  }
  return duration;
}

std::optional<uint64_t> OptionReader::Bytes(std::string_view key) {
  const ConfigNode* value = Scalar(key);
  if (value == nullptr) return std::nullopt;
  std::optional<uint64_t> bytes = ParseConfigBytes(value->scalar());
  if (!bytes) {
    Error(key, absl::StrCat("expected a size (512, 64KiB, 1MiB), got \"", value->scalar(), "\""));
    return std::nullopt;
  }
  return bytes;
}

std::optional<std::vector<std::string>> OptionReader::StringList(std::string_view key) {
  const ConfigNode* value = Node(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_scalar()) return std::vector<std::string>{value->scalar()};
  if (!value->is_sequence()) {
    Error(key, absl::StrCat("expected a value or a list of values, got ", Av(value->kind_name())));
    return std::nullopt;
  }
  std::vector<std::string> list;
  bool ok = true;
  for (const ConfigNode& item : value->items()) {
    if (!item.is_scalar()) {
      ErrorAt(item.mark(), absl::StrCat(Av(key), ": expected a value, got ", Av(item.kind_name())));
      ok = false;
      continue;
    }
    list.push_back(item.scalar());
  }
  if (!ok) return std::nullopt;
  return list;
}

OptionReader OptionReader::Nested(std::string_view key) {
  const ConfigNode* value = Node(key);
  return OptionReader(value, absl::StrCat(what_, ".", Av(key)), *errors_);
}

void OptionReader::Finish() {
  if (node_ == nullptr) return;
  for (const ConfigNode::Entry& entry : node_->entries()) {
    if (std::find(known_.begin(), known_.end(), entry.key) != known_.end()) continue;
    failed_ = true;
    errors_->Add(entry.key_mark, absl::StrCat(what_, ": unknown key \"", entry.key, "\"",
                                              DidYouMeanSuffix(entry.key, known_)));
  }
}

}  // namespace sluice
