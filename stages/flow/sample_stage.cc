#include "stages/flow/sample_stage.h"

#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace sluice::stages {

SampleStage::SampleStage(const SampleOptions& options, uint64_t stream_seed)
    : keep_(options.rate), by_(options.by), seed_(options.seed), random_(stream_seed) {}

ProducerConsumerFactory SampleStage::Factory(SampleOptions options) {
  auto seeds = std::make_shared<internal::InstanceSeeds>(options.seed);
  return [options = std::move(options),
          seeds](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<SampleStage>(options, seeds->Next());
  };
}

absl::Status SampleStage::HandleEvents(const EventBatch& batch, Output& out) {
  for (const Event& event : batch) {
    const uint64_t draw =
        by_.has_value() ? internal::StableHash(by_->Of(event).value_or(std::string_view()), seed_)
                        : random_.Next();
    if (keep_.Contains(draw)) {
      out.Emit(event);
    } else {
      out.Drop(event);
    }
  }
  return absl::OkStatus();
}

ProducerConsumerFactory MakeSample(StageTypeContext& context) {
  OptionReader& options = context.options;
  SampleOptions sample;
  std::optional<double> rate = options.Double("rate", 0.0, 1.0);
  if (!options.has("rate")) {
    options.Error("rate", "required: the fraction of events kept, in [0, 1]");
  }
  sample.rate = rate.value_or(1.0);
  sample.by = ReadEventKeySource(options);
  sample.seed = internal::ReadSeed(options);
  // Errors of common keys count too: nothing starts after any config error.
  if (options.failed()) return nullptr;
  return SampleStage::Factory(std::move(sample));
}

SLUICE_REGISTER_PRODUCER_CONSUMER("sample", MakeSample);

}  // namespace sluice::stages
