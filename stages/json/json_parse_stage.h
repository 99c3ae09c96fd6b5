// File: stages/json/json_parse_stage.h
//
// `type: json_parse` checks that each event's value is a JSON object of the
// expected shape, so that later stages (and sinks) can rely on it. Valid
// events pass unchanged, without a copy; an invalid one fails with
// kInvalidArgument, which is not retried, so it goes straight to the
// dead-letter queue with a message naming the field and the problem:
//
//   value is 70000 bytes, over max_bytes 65536
//   not valid JSON at byte 12: Problem while parsing a number
//   expected a JSON object, got array
//   field "/user/name": required but missing
//   field "/amount": expected number, got string
//
//   - name: parse
//     type: json_parse
//     max_bytes: 64KiB
//     required: [/id, /user/name]
//     types: {/id: integer, /amount: number, /tags: array}
//
// Checks run in that order (size, syntax, object, required, types) and the
// first failure is reported. Thread-compatible, as every stage; instances
// share only their immutable options.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/json/json_path.h"

namespace sluice::stages {

// stages/json/json_parser.h: simdjson, kept out of headers other targets
// include (see json_dom.h).
class JsonParser;

struct JsonParseOptions {
  // Fields that must be present (any value, null included). Defaults to none.
  std::vector<JsonPointer> required;

  struct TypeCheck {
    JsonPointer field;
    // The accepted types (`integer` or `[integer, string]`).
    JsonTypeSet types = 0;
  };
  // Types of fields, checked when the field is present (list it in
  // `required` too to insist on it). Defaults to none.
  std::vector<TypeCheck> types;

  // Values longer than this fail before parsing. Defaults to no limit.
  std::optional<uint64_t> max_bytes;
};

class JsonParseStage final : public ProducerConsumer {
 public:
  explicit JsonParseStage(std::shared_ptr<const JsonParseOptions> options);
  ~JsonParseStage() override;

  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;

  // OK, or kInvalidArgument saying what is wrong with `value`.
  absl::Status Check(std::string_view value);

 private:
  std::shared_ptr<const JsonParseOptions> options_;
  std::unique_ptr<JsonParser> parser_;
};

// The maker registered as `json_parse`: reads `required`, `types` and
// `max_bytes`.
ProducerConsumerFactory MakeJsonParse(StageTypeContext& context);

}  // namespace sluice::stages
