// File: stages/json/json_parser.h
//
// A JsonParser parses event values with simdjson's DOM parser, reusing its
// memory from one event to the next: the value is copied into the parser's
// own padded buffer (simdjson reads up to 64 bytes past the end, which an
// event's view into its batch does not allow), and both that buffer and the
// document only grow, so a stage in its steady state parses without a heap
// allocation. A parse error says what is wrong and where:
//
//   not valid JSON at byte 7: Problem while parsing a number
//
//   JsonParser parser;
//   absl::StatusOr<simdjson::dom::element> root = parser.Parse(event.value());
//   if (!root.ok()) out.Fail(event, root.status());
//
// Internal to sluice_stages (see json_dom.h on why simdjson stays out of
// headers other targets include).
//
// Thread-compatible: one per stage instance. The element a Parse() returns,
// and every string in it, is valid until the next Parse().
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include <simdjson.h>

namespace sluice::stages {

class JsonParser {
 public:
  JsonParser() = default;
  JsonParser(const JsonParser&) = delete;
  JsonParser& operator=(const JsonParser&) = delete;

  // The document's root. Errors: kInvalidArgument `not valid JSON at byte N:
  // <simdjson's message>` (N counts from 0; left out when it cannot be told);
  // kResourceExhausted if the parser cannot get the memory.
  absl::StatusOr<simdjson::dom::element> Parse(std::string_view json);

 private:
  simdjson::dom::parser parser_;
};

}  // namespace sluice::stages
