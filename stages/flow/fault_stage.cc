#include "stages/flow/fault_stage.h"

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"

#include "pipeline/string_view_compat.h"

namespace sluice::stages {

FaultStage::FaultStage(const FaultOptions& options, uint64_t stream_seed)
    : fail_(options.fail_rate),
      crash_(options.crash_rate),
      failure_(options.code, options.error),
      match_(options.match),
      random_(stream_seed) {}

ProducerConsumerFactory FaultStage::Factory(FaultOptions options) {
  auto seeds = std::make_shared<internal::InstanceSeeds>(options.seed);
  return [options = std::move(options),
          seeds](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<FaultStage>(options, seeds->Next());
  };
}

absl::Status FaultStage::HandleEvents(const EventBatch& batch, Output& out) {
  for (const Event& event : batch) {
    if (match_.has_value() && !absl::StrContains(Av(event.value()), *match_)) {
      out.Emit(event);
      continue;
    }
    // Two draws, so that crashes and failures are independent.
    const uint64_t crash_draw = random_.Next();
    const uint64_t fail_draw = random_.Next();
    if (crash_.Contains(crash_draw)) return absl::InternalError("injected crash");
    if (fail_.Contains(fail_draw)) {
      out.Fail(event, failure_);
    } else {
      out.Emit(event);
    }
  }
  return absl::OkStatus();
}

ProducerConsumerFactory MakeFault(StageTypeContext& context) {
  OptionReader& options = context.options;
  FaultOptions fault;
  fault.match = options.String("match");
  if (fault.match.has_value() && fault.match->empty()) {
    options.Error("match", "must not be empty");
  }
  if (fault.match.has_value()) fault.fail_rate = 1.0;
  fault.fail_rate = options.Double("fail_rate", 0.0, 1.0).value_or(fault.fail_rate);
  fault.crash_rate = options.Double("crash_rate", 0.0, 1.0).value_or(fault.crash_rate);
  fault.error = options.String("error").value_or(fault.error);
  fault.code =
      options
          .Enum<absl::StatusCode>("code", {{"invalid_argument", absl::StatusCode::kInvalidArgument},
                                           {"unavailable", absl::StatusCode::kUnavailable},
                                           {"internal", absl::StatusCode::kInternal}})
          .value_or(fault.code);
  fault.seed = internal::ReadSeed(options);
  // Errors of common keys count too: nothing starts after any config error.
  if (options.failed()) return nullptr;
  return FaultStage::Factory(std::move(fault));
}

SLUICE_REGISTER_PRODUCER_CONSUMER("fault", MakeFault);

}  // namespace sluice::stages
