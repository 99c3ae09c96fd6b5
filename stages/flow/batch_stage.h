// File: stages/flow/batch_stage.h
//
// `type: batch` groups events and passes each group on together, when it
// has `size` events or `timeout` after its first event, whichever comes
// first (Broadway's batchers: batch_size, batch_timeout, batch_key). With
// `by:` the groups are per key: the events of one key leave together.
//
//   - name: per-customer
//     type: batch
//     subscribe: [parse]
//     size: 100        # default 100
//     timeout: 1s      # default 1s
//     by: key          # default: one group for all events
//
// A group leaves as consecutive events of one output batch, in arrival
// order; a sink downstream with max_demand >= size gets it in one call (a
// file sink writes it in one write, a Kafka sink in one produce run).
//
// Decisions:
//   - Waiting events sit in the runtime's held store (Output::Hold): they stay
//     uncommitted while they wait, a crash dead-letters them, a restart for a
//     sibling's crash hands them back.
//   - Memory is bounded by the stage's max_demand: `size` above it is a
//     config error, and when the groups together hold max_demand events the
//     oldest group leaves early (with many keys, groups may leave smaller than
//     `size` rather than stop the stream).
//   - With `by: header:<name>`, events without that header form a group of
//     their own.
//   - At the end of input every group leaves as it is, oldest first.
//
// Thread-compatible: one instance runs on one worker at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/flow/event_key_source.h"
#include "stages/flow/wake_timer.h"

namespace sluice::stages {

struct BatchOptions {
  // Events per group. REQUIRES: 1 <= size <= the stage's max_demand.
  size_t size = 100;
  // How long a group waits for more after its first event. REQUIRES: > 0.
  absl::Duration timeout = absl::Seconds(1);
  // Group by these bytes; nullopt: one group.
  std::optional<EventKeySource> by;
};

class BatchStage final : public ProducerConsumer {
 public:
  // `context` must outlive the stage (the runtime's does).
  BatchStage(const BatchOptions& options, const StageContext& context);

  static ProducerConsumerFactory Factory(BatchOptions options);

  // Adds each event to its group; passes on the groups that are full.
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;
  // Passes on the groups whose timeout has passed.
  absl::Status HandleWake(Output& out) override;
  // Passes on every group, oldest first.
  absl::Status Flush(Output& out) override;

 private:
  struct Group {
    uint64_t serial = 0;  // tells a group from a later one of the same key
    absl::Time opened;
    std::vector<HeldId> events;
  };
  struct Opening {
    uint64_t serial;
    std::string group;
  };

  // The group an event belongs to: "" for one without the `by` bytes,
  // "=<bytes>" otherwise.
  std::string GroupOf(const Event& event) const;
  void Release(const std::string& group, Output& out);
  // The oldest group still waiting, dropping entries of groups that left.
  const Opening* Oldest();
  // Asks for a wake at the oldest group's timeout.
  void ScheduleOldest(absl::Time now);

  const size_t size_;
  const absl::Duration timeout_;
  const std::optional<EventKeySource> by_;
  const size_t max_held_;
  const Clock& clock_;
  WakeTimer timer_;
  absl::flat_hash_map<std::string, Group> groups_;
  // Groups in the order they opened; entries of groups that have left are
  // skipped (and dropped) when they reach the front.
  std::deque<Opening> openings_;
  uint64_t next_serial_ = 0;
  size_t held_ = 0;
};

// The `type: batch` maker: reads `size`, `timeout` and `by`.
ProducerConsumerFactory MakeBatch(StageTypeContext& context);

}  // namespace sluice::stages
