// File: stages/json/filter_stage.h
//
// `type: filter` keeps the events whose JSON value passes a test on one
// field and drops the others. A dropped event is done: acknowledged, counted
// in `events_dropped`, its offset committable. One test per filter:
//
//   - name: errors_only
//     type: filter
//     field: /level
//     equals: [error, fatal]        # or not_equals, gt, gte, lt, lte,
//                                   # exists: true|false, matches: "RE2 regex"
//     invert: false
//
// How a field is compared:
//   - equals / not_equals: by JSON type (JsonScalar): `equals: 200` matches the
//     number 200 (and 200.0), not the string "200" (write `equals: "200"`).
//     A list matches any of its values. not_equals is the exact negation of
//     equals: a missing field is "not equal".
//   - gt, gte, lt, lte: the field must be a number; anything else (a missing
//     field, a string "150") does not match.
//   - exists: a field whose value is null exists.
//   - matches: the field must be a string; RE2 syntax, unanchored (a match
//     anywhere in the string; anchor with ^ and $).
//   - invert: true keeps exactly the events the test would drop.
//
// An event whose value is not valid JSON is neither kept nor dropped: it fails
// with kInvalidArgument (`not valid JSON at byte 3: ...`) and goes to the
// dead-letter queue, so that bad input is seen instead of silently filtered
// away. A valid document that is not an object (an array, a scalar) simply
// has no such field.
//
// Thread-compatible, as every stage; instances share only their immutable
// options (RE2 matching is thread-safe).
#pragma once

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include <re2/re2.h>

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/json/json_path.h"
#include "stages/json/json_scalar.h"

namespace sluice::stages {

// stages/json/json_parser.h: simdjson, kept out of headers other targets
// include (see json_dom.h).
class JsonParser;

struct FilterOptions {
  enum class Test { kEquals, kNotEquals, kGt, kGte, kLt, kLte, kExists, kMatches };

  // The field tested. REQUIRED.
  JsonPointer field;
  // Which test; exactly one of the keys must be given.
  Test test = Test::kExists;
  // equals / not_equals: the values (any of them).
  std::vector<JsonScalar> values;
  // gt / gte / lt / lte: the bound.
  JsonNumber bound;
  // exists: whether the field must be there.
  bool exists = true;
  // matches: the compiled regex.
  std::unique_ptr<const re2::RE2> regex;
  // Keep the events that fail the test instead. Defaults to false.
  bool invert = false;
};

class FilterStage final : public ProducerConsumer {
 public:
  explicit FilterStage(std::shared_ptr<const FilterOptions> options);
  ~FilterStage() override;

  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;

 private:
  std::shared_ptr<const FilterOptions> options_;
  std::unique_ptr<JsonParser> parser_;
};

// The maker registered as `filter`.
ProducerConsumerFactory MakeFilter(StageTypeContext& context);

}  // namespace sluice::stages
