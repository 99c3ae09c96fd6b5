// File: pipeline/options.h
//
// The options of a pipeline and of each of its stages, as plain structs. Field
// names are the YAML keys (GenStage's and Broadway's names where they have
// one); each says its meaning, default and what it REQUIRES.
//
// Immutable once the pipeline is built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "pipeline/dispatcher.h"
#include "pipeline/retry_policy.h"

namespace sluice {

class Clock;
class DeadLetterQueue;

// What a supervisor restarts when one child crashes (OTP's strategies).
enum class RestartStrategy {
  kOneForOne,   // only the crashed child
  kOneForAll,   // every child
  kRestForOne,  // the crashed child and every child started after it
};

// Which events a full producer buffer throws away (GenStage's :buffer_keep).
enum class BufferKeep {
  kFirst,  // keep the oldest: new events are discarded
  kLast,   // keep the newest: the oldest are discarded
};

enum class DispatchMode { kDemand, kBroadcast, kPartition };

struct SupervisionOptions {
  // Defaults to kOneForOne.
  RestartStrategy strategy = RestartStrategy::kOneForOne;
  // More than `max_restarts` restarts within `max_seconds` and the supervisor
  // gives up and escalates to its parent (Broadway's defaults: 3 in 5s).
  // REQUIRES: max_restarts >= 0, max_seconds > 0.
  int max_restarts = 3;
  absl::Duration max_seconds = absl::Seconds(5);
};

struct StageOptions {
  // Upstream stages this stage subscribes to (producers cannot subscribe).
  std::vector<std::string> subscribe;
  // Instances of this stage. Defaults to 1. REQUIRES: >= 1.
  uint32_t concurrency = 1;
  // Demand per subscription (see pipeline/demand.h). Defaults to 1000 and
  // max_demand / 2. REQUIRES: 0 <= min_demand < max_demand.
  int64_t max_demand = 1000;
  std::optional<int64_t> min_demand;
  // How this stage's events reach its subscribers. Defaults to kDemand.
  DispatchMode dispatch = DispatchMode::kDemand;
  // kPartition: the bytes hashed to pick the partition. Defaults to the key.
  PartitionKey partition_by;
  // When this stage subscribes to a broadcasting stage: which events it
  // wants. Defaults to all.
  EventSelector selector;
  // Producer buffer for events emitted beyond demand (GenStage's
  // :buffer_size, :buffer_keep). For producer-consumers it bounds the output
  // waiting for demand: past it, the stage stops taking input (backpressure)
  // instead of discarding. Defaults to 10000 and kLast. REQUIRES: >= 1.
  size_t buffer_size = 10000;
  BufferKeep buffer_keep = BufferKeep::kLast;
  // Retries of failed events before they are dead-lettered.
  RetryPolicy retry;
  // Among this stage's instances.
  SupervisionOptions supervision;
  // Where this stage's failed events go; null: the pipeline's.
  std::shared_ptr<DeadLetterQueue> dead_letter;

  int64_t effective_min_demand() const { return min_demand.value_or(max_demand / 2); }
};

struct PipelineOptions {
  // Names the pipeline in logs, metrics and dead-letter records.
  std::string name = "pipeline";
  // Among the stages (the root of the supervision tree).
  SupervisionOptions supervision;
  // Where failed events go when their stage names no queue of its own. Null:
  // an in-memory queue readable through Pipeline::dead_letters().
  std::shared_ptr<DeadLetterQueue> dead_letter;
  // How long Drain() lets in-flight events finish. Defaults to 30s.
  absl::Duration shutdown_timeout = absl::Seconds(30);
  // Arena worker threads. 0: one per core.
  int workers = 0;
  // Stage callbacks handled per scheduling slice before an instance yields
  // its worker (the BEAM's reductions). Defaults to 8. REQUIRES: >= 1.
  int slice_calls = 8;
  // Null: the real clock. Tests inject a fake.
  const Clock* clock = nullptr;
};

}  // namespace sluice
