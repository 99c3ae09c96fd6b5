#include "stages/json/set_key_stage.h"

#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"
#include "stages/json/json_dom.h"
#include "stages/json/json_parser.h"
#include "stages/json/json_writer.h"

namespace sluice::stages {

SetKeyStage::SetKeyStage(std::shared_ptr<const SetKeyOptions> options)
    : options_(std::move(options)), parser_(std::make_unique<JsonParser>()) {}

SetKeyStage::~SetKeyStage() = default;

absl::Status SetKeyStage::HandleEvents(const EventBatch& batch, Output& out) {
  using ElementType = simdjson::dom::element_type;
  const JsonPointer& field = options_->field;
  for (const Event& event : batch) {
    absl::StatusOr<simdjson::dom::element> root = parser_->Parse(event.value());
    if (!root.ok()) {
      out.Fail(event, std::move(root).status());
      continue;
    }
    const std::optional<simdjson::dom::element> element = FindField(*root, field);
    if (!element || element->is_null()) {
      if (options_->keep_on_missing) {
        out.Emit(event);
      } else {
        out.Fail(event, absl::InvalidArgumentError(absl::StrCat(
                            "field \"", field.text(), "\": ", element ? "null" : "missing",
                            ", so the key cannot be set (on_missing: keep keeps the old key)")));
      }
      continue;
    }
    std::string_view key;
    switch (element->type()) {
      case ElementType::STRING:
        key = element->get_string().value_unsafe();
        break;
      case ElementType::INT64:
        number_text_.clear();
        AppendJsonInt64(element->get_int64().value_unsafe(), number_text_);
        key = number_text_;
        break;
      case ElementType::UINT64:
        number_text_.clear();
        AppendJsonUint64(element->get_uint64().value_unsafe(), number_text_);
        key = number_text_;
        break;
      case ElementType::DOUBLE:
        number_text_.clear();
        AppendJsonDouble(element->get_double().value_unsafe(), number_text_);
        key = number_text_;
        break;
      default:
        out.Fail(event,
                 absl::InvalidArgumentError(absl::StrCat(
                     "field \"", field.text(), "\": expected string or number for the key, got ",
                     Av(JsonTypeName(element->type())))));
        continue;
    }
    // The key views the parser's document or number_text_: Emit() copies it
    // into the output batch.
    out.Emit(event, {.key = key});
  }
  return absl::OkStatus();
}

ProducerConsumerFactory MakeSetKey(StageTypeContext& context) {
  OptionReader& options = context.options;
  auto set_key = std::make_shared<SetKeyOptions>();
  std::optional<JsonPointer> field = ReadJsonPointer(options, "field", /*required=*/true);
  if (field) set_key->field = *std::move(field);
  set_key->keep_on_missing =
      options.Enum<bool>("on_missing", {{"fail", false}, {"keep", true}}).value_or(false);
  if (options.failed()) return nullptr;
  return [set_key = std::shared_ptr<const SetKeyOptions>(std::move(set_key))](
             const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<SetKeyStage>(set_key);
  };
}

SLUICE_REGISTER_PRODUCER_CONSUMER("set_key", MakeSetKey);

}  // namespace sluice::stages
