#include "stages/json/json_transform_stage.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <simdjson.h>

#include "pipeline/string_view_compat.h"
#include "stages/json/json_dom.h"
#include "stages/json/json_parser.h"
#include "stages/json/json_tree.h"
#include "stages/json/json_writer.h"

namespace sluice::stages {

struct JsonTransformStage::Scratch {
  JsonParser parser;
  // Owns the document the set values live in; never parses again.
  simdjson::dom::parser values_parser;
  std::vector<simdjson::dom::element> set_values;
  JsonTree tree;
  // The new value, before it is copied into the output batch.
  std::string text;
};

JsonTransformStage::JsonTransformStage(std::shared_ptr<const JsonTransformOptions> options)
    : options_(std::move(options)), scratch_(std::make_unique<Scratch>()) {}

JsonTransformStage::~JsonTransformStage() = default;

absl::Status JsonTransformStage::Start(const StageContext& context) {
  (void)context;
  simdjson::dom::element values;
  const simdjson::error_code error =
      scratch_->values_parser.parse(options_->set_values_json).get(values);
  if (error != simdjson::SUCCESS || !values.is_array()) {
    // The maker wrote this text: a failure here is a bug.
    return absl::InternalError(
        absl::StrCat("json_transform: set values do not parse: ", simdjson::error_message(error)));
  }
  scratch_->set_values.clear();
  const simdjson::dom::array array = values.get_array().value_unsafe();
  for (simdjson::dom::element value : array) scratch_->set_values.push_back(value);
  return absl::OkStatus();
}

absl::StatusOr<bool> JsonTransformStage::Apply(const Event& event) {
  absl::StatusOr<simdjson::dom::element> root = scratch_->parser.Parse(event.value());
  if (!root.ok()) return std::move(root).status();
  if (!root->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a JSON object, got ", Av(JsonTypeName(root->type()))));
  }
  JsonTree& tree = scratch_->tree;
  tree.Clear();
  tree.SetRoot(tree.Import(*root));
  bool changed = false;
  for (const JsonTransformOptions::Rename& rename : options_->rename) {
    const JsonTree::NodeId moved = tree.Detach(rename.from);
    if (moved == JsonTree::kNoNode) continue;
    changed = true;
    if (absl::Status put = tree.Put(rename.to, moved); !put.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("field \"", rename.to.text(),
                                                     "\": cannot rename \"", rename.from.text(),
                                                     "\" to it: ", put.message()));
    }
  }
  for (const JsonPointer& field : options_->remove) {
    changed = tree.Remove(field) || changed;
  }
  for (size_t i = 0; i < options_->set.size(); ++i) {
    const JsonPointer& field = options_->set[i].field;
    if (absl::Status put = tree.Put(field, tree.Import(scratch_->set_values[i])); !put.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", field.text(), "\": cannot set: ", put.message()));
    }
    changed = true;
  }
  return changed;
}

absl::Status JsonTransformStage::HandleEvents(const EventBatch& batch, Output& out) {
  for (const Event& event : batch) {
    absl::StatusOr<bool> changed = Apply(event);
    if (!changed.ok()) {
      out.Fail(event, std::move(changed).status());
      continue;
    }
    if (!*changed) {
      out.Emit(event);
      continue;
    }
    std::string& text = scratch_->text;
    text.clear();
    scratch_->tree.Serialize(text);
    absl::Span<char> value = out.Allocate(text.size());
    std::memcpy(value.data(), text.data(), text.size());
    out.Emit(event, {.value = std::string_view(value.data(), value.size())});
  }
  return absl::OkStatus();
}

namespace {

// A map of JSON Pointer to JSON Pointer (`rename:`).
std::vector<JsonTransformOptions::Rename> ReadRenames(OptionReader& options) {
  std::vector<JsonTransformOptions::Rename> renames;
  const ConfigNode* node = options.Node("rename");
  if (node == nullptr) return renames;
  if (!node->is_map()) {
    options.Error("rename", absl::StrCat("expected a map of field to new field (/old: /new), got ",
                                         Av(node->kind_name())));
    return renames;
  }
  for (const ConfigNode::Entry& entry : node->entries()) {
    std::optional<JsonPointer> from =
        ParseJsonPointerAt(options, "rename", entry.key_mark, entry.key);
    if (!entry.value.is_scalar()) {
      options.ErrorAt(entry.value.mark(),
                      absl::StrCat("rename: ", entry.key, ": expected a JSON Pointer, got ",
                                   Av(entry.value.kind_name())));
      continue;
    }
    std::optional<JsonPointer> to =
        ParseJsonPointerAt(options, "rename", entry.value.mark(), entry.value.scalar());
    if (from && to) renames.push_back({*std::move(from), *std::move(to)});
  }
  return renames;
}

// A map of JSON Pointer to any YAML value (`set:`).
std::vector<JsonTransformOptions::Set> ReadSets(OptionReader& options) {
  std::vector<JsonTransformOptions::Set> sets;
  const ConfigNode* node = options.Node("set");
  if (node == nullptr) return sets;
  if (!node->is_map()) {
    options.Error("set", absl::StrCat("expected a map of field to value (/source: sluice), got ",
                                      Av(node->kind_name())));
    return sets;
  }
  for (const ConfigNode::Entry& entry : node->entries()) {
    std::optional<JsonPointer> field =
        ParseJsonPointerAt(options, "set", entry.key_mark, entry.key);
    if (!field) continue;
    std::string json;
    AppendConfigAsJson(entry.value, json);
    sets.push_back({*std::move(field), std::move(json)});
  }
  return sets;
}

}  // namespace

ProducerConsumerFactory MakeJsonTransform(StageTypeContext& context) {
  OptionReader& options = context.options;
  auto transform = std::make_shared<JsonTransformOptions>();
  transform->rename = ReadRenames(options);
  transform->remove = ReadJsonPointerList(options, "delete");
  transform->set = ReadSets(options);
  if (!options.has("rename") && !options.has("delete") && !options.has("set")) {
    options.ErrorAt(options.mark(), "nothing to do: give set, rename or delete");
  }
  transform->set_values_json = absl::StrCat(
      "[",
      absl::StrJoin(
          transform->set, ",",
          [](std::string* out, const JsonTransformOptions::Set& set) { out->append(set.json); }),
      "]");
  // A value the config spells is checked here, so that `sluice validate`
  // reports it (a number JSON cannot hold, say).
  simdjson::dom::parser check;
  simdjson::dom::element parsed;
  if (const simdjson::error_code error = check.parse(transform->set_values_json).get(parsed);
      error != simdjson::SUCCESS) {
    options.Error("set",
                  absl::StrCat("a value is not valid JSON: ", simdjson::error_message(error)));
  }
  if (options.failed()) return nullptr;
  return [transform = std::shared_ptr<const JsonTransformOptions>(std::move(transform))](
             const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<JsonTransformStage>(transform);
  };
}

SLUICE_REGISTER_PRODUCER_CONSUMER("json_transform", MakeJsonTransform);

}  // namespace sluice::stages
