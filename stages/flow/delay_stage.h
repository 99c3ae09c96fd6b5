// File: stages/flow/delay_stage.h
//
// `type: delay` passes each event on no earlier than `duration` after it
// reached the stage, in the order it came: a grace period before acting on an
// event (let a late correction arrive, let a downstream system catch up).
//
//   - name: settle
//     type: delay
//     subscribe: [parse]
//     duration: 30s
//
// Decisions:
//   - The events wait in the runtime's held store (Output::Hold), not in the
//     stage: a crash dead-letters them, a restart for a sibling's crash hands
//     them back, and they stay uncommitted while they wait.
//   - Memory is bounded by the stage's max_demand: an instance holding that
//     many takes no more input, so its sources pause. Throughput is therefore
//     at most max_demand / duration events per second per instance; raise
//     max_demand (or concurrency) for a long delay on a busy stream.
//   - At the end of input (a file read to its end, a drain on SIGINT) the
//     waiting events are passed on early rather than held back: the drain
//     would otherwise wait out the delay, and sluice's drain is bounded by
//     `shutdown_timeout`.
//   - Time is StageContext::clock(); wake-ups come from real timers.
//
// Thread-compatible: one instance runs on one worker at a time.
#pragma once

#include <deque>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/flow/wake_timer.h"

namespace sluice::stages {

struct DelayOptions {
  // How long each event waits. REQUIRES: > 0.
  absl::Duration duration = absl::Seconds(1);
};

class DelayStage final : public ProducerConsumer {
 public:
  // `context` must outlive the stage (the runtime's does).
  DelayStage(const DelayOptions& options, const StageContext& context);

  static ProducerConsumerFactory Factory(DelayOptions options);

  // Holds every event until it is due; passes on those already due.
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;
  // Passes on the events that are due, in order.
  absl::Status HandleWake(Output& out) override;

 private:
  struct Waiting {
    absl::Time due;
    HeldId id;
  };

  void ReleaseDue(Output& out, absl::Time now);

  const absl::Duration duration_;
  const Clock& clock_;
  WakeTimer timer_;
  // In arrival order, which is due order (one duration for all).
  std::deque<Waiting> waiting_;
};

// The `type: delay` maker: reads `duration` (required).
ProducerConsumerFactory MakeDelay(StageTypeContext& context);

}  // namespace sluice::stages
