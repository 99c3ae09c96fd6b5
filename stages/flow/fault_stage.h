// File: stages/flow/fault_stage.h
//
// `type: fault` fails or crashes on a chosen share of the events it receives,
// to show and test the failure paths (retries, the dead-letter queue,
// supervision) and to measure what they cost. Events it spares pass on
// unchanged. Not for production pipelines.
//
//   - name: chaos
//     type: fault
//     subscribe: [parse]
//     fail_rate: 0.01           # 1% of events fail ...
//     code: unavailable         # ... as retryable (default invalid_argument)
//     error: "injected failure"
//     crash_rate: 0.0001        # and about 1 in 10000 events crashes the instance
//
//   - name: poison
//     type: fault
//     match: "poison"           # exactly the events whose value contains it
//     crash_rate: 1             # crash on each of them (fail_rate defaults to 1)
//
// For each event, in order:
//   1. With `match`, an event whose value does not contain it passes; only
//      matching events are candidates for 2 and 3.
//   2. With probability `crash_rate`, the instance crashes: HandleEvents()
//      returns INTERNAL "injected crash", the runtime dead-letters the events
//      of the call as "INTERNAL: crashed: INTERNAL: injected crash" (not
//      retried) and the supervisor restarts the instance. With a batch of n
//      candidates a call crashes with probability 1 - (1 - crash_rate)^n, and
//      too many crashes in `supervision.max_seconds` stop the pipeline: keep
//      it small.
//   3. With probability `fail_rate`, the event fails with `code` and `error`
//      (Output::Fail): invalid_argument is never retried, so it goes straight
//      to the dead-letter queue; unavailable and internal are retried by the
//      stage's `retry` policy first (each retry draws again).
//
// Draws come from a SplitMix64 stream per instance, seeded from `seed` and the
// instance's number (InstanceSeeds: a restarted instance gets the next stream,
// so a crash does not repeat at the same draw forever). With one instance the
// same input in the same order meets the same faults in every run, whatever
// the batch sizes; `match` with rates 0 or 1 is exact whatever the scheduling.
//
// Thread-compatible: one instance runs on one worker at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/flow/flow_internal.h"

namespace sluice::stages {

struct FaultOptions {
  // The share of candidate events that fail. Defaults to 0.01, or to 1 when
  // `match` is given. REQUIRES: in [0, 1].
  double fail_rate = 0.01;
  // The failures' message. Defaults to "injected failure".
  std::string error = "injected failure";
  // The failures' status code: kInvalidArgument (the default, not retried),
  // kUnavailable or kInternal (retried by policy).
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  // The share of candidate events that crash the instance. Defaults to 0.
  // REQUIRES: in [0, 1].
  double crash_rate = 0.0;
  // Only events whose value contains this are candidates. Defaults to absent
  // (every event is). REQUIRES: not empty.
  std::optional<std::string> match;
  // Seeds the random streams. Defaults to 0.
  uint64_t seed = 0;
};

class FaultStage final : public ProducerConsumer {
 public:
  // `stream_seed` seeds this instance's draws.
  FaultStage(const FaultOptions& options, uint64_t stream_seed);

  // Makes instances of `options`, each with its own random stream.
  static ProducerConsumerFactory Factory(FaultOptions options);

  // Fails, crashes on or emits each event as the header comment says.
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;

 private:
  internal::Fraction fail_;
  internal::Fraction crash_;
  absl::Status failure_;
  std::optional<std::string> match_;
  internal::SplitMix64 random_;
};

// The `type: fault` maker: reads `fail_rate`, `error`, `code`, `crash_rate`,
// `match` and `seed`, and returns an empty factory if any is invalid (the
// errors are in context.options).
ProducerConsumerFactory MakeFault(StageTypeContext& context);

}  // namespace sluice::stages
