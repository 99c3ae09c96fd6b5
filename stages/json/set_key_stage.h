// File: stages/json/set_key_stage.h
//
// `type: set_key` sets each event's key from a field of its JSON value, so
// that a `partition` dispatch, a keyed sink or a Kafka topic groups events by
// it:
//
//   - name: by_user
//     type: set_key
//     field: /user/id
//     on_missing: fail          # or keep (the event keeps its old key)
//
// A string field becomes the key as its text (unescaped, no quotes); a number
// as JSON writes it (`42`, `-7`, `1.5`). A field that is missing or null
// fails the event with kInvalidArgument (`field "/user/id": missing, so the
// key cannot be set`), unless `on_missing: keep`. A field of another type
// (boolean, array, object) always fails. An event whose value is not valid
// JSON fails too. The value, headers and timestamp are passed on unchanged.
//
// Thread-compatible, as every stage; instances share only their immutable
// options.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/json/json_path.h"

namespace sluice::stages {

// stages/json/json_parser.h: simdjson, kept out of headers other targets
// include (see json_dom.h).
class JsonParser;

struct SetKeyOptions {
  // The field the key comes from. REQUIRED.
  JsonPointer field;
  // `on_missing: keep`: an event without the field (or with null) keeps its
  // key instead of failing. Defaults to false (`fail`).
  bool keep_on_missing = false;
};

class SetKeyStage final : public ProducerConsumer {
 public:
  explicit SetKeyStage(std::shared_ptr<const SetKeyOptions> options);
  ~SetKeyStage() override;

  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;

 private:
  std::shared_ptr<const SetKeyOptions> options_;
  std::unique_ptr<JsonParser> parser_;
  // A number's text; reused (Emit() copies the key into the output).
  std::string number_text_;
};

// The maker registered as `set_key`.
ProducerConsumerFactory MakeSetKey(StageTypeContext& context);

}  // namespace sluice::stages
