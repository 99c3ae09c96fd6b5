#include "stages/flow/delay_stage.h"

#include <memory>
#include <utility>

#include "absl/status/statusor.h"

#include "pipeline/clock.h"

namespace sluice::stages {

DelayStage::DelayStage(const DelayOptions& options, const StageContext& context)
    : duration_(options.duration), clock_(context.clock()), timer_(context) {}

ProducerConsumerFactory DelayStage::Factory(DelayOptions options) {
  return
      [options](const StageContext& context) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
        return std::make_unique<DelayStage>(options, context);
      };
}

absl::Status DelayStage::HandleEvents(const EventBatch& batch, Output& out) {
  const absl::Time now = clock_.Now();
  for (const Event& event : batch) waiting_.push_back({now + duration_, out.Hold(event)});
  ReleaseDue(out, now);
  return absl::OkStatus();
}

absl::Status DelayStage::HandleWake(Output& out) {
  ReleaseDue(out, clock_.Now());
  return absl::OkStatus();
}

void DelayStage::ReleaseDue(Output& out, absl::Time now) {
  while (!waiting_.empty() && waiting_.front().due <= now) {
    out.Release(waiting_.front().id);
    waiting_.pop_front();
  }
  if (!waiting_.empty()) timer_.At(waiting_.front().due, now);
}

ProducerConsumerFactory MakeDelay(StageTypeContext& context) {
  OptionReader& options = context.options;
  DelayOptions delay;
  std::optional<absl::Duration> duration = options.Duration("duration", absl::Nanoseconds(1));
  if (duration.has_value()) {
    delay.duration = *duration;
  } else if (!options.has("duration")) {
    options.Error("duration", "is required (how long each event waits, e.g. 30s)");
  }
  if (options.failed()) return nullptr;
  return DelayStage::Factory(delay);
}

SLUICE_REGISTER_PRODUCER_CONSUMER("delay", MakeDelay);

}  // namespace sluice::stages
