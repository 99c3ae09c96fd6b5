#include "stages/json/filter_stage.h"

#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"
#include "stages/json/json_dom.h"
#include "stages/json/json_parser.h"

namespace sluice::stages {

FilterStage::FilterStage(std::shared_ptr<const FilterOptions> options)
    : options_(std::move(options)), parser_(std::make_unique<JsonParser>()) {}

FilterStage::~FilterStage() = default;

namespace {

// Whether the document passes the test (before `invert`).
bool Passes(const FilterOptions& options, simdjson::dom::element root) {
  const std::optional<simdjson::dom::element> field = FindField(root, options.field);
  switch (options.test) {
    case FilterOptions::Test::kExists:
      return field.has_value() == options.exists;
    case FilterOptions::Test::kEquals:
    case FilterOptions::Test::kNotEquals: {
      bool equal = false;
      if (field) {
        for (const JsonScalar& value : options.values) {
          if (ScalarMatches(value, *field)) {
            equal = true;
            break;
          }
        }
      }
      return options.test == FilterOptions::Test::kEquals ? equal : !equal;
    }
    case FilterOptions::Test::kGt:
    case FilterOptions::Test::kGte:
    case FilterOptions::Test::kLt:
    case FilterOptions::Test::kLte: {
      if (!field) return false;
      const std::optional<JsonNumber> number = NumberOf(*field);
      if (!number) return false;
      const int order = number->Compare(options.bound);
      switch (options.test) {
        case FilterOptions::Test::kGt:
          return order > 0;
        case FilterOptions::Test::kGte:
          return order >= 0;
        case FilterOptions::Test::kLt:
          return order < 0;
        default:
          return order <= 0;
      }
    }
    case FilterOptions::Test::kMatches: {
      if (!field || !field->is_string()) return false;
      const std::string_view text = field->get_string().value_unsafe();
      return re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *options.regex);
    }
  }
  return false;
}

}  // namespace

absl::Status FilterStage::HandleEvents(const EventBatch& batch, Output& out) {
  for (const Event& event : batch) {
    absl::StatusOr<simdjson::dom::element> root = parser_->Parse(event.value());
    if (!root.ok()) {
      out.Fail(event, std::move(root).status());
      continue;
    }
    if (Passes(*options_, *root) != options_->invert) {
      out.Emit(event);
    } else {
      out.Drop(event);
    }
  }
  return absl::OkStatus();
}

namespace {

struct TestKey {
  std::string_view key;
  FilterOptions::Test test;
};

constexpr TestKey kTestKeys[] = {
    {"equals", FilterOptions::Test::kEquals}, {"not_equals", FilterOptions::Test::kNotEquals},
    {"gt", FilterOptions::Test::kGt},         {"gte", FilterOptions::Test::kGte},
    {"lt", FilterOptions::Test::kLt},         {"lte", FilterOptions::Test::kLte},
    {"exists", FilterOptions::Test::kExists}, {"matches", FilterOptions::Test::kMatches},
};

}  // namespace

ProducerConsumerFactory MakeFilter(StageTypeContext& context) {
  OptionReader& options = context.options;
  auto filter = std::make_shared<FilterOptions>();
  std::optional<JsonPointer> field = ReadJsonPointer(options, "field", /*required=*/true);
  if (field) filter->field = *std::move(field);
  filter->invert = options.Bool("invert").value_or(false);

  const TestKey* chosen = nullptr;
  std::string names;
  for (const TestKey& test : kTestKeys) {
    options.Known(test.key);
    if (!names.empty()) names += ", ";
    names += test.key;
    if (!options.has(test.key)) continue;
    if (chosen != nullptr) {
      options.Error(test.key, absl::StrCat("a filter has one test, and \"", Av(chosen->key),
                                           "\" is given already (use a second filter stage)"));
      continue;
    }
    chosen = &test;
  }
  if (chosen == nullptr) {
    options.ErrorAt(options.mark(), absl::StrCat("a test is required: one of ", names));
    return nullptr;
  }
  filter->test = chosen->test;
  const ConfigNode* value = options.Node(chosen->key);
  if (value == nullptr && chosen->test != FilterOptions::Test::kEquals &&
      chosen->test != FilterOptions::Test::kNotEquals) {
    options.Error(chosen->key, "expected a value, got null");
    return nullptr;
  }
  switch (chosen->test) {
    case FilterOptions::Test::kEquals:
    case FilterOptions::Test::kNotEquals:
      if (std::optional<std::vector<JsonScalar>> values =
              ReadJsonScalars(options, chosen->key, value)) {
        filter->values = *std::move(values);
      }
      break;
    case FilterOptions::Test::kGt:
    case FilterOptions::Test::kGte:
    case FilterOptions::Test::kLt:
    case FilterOptions::Test::kLte: {
      std::optional<JsonNumber> bound;
      if (value->is_scalar() && !value->quoted()) bound = JsonNumber::Parse(value->scalar());
      if (!bound) {
        options.Error(chosen->key,
                      absl::StrCat("expected a number, got ",
                                   value->is_scalar() ? absl::StrCat("\"", value->scalar(), "\"")
                                                      : std::string(Av(value->kind_name()))));
        break;
      }
      filter->bound = *bound;
      break;
    }
    case FilterOptions::Test::kExists:
      filter->exists = options.Bool("exists").value_or(true);
      break;
    case FilterOptions::Test::kMatches: {
      std::optional<std::string> pattern = options.String("matches");
      if (!pattern) break;
      re2::RE2::Options re2_options;
      re2_options.set_log_errors(false);
      auto regex = std::make_unique<re2::RE2>(*pattern, re2_options);
      if (!regex->ok()) {
        options.Error("matches", absl::StrCat("not a valid RE2 regex: ", regex->error()));
        break;
      }
      filter->regex = std::move(regex);
      break;
    }
  }
  if (options.failed()) return nullptr;
  return [filter = std::shared_ptr<const FilterOptions>(std::move(filter))](
             const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<FilterStage>(filter);
  };
}

SLUICE_REGISTER_PRODUCER_CONSUMER("filter", MakeFilter);

}  // namespace sluice::stages
