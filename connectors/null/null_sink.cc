#include "connectors/null/null_sink.h"

#include "pipeline/config/stage_registry.h"

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

namespace {

// `type: null` takes no options of its own.
ConsumerFactory MakeNullSink(StageTypeContext& context) {
  (void)context;
  return NullSink::Factory();
}

}  // namespace

SLUICE_REGISTER_CONSUMER("null", MakeNullSink);
// Vector's name for the same sink; needs no quotes in YAML (`type: null` is
// YAML's null: docs/decisions/0005-pipeline-file-shape.md).
SLUICE_REGISTER_CONSUMER("blackhole", MakeNullSink);

}  // namespace sluice::connectors
