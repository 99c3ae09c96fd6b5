#include "stages/flow/dedupe_stage.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

#include "stages/flow/flow_internal.h"

namespace sluice::stages {

DedupeStage::DedupeStage(const DedupeOptions& options, const Clock& clock)
    : by_(options.by), clock_(clock), recent_(options.window, options.max_keys) {}

ProducerConsumerFactory DedupeStage::Factory(DedupeOptions options) {
  return [options = std::move(options)](
             const StageContext& context) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<DedupeStage>(options, context.clock());
  };
}

absl::Status DedupeStage::HandleEvents(const EventBatch& batch, Output& out) {
  const absl::Time now = clock_.Now();
  for (const Event& event : batch) {
    const std::optional<std::string_view> id = by_.Of(event);
    if (id.has_value() && recent_.SeenOrAdd(internal::StableHash(*id), now)) {
      out.Drop(event);
    } else {
      out.Emit(event);
    }
  }
  return absl::OkStatus();
}

ProducerConsumerFactory MakeDedupe(StageTypeContext& context) {
  OptionReader& options = context.options;
  DedupeOptions dedupe;
  if (std::optional<EventKeySource> by = ReadEventKeySource(options)) dedupe.by = std::move(*by);
  dedupe.window = options.Duration("window", absl::Nanoseconds(1)).value_or(dedupe.window);
  dedupe.max_keys = static_cast<size_t>(
      options.Int("max_keys", 1).value_or(static_cast<int64_t>(dedupe.max_keys)));
  // Errors of common keys count too: nothing starts after any config error.
  if (options.failed()) return nullptr;
  return DedupeStage::Factory(std::move(dedupe));
}

SLUICE_REGISTER_PRODUCER_CONSUMER("dedupe", MakeDedupe);

}  // namespace sluice::stages
