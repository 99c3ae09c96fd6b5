// File: stages/flow/event_key_source.h
//
// An EventKeySource names the bytes that identify an event for the flow
// stages' `by:` option: `key` (the event's key), `value` (its whole value) or
// `header:<name>` (the value of its first header named <name>). `sample`
// decides by them, `dedupe` compares them.
//
//   by: key               # default for dedupe
//   by: header:order-id   # the value of header "order-id"
//
// Immutable once built.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "pipeline/config/option_reader.h"
#include "pipeline/event.h"

namespace sluice::stages {

class EventKeySource {
 public:
  enum class Part { kKey, kValue, kHeader };

  static EventKeySource Key() { return {Part::kKey, ""}; }
  static EventKeySource Value() { return {Part::kValue, ""}; }
  static EventKeySource HeaderNamed(std::string name) { return {Part::kHeader, std::move(name)}; }

  // The identifying bytes of `event` (a view into its batch), or nullopt if
  // it has no header of that name. A key or value is always there, if empty.
  std::optional<std::string_view> Of(const Event& event) const {
    switch (part_) {
      case Part::kKey:
        return event.key();
      case Part::kValue:
        return event.value();
      case Part::kHeader:
        return event.header(header_);
    }
    return std::nullopt;
  }

  Part part() const { return part_; }
  // The header's name for kHeader; empty otherwise.
  const std::string& header() const { return header_; }

 private:
  EventKeySource(Part part, std::string header) : part_(part), header_(std::move(header)) {}

  Part part_;
  std::string header_;
};

// Reads `by:` from `options`. Returns nullopt if the key is absent, or if its
// value is not `key`, `value` or `header:<name>` with a non-empty name (then
// the error is recorded in `options`, at the value's place); tell the two
// apart with options.has("by").
std::optional<EventKeySource> ReadEventKeySource(OptionReader& options);

}  // namespace sluice::stages
