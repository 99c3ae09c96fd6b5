// File: stages/flow/rate_limit_stage.h
//
// `type: rate_limit` passes at most `count` events per `interval` per
// instance, in order, holding back the rest: protect a downstream service or
// API with a quota.
//
//   - name: gentle
//     type: rate_limit
//     subscribe: [parse]
//     count: 500
//     interval: 1s
//     burst: 50        # default: count
//
// Decisions:
//   - Excess events wait; none is dropped. (Vector's `throttle` drops what
//     exceeds the rate; for a stream whose every event matters, waiting is
//     the safe default, and a waiting stage pauses its sources through
//     demand.) Waiting events sit in the runtime's held store (Output::Hold):
//     at most max_demand per instance, uncommitted, dead-lettered if the stage
//     crashes, handed back after a restart for a sibling's crash.
//   - A token bucket (rate count/interval, capacity `burst`): after a quiet
//     spell at most `burst` events go at once, not a whole interval's worth
//     on top of the steady rate.
//   - The limit is per instance: `concurrency: N` passes up to N times the
//     rate. Use one instance for a global limit.
//   - At the end of input the waiting events are passed on at once (the drain
//     is bounded by `shutdown_timeout`, not by the rate).
//
// Thread-compatible: one instance runs on one worker at a time.
#pragma once

#include <cstdint>
#include <deque>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "pipeline/token_bucket.h"
#include "stages/flow/wake_timer.h"

namespace sluice::stages {

struct RateLimitOptions {
  // Events per interval. REQUIRES: >= 1.
  int64_t count = 1;
  // REQUIRES: > 0.
  absl::Duration interval = absl::Seconds(1);
  // The most events passed at once after a quiet spell. 0: `count`.
  int64_t burst = 0;
};

class RateLimitStage final : public ProducerConsumer {
 public:
  // `context` must outlive the stage (the runtime's does).
  RateLimitStage(const RateLimitOptions& options, const StageContext& context);

  static ProducerConsumerFactory Factory(RateLimitOptions options);

  // Passes what the bucket allows, in order; holds the rest.
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;
  // Passes held events as tokens accrue.
  absl::Status HandleWake(Output& out) override;

 private:
  // Releases waiting events while tokens last; asks for a wake for the rest.
  void ReleaseAllowed(Output& out, absl::Time now);

  const Clock& clock_;
  TokenBucket bucket_;
  WakeTimer timer_;
  std::deque<HeldId> waiting_;  // in arrival order
};

// The `type: rate_limit` maker: reads `count` (required), `interval` and
// `burst`.
ProducerConsumerFactory MakeRateLimit(StageTypeContext& context);

}  // namespace sluice::stages
