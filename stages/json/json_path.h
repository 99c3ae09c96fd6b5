// File: stages/json/json_path.h
//
// Field paths for the JSON stages: a JsonPointer is an RFC 6901 pointer
// (`/user/id`, `/tags/0`, `/a~1b` for the key "a/b"), parsed once from the
// config and then looked up in every event's document without re-parsing
// (json_dom.h). Also here: the JSON type names the stages speak (`integer`,
// `string`, ...) and how makers read pointers from their options.
//
//   SLUICE_ASSIGN_OR_RETURN(JsonPointer pointer, JsonPointer::Parse("/user/id"));
//   pointer.tokens()[1].name;   // "id"
//
// Free of simdjson, so that any target may include it (see json_dom.h).
// JsonPointer is an immutable value type: safe to share between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "pipeline/config/option_reader.h"

namespace sluice::stages {

// One reference token of a pointer, unescaped (`~1` is "/", `~0` is "~").
struct JsonPointerToken {
  std::string name;
  // The token read as an array index (digits without a leading zero), if it
  // is one.
  std::optional<size_t> index;
  // Where this token ends in the pointer's text: names the prefix in
  // messages (`"/user" is a string`).
  size_t end_offset = 0;
};

class JsonPointer {
 public:
  // Parses `text`. Errors (kInvalidArgument): empty, not starting with "/",
  // a "~" not followed by 0 or 1.
  static absl::StatusOr<JsonPointer> Parse(std::string_view text);

  // The pointer as written in the config, for messages.
  const std::string& text() const { return text_; }
  const std::vector<JsonPointerToken>& tokens() const { return tokens_; }
  // The text of the first `count` tokens ("/user" for 1 in "/user/id").
  std::string_view Prefix(size_t count) const;

 private:
  std::string text_;
  std::vector<JsonPointerToken> tokens_;
};

// Sets of the types the stages name in options and messages. `integer` is a
// number written without a fraction or exponent (`1`, `-7`, not `1.0`);
// `number` is any number (kJsonInteger | kJsonFloat).
enum JsonTypeBit : uint8_t {
  kJsonNull = 1 << 0,
  kJsonBoolean = 1 << 1,
  kJsonInteger = 1 << 2,
  kJsonFloat = 1 << 3,  // a number with a fraction or exponent
  kJsonString = 1 << 4,
  kJsonArray = 1 << 5,
  kJsonObject = 1 << 6,
};
using JsonTypeSet = uint8_t;

// The set a type name stands for; nullopt for an unknown name.
std::optional<JsonTypeSet> ParseJsonTypeName(std::string_view name);
// "integer or string", for messages.
std::string DescribeJsonTypes(JsonTypeSet types);
// The names ParseJsonTypeName() accepts, comma-separated, for messages.
std::string_view JsonTypeNames();

// Reads the JSON Pointer under `key`. A missing key is reported if
// `required` (`field: required (a JSON Pointer such as /user/id)`); a bad
// pointer always is, at its place, with a hint:
// `"id" is not a JSON Pointer: it must start with "/" (did you mean "/id"?)`.
std::optional<JsonPointer> ReadJsonPointer(OptionReader& options, std::string_view key,
                                           bool required);
// Reads a pointer or a list of pointers under `key` (`required: [/id, /user/name]`),
// reporting each bad one at its place. Empty if the key is absent.
std::vector<JsonPointer> ReadJsonPointerList(OptionReader& options, std::string_view key);
// Parses `text`, written at `mark` under option `key`, reporting errors there.
std::optional<JsonPointer> ParseJsonPointerAt(OptionReader& options, std::string_view key,
                                              const SourceMark& mark, std::string_view text);

}  // namespace sluice::stages
