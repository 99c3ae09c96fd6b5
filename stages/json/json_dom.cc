#include "stages/json/json_dom.h"

namespace sluice::stages {

std::optional<simdjson::dom::element> FindField(simdjson::dom::element root,
                                                const JsonPointer& pointer) {
  simdjson::dom::element current = root;
  for (const JsonPointerToken& token : pointer.tokens()) {
    simdjson::dom::element next;
    if (current.is_object()) {
      if (current.get_object().value_unsafe().at_key(token.name).get(next) != simdjson::SUCCESS) {
        return std::nullopt;
      }
    } else if (current.is_array()) {
      if (!token.index ||
          current.get_array().value_unsafe().at(*token.index).get(next) != simdjson::SUCCESS) {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
    current = next;
  }
  return current;
}

std::string_view JsonTypeName(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
    case simdjson::dom::element_type::BOOL:
      return "boolean";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      return "integer";
    case simdjson::dom::element_type::DOUBLE:
      return "number";
    case simdjson::dom::element_type::STRING:
      return "string";
    case simdjson::dom::element_type::ARRAY:
      return "array";
    case simdjson::dom::element_type::OBJECT:
      return "object";
  }
  return "unknown";
}

std::string_view JsonTypeWithArticle(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
    case simdjson::dom::element_type::BOOL:
      return "a boolean";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      return "an integer";
    case simdjson::dom::element_type::DOUBLE:
      return "a number";
    case simdjson::dom::element_type::STRING:
      return "a string";
    case simdjson::dom::element_type::ARRAY:
      return "an array";
    case simdjson::dom::element_type::OBJECT:
      return "an object";
  }
  return "unknown";
}

JsonTypeSet JsonTypeOf(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::NULL_VALUE:
      return kJsonNull;
    case simdjson::dom::element_type::BOOL:
      return kJsonBoolean;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      return kJsonInteger;
    case simdjson::dom::element_type::DOUBLE:
      return kJsonFloat;
    case simdjson::dom::element_type::STRING:
      return kJsonString;
    case simdjson::dom::element_type::ARRAY:
      return kJsonArray;
    case simdjson::dom::element_type::OBJECT:
      return kJsonObject;
  }
  return 0;
}

std::optional<JsonNumber> NumberOf(simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::INT64:
      return JsonNumber::Int64(element.get_int64().value_unsafe());
    case simdjson::dom::element_type::UINT64:
      return JsonNumber::Uint64(element.get_uint64().value_unsafe());
    case simdjson::dom::element_type::DOUBLE:
      return JsonNumber::Double(element.get_double().value_unsafe());
    default:
      return std::nullopt;
  }
}

bool ScalarMatches(const JsonScalar& scalar, simdjson::dom::element element) {
  switch (scalar.kind()) {
    case JsonScalar::Kind::kNull:
      return element.is_null();
    case JsonScalar::Kind::kBoolean:
      return element.is_bool() && element.get_bool().value_unsafe() == scalar.boolean();
    case JsonScalar::Kind::kNumber: {
      std::optional<JsonNumber> number = NumberOf(element);
      return number && *number == scalar.number();
    }
    case JsonScalar::Kind::kString:
      return element.is_string() && element.get_string().value_unsafe() == scalar.string();
  }
  return false;
}

}  // namespace sluice::stages
