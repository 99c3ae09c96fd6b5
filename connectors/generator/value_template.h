// File: connectors/generator/value_template.h
//
// A ValueTemplate is the generator's `template:` option: a text (typically a
// JSON object) with placeholders that each event fills in, written straight
// into the batch's arena with no per-event heap allocation. Placeholders:
//
//   {{seq}}              the event's sequence number (0, 1, 2, ... over all
//                        generator instances)
//   {{key}}              the event's key ("key-3"; empty when `keys` is 0)
//   {{timestamp}}        the event's timestamp, milliseconds since the epoch
//   {{timestamp_us}}     the same in microseconds
//   {{random_int}}       a pseudo-random integer in [0, 1000000)
//   {{random_int:N}}     a pseudo-random integer in [0, N), N >= 1
//
// Everything else is copied as written; the generator does not check that
// the result is JSON. Random numbers are a function of the seed, the
// sequence number and the placeholder's position, so a run is reproducible.
//
//   ValueTemplate value = *ValueTemplate::Parse(R"({"id":{{seq}},"user":"{{key}}"})");
//   char buffer[64];
//   size_t n = value.Render({.seq = 7, .key = "key-3"}, buffer);  // {"id":7,"user":"key-3"}
//
// Immutable after Parse(); safe to share between instances.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::connectors {

class ValueTemplate {
 public:
  // What one event fills in.
  struct Values {
    uint64_t seq = 0;
    std::string_view key;
    int64_t timestamp_us = 0;
    uint64_t seed = 0;
  };

  // Errors: kInvalidArgument for an unknown placeholder, a "{{" without
  // "}}", or a bad random_int bound; the message quotes the placeholder.
  static absl::StatusOr<ValueTemplate> Parse(std::string_view text);

  // The most bytes Render() writes when keys are at most `max_key_bytes`.
  size_t max_bytes(size_t max_key_bytes) const;
  // Writes the value for `values` to `out` and returns its length.
  // REQUIRES: `out` has max_bytes(values.key.size()) bytes (or more).
  size_t Render(const Values& values, char* out) const;

 private:
  enum class Part { kLiteral, kSeq, kKey, kTimestampMs, kTimestampUs, kRandomInt };
  struct Segment {
    Part part = Part::kLiteral;
    // kLiteral: where its bytes are in literals_.
    size_t offset = 0;
    size_t size = 0;
    // kRandomInt: the exclusive upper bound.
    uint64_t bound = 0;
  };

  std::string literals_;
  std::vector<Segment> segments_;
  size_t numbers_ = 0;  // placeholders that render as numbers
  size_t keys_ = 0;     // {{key}} placeholders
};

}  // namespace sluice::connectors
