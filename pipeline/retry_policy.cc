// File: pipeline/retry_policy.cc
#include "pipeline/retry_policy.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace sluice {

bool RetryPolicy::IsRetryable(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

absl::Duration RetryPolicy::Backoff(uint32_t attempts, std::mt19937_64& random) const {
  assert(attempts >= 1);
  assert(jitter >= 0.0 && jitter <= 1.0);
  const uint32_t retries_before = attempts > 0 ? attempts - 1 : 0;
  // pow() overflows to +inf for large attempts, and a finite but huge product
  // saturates to InfiniteDuration(): either way the cap below applies, so no
  // attempt count can wrap the delay around. A zero initial backoff stays zero
  // (0 * inf would not).
  const double growth = std::pow(multiplier, static_cast<double>(retries_before));
  absl::Duration delay = absl::ZeroDuration();
  if (initial_backoff > absl::ZeroDuration()) {
    delay = std::isfinite(growth) ? initial_backoff * growth : absl::InfiniteDuration();
  }
  delay = std::max(std::min(delay, max_backoff), absl::ZeroDuration());

  const double spread = std::clamp(jitter, 0.0, 1.0);
  if (spread == 0.0) return delay;
  std::uniform_real_distribution<double> factor(1.0 - spread, 1.0 + spread);
  return delay * factor(random);
}

}  // namespace sluice
