#include "tools/config/yaml_loader.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "yaml-cpp/yaml.h"

#include "pipeline/config/config_errors.h"
#include "pipeline/string_view_compat.h"

namespace sluice::config {
namespace {

using FileName = std::shared_ptr<const std::string>;

SourceMark MarkOf(const YAML::Mark& mark, const FileName& file) {
  // yaml-cpp counts from 0; editors count from 1.
  return SourceMark{file, mark.line + 1, mark.column + 1};
}

class Converter {
 public:
  Converter(FileName file, const LoadOptions& options, ConfigErrors& errors)
      : file_(std::move(file)), options_(options), errors_(errors) {}

  ConfigNode Convert(const YAML::Node& node) {
    const SourceMark mark = MarkOf(node.Mark(), file_);
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return ConfigNode::Null(mark);
      case YAML::NodeType::Scalar: {
        // yaml-cpp tags plain scalars "?" and quoted ones "!".
        const bool quoted = node.Tag() == "!";
        return ConfigNode::Scalar(Interpolate(node.Scalar(), mark), mark, quoted);
      }
      case YAML::NodeType::Sequence: {
        ConfigNode sequence = ConfigNode::Sequence(mark);
        for (const YAML::Node& item : node) sequence.Append(Convert(item));
        return sequence;
      }
      case YAML::NodeType::Map: {
        ConfigNode map = ConfigNode::Map(mark);
        std::set<std::string> seen;
        for (const auto& pair : node) {
          const SourceMark key_mark = MarkOf(pair.first.Mark(), file_);
          if (!pair.first.IsScalar()) {
            errors_.Add(key_mark, "a key must be a plain value");
            continue;
          }
          const std::string key = pair.first.Scalar();
          if (!seen.insert(key).second) {
            errors_.Add(key_mark, absl::StrCat("duplicate key \"", key, "\""));
            continue;
          }
          map.mutable_entries().push_back({key, key_mark, Convert(pair.second)});
        }
        return map;
      }
    }
    return ConfigNode::Null(mark);
  }

 private:
  std::optional<std::string> Lookup(const std::string& name) const {
    if (options_.environment != nullptr) {
      auto it = options_.environment->find(name);
      if (it == options_.environment->end()) return std::nullopt;
      return it->second;
    }
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  }

  // `${VAR}`, `${VAR:-default}` (default also when VAR is empty, as in sh),
  // `$$` for a literal `$`.
  std::string Interpolate(const std::string& text, const SourceMark& mark) {
    if (text.find('$') == std::string::npos) return text;
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '$') {
        out += text[i];
        continue;
      }
      if (i + 1 < text.size() && text[i + 1] == '$') {
        out += '$';
        ++i;
        continue;
      }
      if (i + 1 >= text.size() || text[i + 1] != '{') {
        out += '$';
        continue;
      }
      const size_t close = text.find('}', i + 2);
      if (close == std::string::npos) {
        errors_.Add(mark, absl::StrCat("unterminated \"${\" in \"", text, "\""));
        return text;
      }
      const std::string body = text.substr(i + 2, close - i - 2);
      const size_t dash = body.find(":-");
      const std::string name = body.substr(0, dash);
      if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
            return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
          })) {
        errors_.Add(mark, absl::StrCat("\"${", body, "}\": not a variable name"));
        return text;
      }
      std::optional<std::string> value = Lookup(name);
      if (dash != std::string::npos && (!value || value->empty())) {
        value = body.substr(dash + 2);
      }
      if (!value) {
        errors_.Add(mark, absl::StrCat("environment variable ", name, " is not set (write ${", name,
                                       ":-default} to give a default)"));
        return text;
      }
      out += *value;
      i = close;
    }
    return out;
  }

  FileName file_;
  const LoadOptions& options_;
  ConfigErrors& errors_;
};

void ApplyOverride(const std::string& text, ConfigNode& root, ConfigErrors& errors) {
  static const FileName kSetFile = std::make_shared<const std::string>("--set");
  const SourceMark mark{kSetFile, 0, 0};
  const size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    errors.Add(mark, absl::StrCat("\"", text, "\": expected path=value"));
    return;
  }
  const std::string path = text.substr(0, equals);
  const std::string value = text.substr(equals + 1);
  std::vector<std::string> segments = absl::StrSplit(path, '.');
  ConfigNode* node = &root;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = segments[i];
    const bool last = i + 1 == segments.size();
    if (segment.empty()) {
      errors.Add(mark, absl::StrCat("\"", path, "\": empty path segment"));
      return;
    }
    if (node->is_sequence()) {
      ConfigNode* next = nullptr;
      size_t index = 0;
      if (absl::SimpleAtoi(segment, &index)) {
        if (index < node->items().size()) next = &node->mutable_items()[index];
      } else {
        for (ConfigNode& item : node->mutable_items()) {
          const ConfigNode* name = item.Find("name");
          if (name != nullptr && name->is_scalar() && name->scalar() == segment) next = &item;
        }
      }
      if (next == nullptr) {
        errors.Add(mark, absl::StrCat("\"", path, "\": no item \"", segment, "\" in the list"));
        return;
      }
      if (last) {
        *next = ConfigNode::Scalar(value, mark);
        return;
      }
      node = next;
      continue;
    }
    if (node->is_null()) *node = ConfigNode::Map(mark);
    if (!node->is_map()) {
      errors.Add(mark, absl::StrCat("\"", path, "\": \"", segment, "\" is inside a ",
                                    Av(node->kind_name())));
      return;
    }
    if (last) {
      node->Set(segment, mark, ConfigNode::Scalar(value, mark));
      return;
    }
    ConfigNode* next = node->FindMutable(segment);
    if (next == nullptr) {
      node->Set(segment, mark, ConfigNode::Map(mark));
      next = node->FindMutable(segment);
    }
    node = next;
  }
}

void EmitNode(const ConfigNode& node, YAML::Emitter& out) {
  switch (node.kind()) {
    case ConfigNode::Kind::kNull:
      out << YAML::Null;
      return;
    case ConfigNode::Kind::kScalar:
      if (node.quoted()) out << YAML::DoubleQuoted;
      out << node.scalar();
      return;
    case ConfigNode::Kind::kSequence:
      out << YAML::BeginSeq;
      for (const ConfigNode& item : node.items()) EmitNode(item, out);
      out << YAML::EndSeq;
      return;
    case ConfigNode::Kind::kMap:
      out << YAML::BeginMap;
      for (const ConfigNode::Entry& entry : node.entries()) {
        out << YAML::Key << entry.key << YAML::Value;
        if (IsSecretKey(entry.key) && !entry.value.is_null()) {
          out << "******";
        } else {
          EmitNode(entry.value, out);
        }
      }
      out << YAML::EndMap;
      return;
  }
}

}  // namespace

bool IsSecretKey(std::string_view key) {
  const std::string lower = absl::AsciiStrToLower(Av(key));
  // librdkafka properties (a Kafka stage's `properties:`) holding secrets
  // that the words below miss; the full list is
  // connectors::kafka::KnownSecretProperties(), and a test checks that every
  // one of them is masked here.
  for (const char* name :
       {"ssl.key.pem", "ssl_key", "sasl.oauthbearer.config", "ssl.engine.callback_data"}) {
    if (lower == name) return true;
  }
  for (const char* word : {"password", "secret", "token", "api_key", "apikey", "credential",
                           "private_key", "passphrase"}) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

std::string ToYaml(const ConfigNode& node) {
  YAML::Emitter out;
  EmitNode(node, out);
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<ConfigNode> LoadYamlString(std::string_view text, std::string_view name,
                                          const LoadOptions& options, ConfigErrors& errors) {
  auto file = std::make_shared<const std::string>(name);
  YAML::Node document;
  try {
    document = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& error) {
    ConfigErrors fatal = errors;
    fatal.Add(MarkOf(error.mark, file), absl::StrCat("malformed YAML: ", error.msg));
    return fatal.ToStatus();
  } catch (const YAML::Exception& error) {
    ConfigErrors fatal = errors;
    fatal.Add(SourceMark{file, 1, 1}, absl::StrCat("malformed YAML: ", error.what()));
    return fatal.ToStatus();
  }
  Converter converter(file, options, errors);
  ConfigNode root = converter.Convert(document);
  if (root.is_null()) {
    ConfigErrors fatal = errors;
    fatal.Add(SourceMark{file, 1, 1}, "the file is empty: expected a pipeline (name, stages, ...)");
    return fatal.ToStatus();
  }
  for (const std::string& override_text : options.overrides) {
    ApplyOverride(override_text, root, errors);
  }
  return root;
}

absl::StatusOr<ConfigNode> LoadYamlString(std::string_view text, std::string_view name,
                                          const LoadOptions& options) {
  ConfigErrors errors;
  absl::StatusOr<ConfigNode> root = LoadYamlString(text, name, options, errors);
  if (!root.ok()) return root;
  if (!errors.empty()) return errors.ToStatus();
  return root;
}

absl::StatusOr<ConfigNode> LoadYamlFile(const std::string& path, const LoadOptions& options,
                                        ConfigErrors& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the file"));
  std::ostringstream text;
  text << in.rdbuf();
  return LoadYamlString(text.str(), path, options, errors);
}

absl::StatusOr<ConfigNode> LoadYamlFile(const std::string& path, const LoadOptions& options) {
  ConfigErrors errors;
  absl::StatusOr<ConfigNode> root = LoadYamlFile(path, options, errors);
  if (!root.ok()) return root;
  if (!errors.empty()) return errors.ToStatus();
  return root;
}

}  // namespace sluice::config
