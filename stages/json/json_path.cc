#include "stages/json/json_path.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"

namespace sluice::stages {
namespace {

std::optional<size_t> ParseArrayIndex(std::string_view token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  size_t index = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return index;
}

}  // namespace

absl::StatusOr<JsonPointer> JsonPointer::Parse(std::string_view text) {
  if (text.empty() || text[0] != '/') {
    std::string message =
        absl::StrCat("\"", Av(text), "\" is not a JSON Pointer: it must start with \"/\"");
    if (!text.empty()) absl::StrAppend(&message, " (did you mean \"/", Av(text), "\"?)");
    return absl::InvalidArgumentError(message);
  }
  JsonPointer pointer;
  pointer.text_ = std::string(text);
  size_t position = 1;
  while (true) {
    JsonPointerToken token;
    while (position < text.size() && text[position] != '/') {
      const char c = text[position];
      if (c == '~') {
        const char next = position + 1 < text.size() ? text[position + 1] : '\0';
        if (next != '0' && next != '1') {
          return absl::InvalidArgumentError(
              absl::StrCat("\"", Av(text), "\" is not a valid JSON Pointer: \"~\" at byte ",
                           position, " must be followed by 0 or 1 (~0 is \"~\", ~1 is \"/\")"));
        }
        token.name += next == '0' ? '~' : '/';
        position += 2;
      } else {
        token.name += c;
        ++position;
      }
    }
    token.index = ParseArrayIndex(token.name);
    token.end_offset = position;
    pointer.tokens_.push_back(std::move(token));
    if (position >= text.size()) break;
    ++position;  // the "/" before the next token
  }
  return pointer;
}

std::string_view JsonPointer::Prefix(size_t count) const {
  if (count == 0) return {};
  return std::string_view(text_).substr(0, tokens_[count - 1].end_offset);
}

namespace {

struct NamedTypes {
  std::string_view name;
  JsonTypeSet types;
};

// In the order messages list them. `number` comes before `integer` so that a
// set holding both reads "number".
constexpr NamedTypes kTypeNames[] = {
    {"null", kJsonNull},       {"boolean", kJsonBoolean}, {"number", kJsonInteger | kJsonFloat},
    {"integer", kJsonInteger}, {"string", kJsonString},   {"array", kJsonArray},
    {"object", kJsonObject},
};

}  // namespace

std::optional<JsonTypeSet> ParseJsonTypeName(std::string_view name) {
  for (const NamedTypes& named : kTypeNames) {
    if (named.name == name) return named.types;
  }
  return std::nullopt;
}

std::string DescribeJsonTypes(JsonTypeSet types) {
  std::string text;
  JsonTypeSet left = types;
  for (const NamedTypes& named : kTypeNames) {
    if ((left & named.types) != named.types) continue;
    if (!text.empty()) text += " or ";
    text += named.name;
    left = static_cast<JsonTypeSet>(left & ~named.types);
  }
  return text;
}

std::string_view JsonTypeNames() { return "null, boolean, integer, number, string, array, object"; }

std::optional<JsonPointer> ParseJsonPointerAt(OptionReader& options, std::string_view key,
                                              const SourceMark& mark, std::string_view text) {
  absl::StatusOr<JsonPointer> pointer = JsonPointer::Parse(text);
  if (!pointer.ok()) {
    options.ErrorAt(mark, absl::StrCat(Av(key), ": ", pointer.status().message()));
    return std::nullopt;
  }
  return *std::move(pointer);
}

std::optional<JsonPointer> ReadJsonPointer(OptionReader& options, std::string_view key,
                                           bool required) {
  const ConfigNode* node = options.Node(key);
  if (node == nullptr) {
    if (required) {
      options.ErrorAt(options.mark(),
                      absl::StrCat(Av(key), ": required (a JSON Pointer such as /user/id)"));
    }
    return std::nullopt;
  }
  std::optional<std::string> text = options.String(key);
  if (!text) return std::nullopt;
  return ParseJsonPointerAt(options, key, node->mark(), *text);
}

std::vector<JsonPointer> ReadJsonPointerList(OptionReader& options, std::string_view key) {
  std::vector<JsonPointer> pointers;
  const ConfigNode* node = options.Node(key);
  if (node == nullptr) return pointers;
  auto add = [&](const ConfigNode& item) {
    if (!item.is_scalar()) {
      options.ErrorAt(item.mark(), absl::StrCat(Av(key), ": expected a JSON Pointer, got ",
                                                Av(item.kind_name())));
      return;
    }
    if (std::optional<JsonPointer> pointer =
            ParseJsonPointerAt(options, key, item.mark(), item.scalar())) {
      pointers.push_back(*std::move(pointer));
    }
  };
  if (node->is_sequence()) {
    for (const ConfigNode& item : node->items()) add(item);
  } else if (node->is_scalar()) {
    add(*node);
  } else {
    options.Error(key, absl::StrCat("expected a JSON Pointer or a list of them, got ",
                                    Av(node->kind_name())));
  }
  return pointers;
}

}  // namespace sluice::stages
