#include "stages/json/json_parser.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "stages/json/json_syntax.h"

namespace sluice::stages {

absl::StatusOr<simdjson::dom::element> JsonParser::Parse(std::string_view json) {
  simdjson::dom::element root;
  // An empty view may have a null data(), which simdjson must not be given
  // (it memcpy()s from it); any valid pointer does for zero bytes.
  if (json.data() == nullptr) json = std::string_view("", 0);
  // realloc_if_needed: simdjson copies the value into the parser's own
  // padded buffer, which it keeps and only grows.
  const simdjson::error_code error =
      parser_.parse(json.data(), json.size(), /*realloc_if_needed=*/true).get(root);
  if (error == simdjson::SUCCESS) return root;
  if (error == simdjson::MEMALLOC || error == simdjson::CAPACITY) {
    return absl::ResourceExhaustedError(
        absl::StrCat("JSON parser: ", simdjson::error_message(error)));
  }
  std::optional<size_t> offset;
  if (error == simdjson::UTF8_ERROR) {
    offset = FindInvalidUtf8(json);
  } else if (error != simdjson::EMPTY) {
    offset = FindJsonErrorOffset(json);
  }
  if (!offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid JSON: ", simdjson::error_message(error)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not valid JSON at byte ", *offset, ": ", simdjson::error_message(error)));
}

}  // namespace sluice::stages
