// File: stages/json/json_transform_stage.h
//
// `type: json_transform` edits each event's JSON object: renames, deletes
// and sets fields.
//
//   - name: tidy
//     type: json_transform
//     rename: {/user_id: /user/id}      # from: to
//     delete: [/password, /debug]
//     set:
//       /source: sluice                 # a string
//       /version: 2                     # a number (unquoted JSON literal)
//       /tag: "2"                       # a string (quoted)
//       /meta: {team: payments, tier: 1}  # YAML maps and lists become JSON
//
// Order: every rename (in the order written), then every delete, then every
// set, so that what `set` writes is what comes out. Missing objects on the
// way to a set or rename target are created (`/user/id` makes `/user`). A
// rename whose source is missing and a delete of a missing field do nothing.
// In an array a token is an existing index, or `-` (set: append).
//
// The changed value is written minified into the output batch's memory (keys
// keep their order; numbers are written in their shortest exact form, a
// fraction stays a fraction: `1.50` becomes `1.5`, `2.0` stays `2.0`). An
// event no operation changes is passed on as it came, without a copy.
//
// Fails with kInvalidArgument (then dead-lettered): a value that is not valid
// JSON or not an object, and a set or rename that cannot be done:
//   field "/user/id": cannot set: "/user" is a string, not an object or array
//
// Thread-compatible, as every stage; instances share only their immutable
// options.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/json/json_path.h"

namespace sluice::stages {

struct JsonTransformOptions {
  struct Rename {
    JsonPointer from;
    JsonPointer to;
  };
  struct Set {
    JsonPointer field;
    // The value as JSON text.
    std::string json;
  };

  // At least one of these three. Each defaults to none.
  std::vector<Rename> rename;
  std::vector<JsonPointer> remove;  // `delete:`
  std::vector<Set> set;
  // Every set's value in one JSON array, parsed once per instance.
  std::string set_values_json;
};

class JsonTransformStage final : public ProducerConsumer {
 public:
  explicit JsonTransformStage(std::shared_ptr<const JsonTransformOptions> options);
  ~JsonTransformStage() override;

  // Parses the `set` values.
  absl::Status Start(const StageContext& context) override;
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;

 private:
  // The parsers, the tree being edited and the new value's text: simdjson
  // state, kept out of this header (see json_dom.h).
  struct Scratch;

  // Applies the operations to the scratch tree. Returns whether anything
  // changed, or why the event fails.
  absl::StatusOr<bool> Apply(const Event& event);

  std::shared_ptr<const JsonTransformOptions> options_;
  std::unique_ptr<Scratch> scratch_;
};

// The maker registered as `json_transform`.
ProducerConsumerFactory MakeJsonTransform(StageTypeContext& context);

}  // namespace sluice::stages
