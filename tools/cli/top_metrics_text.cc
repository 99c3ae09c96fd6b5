#include "tools/cli/top_metrics_text.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"

namespace sluice::cli {
namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Reads one line's tokens left to right; every Take* advances past what it
// took or returns an error naming what it expected.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : line_(line) {}

  void SkipBlanks() {
    while (pos_ < line_.size() && IsBlank(line_[pos_])) ++pos_;
  }
  bool AtEnd() const { return pos_ >= line_.size(); }
  bool Peek(char c) const { return pos_ < line_.size() && line_[pos_] == c; }
  void Skip() { ++pos_; }

  // A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); label names use the same reader
  // (they may not contain ':', checked by the caller).
  absl::StatusOr<std::string_view> TakeName(std::string_view what) {
    const size_t start = pos_;
    if (AtEnd() || !IsNameStart(line_[pos_])) {
      return absl::InvalidArgumentError(absl::StrCat("expected ", Av(what)));
    }
    while (pos_ < line_.size() && IsNameChar(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }

  // A double-quoted label value with the format's three escapes.
  absl::StatusOr<std::string> TakeQuoted() {
    if (!Peek('"')) return absl::InvalidArgumentError("expected '\"' to open a label value");
    ++pos_;
    std::string value;
    while (pos_ < line_.size()) {
      const char c = line_[pos_++];
      if (c == '"') return value;
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (pos_ >= line_.size()) break;
      const char escaped = line_[pos_++];
      switch (escaped) {
        case '\\':
          value.push_back('\\');
          break;
        case '"':
          value.push_back('"');
          break;
        case 'n':
          value.push_back('\n');
          break;
        default:
          return absl::InvalidArgumentError(
              absl::StrCat("unknown escape '\\", std::string(1, escaped), "' in a label value"));
      }
    }
    return absl::InvalidArgumentError("label value not terminated by '\"'");
  }

  // The next run of non-blank characters.
  std::string_view TakeToken() {
    const size_t start = pos_;
    while (pos_ < line_.size() && !IsBlank(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }

  std::string_view Rest() const { return line_.substr(std::min(pos_, line_.size())); }

 private:
  std::string_view line_;
  size_t pos_ = 0;
};

std::optional<double> ParseValue(std::string_view token) {
  if (token == "+Inf" || token == "Inf") return std::numeric_limits<double>::infinity();
  if (token == "-Inf") return -std::numeric_limits<double>::infinity();
  if (token == "NaN") return std::numeric_limits<double>::quiet_NaN();
  // from_chars takes no leading '+'.
  if (!token.empty() && token.front() == '+') token.remove_prefix(1);
  double value = 0;
  const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (error != std::errc() || end != token.data() + token.size() || token.empty()) {
    return std::nullopt;
  }
  return value;
}

bool IsInteger(std::string_view token) {
  if (!token.empty() && token.front() == '-') token.remove_prefix(1);
  if (token.empty()) return false;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// `# TYPE name type` is kept; `# HELP` and any other comment are skipped.
absl::Status ParseComment(std::string_view line, MetricsText& text) {
  LineReader reader(line);
  reader.Skip();  // '#'
  reader.SkipBlanks();
  if (reader.TakeToken() != "TYPE") return absl::OkStatus();
  reader.SkipBlanks();
  absl::StatusOr<std::string_view> name = reader.TakeName("a metric name after # TYPE");
  if (!name.ok()) return name.status();
  reader.SkipBlanks();
  const std::string_view type = reader.TakeToken();
  if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
      type != "untyped") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown metric type \"", Av(type), "\" for ", Av(*name)));
  }
  text.types[std::string(*name)] = std::string(type);
  return absl::OkStatus();
}

absl::StatusOr<MetricSample> ParseSample(std::string_view line) {
  LineReader reader(line);
  MetricSample sample;
  absl::StatusOr<std::string_view> name = reader.TakeName("a metric name");
  if (!name.ok()) return name.status();
  sample.name = std::string(*name);
  reader.SkipBlanks();
  if (reader.Peek('{')) {
    reader.Skip();
    reader.SkipBlanks();
    while (!reader.Peek('}')) {
      if (reader.AtEnd()) return absl::InvalidArgumentError("label set not closed by '}'");
      absl::StatusOr<std::string_view> label = reader.TakeName("a label name");
      if (!label.ok()) return label.status();
      if (label->find(':') != std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("label name \"", Av(*label), "\" may not contain ':'"));
      }
      reader.SkipBlanks();
      if (!reader.Peek('=')) {
        return absl::InvalidArgumentError(absl::StrCat("expected '=' after label ", Av(*label)));
      }
      reader.Skip();
      reader.SkipBlanks();
      absl::StatusOr<std::string> value = reader.TakeQuoted();
      if (!value.ok()) return value.status();
      sample.labels.emplace_back(std::string(*label), *std::move(value));
      reader.SkipBlanks();
      if (reader.Peek(',')) {  // a trailing comma before '}' is allowed
        reader.Skip();
        reader.SkipBlanks();
      } else if (reader.AtEnd()) {
        return absl::InvalidArgumentError("label set not closed by '}'");
      } else if (!reader.Peek('}')) {
        return absl::InvalidArgumentError("expected ',' or '}' after a label value");
      }
    }
    reader.Skip();  // '}'
  }
  reader.SkipBlanks();
  const std::string_view value_token = reader.TakeToken();
  if (value_token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no value for ", sample.name));
  }
  const std::optional<double> value = ParseValue(value_token);
  if (!value) {
    return absl::InvalidArgumentError(
        absl::StrCat("value \"", Av(value_token), "\" of ", sample.name, " is not a number"));
  }
  sample.value = *value;
  reader.SkipBlanks();
  if (!reader.AtEnd()) {
    const std::string_view rest = reader.Rest();
    const std::string_view timestamp = reader.TakeToken();
    reader.SkipBlanks();
    if (!IsInteger(timestamp) || !reader.AtEnd()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected \"", Av(rest), "\" after the value of ", sample.name));
    }
  }
  return sample;
}

}  // namespace

std::string_view MetricSample::label(std::string_view label_name) const {
  for (const auto& [key, label_value] : labels) {
    if (key == label_name) return label_value;
  }
  return {};
}

absl::StatusOr<MetricsText> ParseMetricsText(std::string_view text) {
  MetricsText parsed;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && IsBlank(line.front())) line.remove_prefix(1);
    while (!line.empty() && IsBlank(line.back())) line.remove_suffix(1);
    if (line.empty()) continue;
    absl::Status status;
    if (line.front() == '#') {
      status = ParseComment(line, parsed);
    } else {
      absl::StatusOr<MetricSample> sample = ParseSample(line);
      if (sample.ok()) {
        parsed.samples.push_back(*std::move(sample));
      } else {
        status = sample.status();
      }
    }
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", status.message()));
    }
  }
  return parsed;
}

}  // namespace sluice::cli
