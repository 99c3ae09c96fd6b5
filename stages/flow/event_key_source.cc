#include "stages/flow/event_key_source.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"

namespace sluice::stages {
namespace {

constexpr std::string_view kHeaderPrefix = "header:";

}  // namespace

std::optional<EventKeySource> ReadEventKeySource(OptionReader& options) {
  std::optional<std::string> by = options.String("by");
  if (!by) return std::nullopt;
  if (*by == "key") return EventKeySource::Key();
  if (*by == "value") return EventKeySource::Value();
  if (absl::StartsWith(*by, Av(kHeaderPrefix)) && by->size() > kHeaderPrefix.size()) {
    return EventKeySource::HeaderNamed(by->substr(kHeaderPrefix.size()));
  }
  options.Error("by", absl::StrCat("\"", *by, "\" is not one of: key, value, header:<name>"));
  return std::nullopt;
}

}  // namespace sluice::stages
