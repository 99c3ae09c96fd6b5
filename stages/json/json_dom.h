// File: stages/json/json_dom.h
//
// Reading a parsed event value (a simdjson DOM element) the way the JSON
// stages do: a field by JsonPointer, the type name of a value, a number, and
// whether a value equals a config value (JsonScalar).
//
//   std::optional<simdjson::dom::element> level = FindField(root, pointer);
//   if (level && ScalarMatches(expected, *level)) ...
//
// Internal to sluice_stages. simdjson's class layouts depend on
// SIMDJSON_THREADS_ENABLED, which CMake's simdjson::simdjson target defines
// only for the targets that link it (sluice_stages, privately). So this
// header, json_parser.h and json_tree.h are included by sluice_stages' own
// sources only, never from a stage header another target (a test) includes:
// two layouts of one class in one program break the one-definition rule.
//
// Stateless functions; thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include <simdjson.h>

#include "stages/json/json_path.h"
#include "stages/json/json_scalar.h"

namespace sluice::stages {

// The element `pointer` designates in `root`, or nullopt if there is none (a
// missing key, an index past the end, or a step into a scalar). In an object
// with a repeated key the first wins.
std::optional<simdjson::dom::element> FindField(simdjson::dom::element root,
                                                const JsonPointer& pointer);

// "null", "boolean", "integer", "number", "string", "array", "object".
std::string_view JsonTypeName(simdjson::dom::element_type type);
// "null", "a boolean", "an integer", ...: for "is ..." messages.
std::string_view JsonTypeWithArticle(simdjson::dom::element_type type);
// The JsonTypeBit of `type`.
JsonTypeSet JsonTypeOf(simdjson::dom::element_type type);

// The number in `element`, or nullopt if it holds no number.
std::optional<JsonNumber> NumberOf(simdjson::dom::element element);
// True if `element` is a value of the same JSON type as `scalar`, and equal
// (numbers by value).
bool ScalarMatches(const JsonScalar& scalar, simdjson::dom::element element);

}  // namespace sluice::stages
