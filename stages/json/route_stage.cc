#include "stages/json/route_stage.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"
#include "stages/json/json_dom.h"
#include "stages/json/json_parser.h"

namespace sluice::stages {
namespace {

std::string_view CopyInto(Output& out, std::string_view text) {
  absl::Span<char> memory = out.Allocate(text.size());
  std::memcpy(memory.data(), text.data(), text.size());
  return {memory.data(), memory.size()};
}

bool IsOutputName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

RouteStage::RouteStage(std::shared_ptr<const RouteOptions> options)
    : options_(std::move(options)),
      parser_(std::make_unique<JsonParser>()),
      output_names_(options_->routes.size() + 1) {}

RouteStage::~RouteStage() = default;

void RouteStage::EmitTo(const Event& event, size_t route, Output& out) {
  if (header_name_.empty()) header_name_ = CopyInto(out, kRouteHeader);
  std::string_view& name = output_names_[route];
  if (name.empty()) {
    name = CopyInto(out, route < options_->routes.size()
                             ? std::string_view(options_->routes[route].output)
                             : kUnmatchedOutput);
  }
  headers_.clear();
  for (const Header& header : event.headers()) {
    if (header.key != kRouteHeader) headers_.push_back(header);
  }
  headers_.push_back({header_name_, name});
  out.Emit(event, {.headers = absl::MakeConstSpan(headers_)});
}

absl::Status RouteStage::HandleEvents(const EventBatch& batch, Output& out) {
  header_name_ = {};
  std::fill(output_names_.begin(), output_names_.end(), std::string_view());
  const std::vector<RouteOptions::Route>& routes = options_->routes;
  for (const Event& event : batch) {
    absl::StatusOr<simdjson::dom::element> root = parser_->Parse(event.value());
    if (!root.ok()) {
      out.Fail(event, std::move(root).status());
      continue;
    }
    bool routed = false;
    if (std::optional<simdjson::dom::element> field = FindField(*root, options_->field)) {
      for (size_t route = 0; route < routes.size(); ++route) {
        for (const JsonScalar& value : routes[route].values) {
          if (!ScalarMatches(value, *field)) continue;
          EmitTo(event, route, out);
          routed = true;
          break;
        }
      }
    }
    if (!routed) EmitTo(event, routes.size(), out);
  }
  return absl::OkStatus();
}

ProducerConsumerFactory MakeRoute(StageTypeContext& context) {
  OptionReader& options = context.options;
  auto route_options = std::make_shared<RouteOptions>();
  std::optional<JsonPointer> field = ReadJsonPointer(options, "field", /*required=*/true);
  if (field) route_options->field = *std::move(field);

  const ConfigNode* routes = options.Node("routes");
  if (routes == nullptr) {
    options.ErrorAt(options.mark(),
                    "routes: required (a map of output name to the value or values that "
                    "select it)");
  } else if (!routes->is_map()) {
    options.Error("routes", absl::StrCat("expected a map of output name to value(s), got ",
                                         Av(routes->kind_name())));
  } else if (routes->entries().empty()) {
    options.Error("routes", "at least one route is required");
  } else {
    for (const ConfigNode::Entry& entry : routes->entries()) {
      if (entry.key == kUnmatchedOutput) {
        options.ErrorAt(
            entry.key_mark,
            absl::StrCat("routes: \"", entry.key, "\" is reserved for events that match no route"));
        continue;
      }
      if (!IsOutputName(entry.key)) {
        options.ErrorAt(entry.key_mark,
                        absl::StrCat("routes: \"", entry.key,
                                     "\" is not an output name (letters, digits, _ and -)"));
        continue;
      }
      std::optional<std::vector<JsonScalar>> values =
          ReadJsonScalars(options, absl::StrCat("routes: ", entry.key),
                          entry.value.is_null() ? nullptr : &entry.value);
      if (values) route_options->routes.push_back({entry.key, *std::move(values)});
    }
  }
  if (options.failed()) return nullptr;
  return [route_options = std::shared_ptr<const RouteOptions>(std::move(route_options))](
             const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<RouteStage>(route_options);
  };
}

SLUICE_REGISTER_PRODUCER_CONSUMER("route", MakeRoute);
SLUICE_REGISTER_NAMED_OUTPUTS("route");

}  // namespace sluice::stages
