// File: pipeline/retry_policy.h
//
// A RetryPolicy says whether a failed event is tried again and after how
// long: up to `max_attempts` attempts in all, with exponential backoff and
// jitter, capped. Whether a failure is worth retrying is read from its status
// code, never its message: kInvalidArgument (a malformed event) will fail the
// same way again, kUnavailable (a broker that will come back) may not.
//
//   RetryPolicy policy{.max_attempts = 3, .initial_backoff = absl::Milliseconds(100)};
//   // attempt 1 failed: retry after ~100ms; attempt 2 failed: ~200ms;
//   // attempt 3 failed: dead-letter.
//
// Immutable once built; Backoff() takes the caller's random generator.
#pragma once

#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sluice {

struct RetryPolicy {
  // Attempts in all, the first included; 1 means never retry.
  // Defaults to 3. REQUIRES: >= 1.
  uint32_t max_attempts = 3;
  // Delay before the second attempt. Defaults to 100ms.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  // Each further delay is the previous one times this. Defaults to 2.
  double multiplier = 2.0;
  // No delay exceeds this (before jitter). Defaults to 30s.
  absl::Duration max_backoff = absl::Seconds(30);
  // Each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter].
  // Defaults to 0.2. REQUIRES: in [0, 1].
  double jitter = 0.2;

  // True if an event that failed with `code` is worth another attempt.
  // Retried: kUnavailable, kDeadlineExceeded, kResourceExhausted, kAborted,
  // kInternal, kUnknown, kCancelled. Not retried: every other code
  // (kInvalidArgument, kFailedPrecondition, kNotFound, kOutOfRange,
  // kUnimplemented, kDataLoss, kPermissionDenied, kUnauthenticated,
  // kAlreadyExists).
  static bool IsRetryable(absl::StatusCode code);

  // True if an event that has now failed `attempts` times (>= 1) with `code`
  // gets another attempt.
  bool ShouldRetry(uint32_t attempts, absl::StatusCode code) const {
    return attempts < max_attempts && IsRetryable(code);
  }

  // The delay before the next attempt of an event that has failed `attempts`
  // times (>= 1): initial_backoff * multiplier^(attempts-1), capped at
  // max_backoff, then jittered.
  absl::Duration Backoff(uint32_t attempts, std::mt19937_64& random) const;
};

}  // namespace sluice
