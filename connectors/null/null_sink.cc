#include "connectors/null/null_sink.h"

namespace sluice::connectors {

ConsumerFactory NullSink::Factory() {
  return [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<NullSink>();
  };
}

absl::Status NullSink::HandleEvents(const EventBatch& batch, ConsumerAcks& acks) {
  (void)acks;
  for (const Event& event : batch) bytes_seen_ += event.value().size();
  return absl::OkStatus();
}

}  // namespace sluice::connectors
