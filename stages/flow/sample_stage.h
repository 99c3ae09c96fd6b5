// File: stages/flow/sample_stage.h
//
// `type: sample` keeps a fraction of the events it receives and drops the
// rest, for a cheaper look at a busy stream (a debug sink, a metrics branch).
// A dropped event is done, as if a filter said no: acknowledged, and its
// offset committable.
//
//   - name: one_in_ten
//     type: sample
//     subscribe: [parse]
//     rate: 0.1      # keep 10%
//     by: key        # optional: keep all or none of the events of each key
//     seed: 42       # optional: which 10%
//
// Which events are kept is deterministic:
//   - With `by:`, an event is kept iff XXH3-64(its bytes, seed) < rate * 2^64.
//     The same key is kept (or dropped) in every run, by every instance and in
//     every process of a consumer group, so a sampled key's story is whole.
//     The rate then holds over keys, not events: one hot key is all or none.
//     Events without the named header count as having an empty one (they are
//     all kept or all dropped together, as are events with empty keys).
//   - Without `by:`, every event draws a number from its instance's SplitMix64
//     stream, seeded from `seed` and the instance's number (InstanceSeeds:
//     a restarted instance gets the next stream, it does not replay its last).
//     With one instance, the same input in the same order keeps the same events
//     in every run, whatever the batch sizes. With `concurrency` > 1 which
//     events reach which instance depends on scheduling: the rate holds, the
//     exact set is not reproducible.
//
// Thread-compatible: one instance runs on one worker at a time.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/status.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/flow/event_key_source.h"
#include "stages/flow/flow_internal.h"

namespace sluice::stages {

struct SampleOptions {
  // The fraction of events kept. Required in a config. REQUIRES: in [0, 1].
  double rate = 1.0;
  // Decide by a stable hash of these bytes instead of at random. Defaults to
  // absent (random).
  std::optional<EventKeySource> by;
  // Seeds the hash (with `by`) or the random streams (without). Defaults to 0.
  uint64_t seed = 0;
};

class SampleStage final : public ProducerConsumer {
 public:
  // `stream_seed` seeds this instance's random draws (unused with `by`).
  SampleStage(const SampleOptions& options, uint64_t stream_seed);

  // Makes instances of `options`, each with its own random stream.
  static ProducerConsumerFactory Factory(SampleOptions options);

  // Emits the kept events unchanged and drops the others. Never fails.
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;

 private:
  internal::Fraction keep_;
  std::optional<EventKeySource> by_;
  uint64_t seed_;
  internal::SplitMix64 random_;
};

// The `type: sample` maker: reads `rate` (required), `by` and `seed`, and
// returns an empty factory if any is invalid (the errors are in
// context.options).
ProducerConsumerFactory MakeSample(StageTypeContext& context);

}  // namespace sluice::stages
