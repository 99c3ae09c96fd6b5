#include "stages/flow/rate_limit_stage.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"

#include "pipeline/clock.h"

namespace sluice::stages {

RateLimitStage::RateLimitStage(const RateLimitOptions& options, const StageContext& context)
    : clock_(context.clock()),
      bucket_(static_cast<double>(options.count) / absl::ToDoubleSeconds(options.interval),
              static_cast<double>(options.burst > 0 ? options.burst : options.count),
              context.clock().Now()),
      timer_(context) {}

ProducerConsumerFactory RateLimitStage::Factory(RateLimitOptions options) {
  return
      [options](const StageContext& context) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
        return std::make_unique<RateLimitStage>(options, context);
      };
}

absl::Status RateLimitStage::HandleEvents(const EventBatch& batch, Output& out) {
  const absl::Time now = clock_.Now();
  // Those already waiting go first: order is kept.
  ReleaseAllowed(out, now);
  uint64_t allowed = waiting_.empty() ? bucket_.Available(now) : 0;
  for (const Event& event : batch) {
    if (allowed > 0) {
      --allowed;
      bucket_.Take(1);
      out.Emit(event);
    } else {
      waiting_.push_back(out.Hold(event));
    }
  }
  if (!waiting_.empty()) timer_.At(now + bucket_.TimeUntilNext(now), now);
  return absl::OkStatus();
}

absl::Status RateLimitStage::HandleWake(Output& out) {
  ReleaseAllowed(out, clock_.Now());
  return absl::OkStatus();
}

void RateLimitStage::ReleaseAllowed(Output& out, absl::Time now) {
  if (waiting_.empty()) return;
  uint64_t allowed = bucket_.Available(now);
  while (allowed > 0 && !waiting_.empty()) {
    out.Release(waiting_.front());
    waiting_.pop_front();
    bucket_.Take(1);
    --allowed;
  }
  if (!waiting_.empty()) timer_.At(now + bucket_.TimeUntilNext(now), now);
}

ProducerConsumerFactory MakeRateLimit(StageTypeContext& context) {
  OptionReader& options = context.options;
  RateLimitOptions limit;
  if (std::optional<int64_t> count = options.Int("count", 1)) {
    limit.count = *count;
  } else if (!options.has("count")) {
    options.Error("count", "is required (events per interval, e.g. 500)");
  }
  limit.interval = options.Duration("interval", absl::Nanoseconds(1)).value_or(limit.interval);
  limit.burst = options.Int("burst", 1).value_or(0);
  if (options.failed()) return nullptr;
  return RateLimitStage::Factory(limit);
}

SLUICE_REGISTER_PRODUCER_CONSUMER("rate_limit", MakeRateLimit);

}  // namespace sluice::stages
