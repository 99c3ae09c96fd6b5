// File: stages/flow/dedupe_stage.h
//
// `type: dedupe` drops an event whose key was already seen within a time
// window: the repeats an at-least-once source or a retrying producer sends.
// A dropped duplicate is done, as if a filter said no: acknowledged, and its
// offset committable. The first event of a key passes; repeats within
// `window` of it are dropped; the first one after the window passes and
// opens a new window (repeats do not extend it, so a key seen without pause
// still passes once per window).
//
//   - name: once
//     type: dedupe
//     subscribe: [parse]
//     by: header:order-id   # default: key
//     window: 10m
//     max_keys: 100000
//
// Decisions:
//   - Time is StageContext::clock(), read once per batch: the events of one
//     batch share a time (tests inject a fake clock through PipelineOptions).
//   - Memory is bounded: at most `max_keys` keys are remembered per instance,
//     oldest forgotten first (see RecentKeys for the bytes per key). A key
//     forgotten early lets its next repeat pass.
//   - Keys are remembered by their 64-bit XXH3 hash, not their bytes. Two
//     different keys with the same hash make the later one look like a
//     repeat and be dropped: with n keys remembered, a new key collides with
//     probability about n / 2^64 (one wrongly dropped event per ~1.8e14 events
//     at 100000 keys). We take that for a fixed 8 bytes per key.
//   - With `by: header:<name>`, an event without that header is never a
//     duplicate: it passes (we cannot tell what it repeats).
//   - Each instance remembers only what it saw, and a restarted instance
//     starts empty. With `concurrency` > 1, have the upstream partition by the
//     same bytes (`dispatch: partition`, `partition_by`), so that the repeats
//     of a key reach the instance that saw the first. Dedupe is best effort:
//     it narrows at-least-once delivery, it does not make it exactly-once.
//
// Thread-compatible: one instance runs on one worker at a time.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "pipeline/clock.h"
#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/flow/event_key_source.h"
#include "stages/flow/recent_keys.h"

namespace sluice::stages {

struct DedupeOptions {
  // The bytes compared. Defaults to the event's key.
  EventKeySource by = EventKeySource::Key();
  // How long after its first sighting a key's repeats are dropped. Defaults to
  // 10 minutes. REQUIRES: > 0.
  absl::Duration window = absl::Minutes(10);
  // Most keys remembered per instance; the oldest is forgotten first.
  // Defaults to 100000. REQUIRES: >= 1.
  size_t max_keys = 100'000;
};

class DedupeStage final : public ProducerConsumer {
 public:
  // `clock` must outlive the stage (StageContext::clock() does).
  DedupeStage(const DedupeOptions& options, const Clock& clock);

  // Makes instances of `options`, each reading the clock of its context.
  static ProducerConsumerFactory Factory(DedupeOptions options);

  // Drops the repeats, emits the others unchanged. Never fails.
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;

 private:
  EventKeySource by_;
  const Clock& clock_;
  RecentKeys recent_;
};

// The `type: dedupe` maker: reads `by`, `window` and `max_keys`, and returns an
// empty factory if any is invalid (the errors are in context.options).
ProducerConsumerFactory MakeDedupe(StageTypeContext& context);

}  // namespace sluice::stages
