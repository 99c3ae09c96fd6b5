// File: pipeline/token_bucket.h
//
// A TokenBucket paces a stage to `rate` events per second without sleeping
// (the generator's `rate`, the `rate_limit` stage): the stage asks how many
// events it may pass now, passes them, and asks when the next one is allowed
// so it can WakeAfter() that long. Tokens accrue continuously and are capped
// at `burst`, so a stage that was held back (no demand) does not catch up
// with a flood.
//
// Worked example: rate 100/s, burst 10. At t=0 the bucket is full: 10 may
// go. At t=50ms, 5 more have accrued; if none are taken until t=1s, only 10
// (the burst) are available, not 100.
//
// Thread-compatible; time is passed in, so tests drive it with a fake clock.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/time/time.h"

namespace sluice {

class TokenBucket {
 public:
  // REQUIRES: rate > 0, burst >= 1. Starts full at `now`.
  TokenBucket(double rate, double burst, absl::Time now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  // Whole tokens available at `now`.
  uint64_t Available(absl::Time now) {
    Refill(now);
    return static_cast<uint64_t>(std::floor(tokens_));
  }
  // Spends `count` tokens. REQUIRES: count <= Available(now) at the last refill.
  void Take(uint64_t count) { tokens_ = std::max(0.0, tokens_ - static_cast<double>(count)); }
  // How long after `now` until a whole token is available (zero if one is).
  absl::Duration TimeUntilNext(absl::Time now) {
    Refill(now);
    if (tokens_ >= 1.0) return absl::ZeroDuration();
    return absl::Seconds((1.0 - tokens_) / rate_);
  }

  double rate() const { return rate_; }
  double burst() const { return burst_; }

 private:
  void Refill(absl::Time now) {
    if (now <= last_) return;
    tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * rate_);
    last_ = now;
  }

  const double rate_;
  const double burst_;
  double tokens_;
  absl::Time last_;
};

}  // namespace sluice
