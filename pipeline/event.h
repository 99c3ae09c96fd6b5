// File: pipeline/event.h
//
// An Event is one record moving through a pipeline: key, value, headers,
// timestamp, where it came from (Origin) and how many times it has been
// attempted. An Event is a *view*: its bytes live in the memory of the
// EventBatch that carries it, so it never outlives that batch and copying an
// Event copies 72 bytes, never the payload.
//
//   for (const Event& event : batch) {
//     if (event.value().empty()) out.Drop(event);
//   }
//
// Immutable once built; safe to read from any thread that can see its batch.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/types/span.h"

#include "pipeline/named_type.h"

namespace sluice {

// A header is a (name, value) pair of byte strings, as in Kafka.
struct Header {
  std::string_view key;
  std::string_view value;
};

// Where an event entered the pipeline. The acknowledgement machinery uses it to
// tell the source which (partition, offset) is done.
struct Origin {
  SourceId source{0};
  Partition partition{0};
  Offset offset{-1};
};

// The parts of an Event, for building one. The views must point into memory
// that the batch receiving the event owns or retains (see EventBatch).
struct EventFields {
  std::string_view key;
  std::string_view value;
  absl::Span<const Header> headers;
  int64_t timestamp_us = 0;
  Origin origin;
  uint32_t attempts = 0;
};

class Event {
 public:
  Event() = default;
  explicit Event(const EventFields& fields)
      : key_(fields.key),
        value_(fields.value),
        headers_(fields.headers.data()),
        header_count_(static_cast<uint32_t>(fields.headers.size())),
        attempts_(fields.attempts),
        timestamp_us_(fields.timestamp_us),
        origin_(fields.origin) {}

  EventFields fields() const {
    return {key_, value_, headers(), timestamp_us_, origin_, attempts_};
  }

  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }
  absl::Span<const Header> headers() const { return {headers_, header_count_}; }
  // Microseconds since the Unix epoch when the event was created at its
  // source (Kafka's message timestamp); used for end-to-end latency.
  int64_t timestamp_us() const { return timestamp_us_; }
  const Origin& origin() const { return origin_; }
  // How many times a stage has already tried and failed this event; 0 on the
  // first attempt.
  uint32_t attempts() const { return attempts_; }

  // The value of the first header named `name`, if any.
  std::optional<std::string_view> header(std::string_view name) const {
    for (const Header& h : headers()) {
      if (h.key == name) return h.value;
    }
    return std::nullopt;
  }

 private:
  friend class EventBatch;

  std::string_view key_;
  std::string_view value_;
  const Header* headers_ = nullptr;
  uint32_t header_count_ = 0;
  uint32_t attempts_ = 0;
  int64_t timestamp_us_ = 0;
  Origin origin_;
};

}  // namespace sluice
