#include "connectors/generator/value_template.h"

#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"

namespace sluice::connectors {
namespace {

constexpr uint64_t kDefaultRandomBound = 1'000'000;
// The longest decimal rendering of a 64-bit integer, with a sign.
constexpr size_t kMaxNumberBytes = 20;

// SplitMix64's finalizer: a well-mixed 64-bit value from any input.
uint64_t Mix(uint64_t value) {
  value += 0x9E3779B97F4A7C15ULL;
  value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ULL;
  value = (value ^ (value >> 27)) * 0x94D049BB133111EBULL;
  return value ^ (value >> 31);
}

template <typename T>
size_t WriteNumber(T value, char* out) {
  const std::to_chars_result result = std::to_chars(out, out + kMaxNumberBytes, value);
  return static_cast<size_t>(result.ptr - out);
}

}  // namespace

absl::StatusOr<ValueTemplate> ValueTemplate::Parse(std::string_view text) {
  ValueTemplate parsed;
  auto add_literal = [&parsed](std::string_view literal) {
    if (literal.empty()) return;
    Segment segment;
    segment.offset = parsed.literals_.size();
    segment.size = literal.size();
    parsed.literals_.append(literal.data(), literal.size());
    parsed.segments_.push_back(segment);
  };
  size_t position = 0;
  while (position < text.size()) {
    const size_t open = text.find("{{", position);
    if (open == std::string_view::npos) {
      add_literal(text.substr(position));
      break;
    }
    add_literal(text.substr(position, open - position));
    const size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("template: \"{{\" at byte ", open, " has no closing \"}}\""));
    }
    const std::string_view name = text.substr(open + 2, close - open - 2);
    Segment segment;
    if (name == "seq") {
      segment.part = Part::kSeq;
    } else if (name == "key") {
      segment.part = Part::kKey;
    } else if (name == "timestamp") {
      segment.part = Part::kTimestampMs;
    } else if (name == "timestamp_us") {
      segment.part = Part::kTimestampUs;
    } else if (name == "random_int") {
      segment.part = Part::kRandomInt;
      segment.bound = kDefaultRandomBound;
    } else if (name.starts_with("random_int:")) {
      segment.part = Part::kRandomInt;
      const std::string_view bound = name.substr(std::string_view("random_int:").size());
      const char* end = bound.data() + bound.size();
      auto [ptr, error] = std::from_chars(bound.data(), end, segment.bound);
      if (error != std::errc() || ptr != end || segment.bound == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("template: {{", Av(name), "}}: the bound must be an integer >= 1"));
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("template: unknown placeholder {{", Av(name),
                       "}}; known: seq, key, timestamp, timestamp_us, random_int, random_int:N"));
    }
    if (segment.part == Part::kKey) {
      ++parsed.keys_;
    } else {
      ++parsed.numbers_;
    }
    parsed.segments_.push_back(segment);
    position = close + 2;
  }
  return parsed;
}

size_t ValueTemplate::max_bytes(size_t max_key_bytes) const {
  return literals_.size() + numbers_ * kMaxNumberBytes + keys_ * max_key_bytes;
}

size_t ValueTemplate::Render(const Values& values, char* out) const {
  char* cursor = out;
  uint64_t random_index = 0;
  for (const Segment& segment : segments_) {
    switch (segment.part) {
      case Part::kLiteral:
        std::memcpy(cursor, literals_.data() + segment.offset, segment.size);
        cursor += segment.size;
        break;
      case Part::kSeq:
        cursor += WriteNumber(values.seq, cursor);
        break;
      case Part::kKey:
        std::memcpy(cursor, values.key.data(), values.key.size());
        cursor += values.key.size();
        break;
      case Part::kTimestampMs:
        cursor += WriteNumber(values.timestamp_us / 1000, cursor);
        break;
      case Part::kTimestampUs:
        cursor += WriteNumber(values.timestamp_us, cursor);
        break;
      case Part::kRandomInt: {
        // Each random placeholder of an event draws its own number.
        const uint64_t random = Mix(values.seed ^ Mix(values.seq * 64 + random_index++));
        cursor += WriteNumber(random % segment.bound, cursor);
        break;
      }
    }
  }
  return static_cast<size_t>(cursor - out);
}

}  // namespace sluice::connectors
