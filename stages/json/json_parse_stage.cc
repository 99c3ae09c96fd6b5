#include "stages/json/json_parse_stage.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"
#include "stages/json/json_dom.h"
#include "stages/json/json_parser.h"

namespace sluice::stages {

JsonParseStage::JsonParseStage(std::shared_ptr<const JsonParseOptions> options)
    : options_(std::move(options)), parser_(std::make_unique<JsonParser>()) {}

JsonParseStage::~JsonParseStage() = default;

absl::Status JsonParseStage::Check(std::string_view value) {
  if (options_->max_bytes && value.size() > *options_->max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("value is ", value.size(), " bytes, over max_bytes ", *options_->max_bytes));
  }
  absl::StatusOr<simdjson::dom::element> root = parser_->Parse(value);
  if (!root.ok()) return root.status();
  if (!root->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a JSON object, got ", Av(JsonTypeName(root->type()))));
  }
  for (const JsonPointer& field : options_->required) {
    if (!FindField(*root, field)) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", field.text(), "\": required but missing"));
    }
  }
  for (const JsonParseOptions::TypeCheck& check : options_->types) {
    std::optional<simdjson::dom::element> element = FindField(*root, check.field);
    if (!element || (JsonTypeOf(element->type()) & check.types) != 0) continue;
    return absl::InvalidArgumentError(absl::StrCat("field \"", check.field.text(), "\": expected ",
                                                   DescribeJsonTypes(check.types), ", got ",
                                                   Av(JsonTypeName(element->type()))));
  }
  return absl::OkStatus();
}

absl::Status JsonParseStage::HandleEvents(const EventBatch& batch, Output& out) {
  for (const Event& event : batch) {
    if (absl::Status valid = Check(event.value()); valid.ok()) {
      out.Emit(event);
    } else {
      out.Fail(event, std::move(valid));
    }
  }
  return absl::OkStatus();
}

namespace {

// `types:` is a map of field to a type name or a list of them.
std::vector<JsonParseOptions::TypeCheck> ReadTypeChecks(OptionReader& options) {
  std::vector<JsonParseOptions::TypeCheck> checks;
  const ConfigNode* node = options.Node("types");
  if (node == nullptr) return checks;
  if (!node->is_map()) {
    options.Error("types", absl::StrCat("expected a map of field to type (/id: integer), got ",
                                        Av(node->kind_name())));
    return checks;
  }
  for (const ConfigNode::Entry& entry : node->entries()) {
    std::optional<JsonPointer> field =
        ParseJsonPointerAt(options, "types", entry.key_mark, entry.key);
    JsonTypeSet types = 0;
    bool ok = field.has_value();
    auto add = [&](const ConfigNode& name) {
      std::optional<JsonTypeSet> parsed;
      if (name.is_scalar()) parsed = ParseJsonTypeName(name.scalar());
      if (!parsed) {
        options.ErrorAt(name.mark(),
                        absl::StrCat("types: ", entry.key, ": ",
                                     name.is_scalar() ? absl::StrCat("\"", name.scalar(), "\"")
                                                      : std::string(Av(name.kind_name())),
                                     " is not a type; use one of: ", Av(JsonTypeNames())));
        ok = false;
        return;
      }
      types = static_cast<JsonTypeSet>(types | *parsed);
    };
    if (entry.value.is_sequence() && !entry.value.items().empty()) {
      for (const ConfigNode& item : entry.value.items()) add(item);
    } else {
      add(entry.value);
    }
    if (ok) checks.push_back({*std::move(field), types});
  }
  return checks;
}

}  // namespace

ProducerConsumerFactory MakeJsonParse(StageTypeContext& context) {
  OptionReader& options = context.options;
  auto parse_options = std::make_shared<JsonParseOptions>();
  parse_options->required = ReadJsonPointerList(options, "required");
  parse_options->types = ReadTypeChecks(options);
  parse_options->max_bytes = options.Bytes("max_bytes");
  if (parse_options->max_bytes && *parse_options->max_bytes == 0) {
    options.Error("max_bytes", "must be at least 1");
  }
  if (options.failed()) return nullptr;
  return [parse_options = std::shared_ptr<const JsonParseOptions>(std::move(parse_options))](
             const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<JsonParseStage>(parse_options);
  };
}

SLUICE_REGISTER_PRODUCER_CONSUMER("json_parse", MakeJsonParse);

}  // namespace sluice::stages
