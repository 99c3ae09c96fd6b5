// File: stages/json/json_syntax.h
//
// Where a value stops being valid JSON, for error messages: simdjson says
// what is wrong but not where, so once it has refused a value this finds the
// first bad byte (`not valid JSON at byte 9: ...`).
//
//   FindJsonErrorOffset(R"({"id": 1,)");   // 9: the value ends early
//
// Stateless functions; thread-safe. Free of simdjson.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace sluice::stages {

// The 0-based offset of the first byte at which `json` stops being valid
// JSON (RFC 8259, UTF-8, nesting up to 1024 levels, numbers that fit a double
// or a 64-bit integer, as simdjson requires), json.size() if it ends too
// early, or nullopt if it is valid. Slow: for error messages only.
std::optional<size_t> FindJsonErrorOffset(std::string_view json);

// The offset of the first byte of `text` that does not start a valid UTF-8
// sequence (overlong forms and surrogates are invalid), or nullopt.
std::optional<size_t> FindInvalidUtf8(std::string_view text);

}  // namespace sluice::stages
