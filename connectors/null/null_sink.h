// File: connectors/null/null_sink.h
//
// NullSink (`type: null`) acknowledges every event and keeps nothing: the sink of the
// benchmarks, and of pipelines whose work is done upstream. It reads each
// event's value length so that the handoff cannot be optimised away.
//
// Thread-compatible.
#pragma once

#include <cstdint>

#include "pipeline/stage.h"

namespace sluice::connectors {

class NullSink final : public Consumer {
 public:
  static ConsumerFactory Factory();

  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override;

  uint64_t bytes_seen() const { return bytes_seen_; }

 private:
  uint64_t bytes_seen_ = 0;
};

}  // namespace sluice::connectors
