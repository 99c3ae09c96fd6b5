// File: tests/pipeline/retry_policy_test.cc
#include "pipeline/retry_policy.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <set>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

constexpr uint64_t kSeed = 20240611;

RetryPolicy WithoutJitter() {
  return RetryPolicy{.max_attempts = 10,
                     .initial_backoff = absl::Milliseconds(100),
                     .multiplier = 2.0,
                     .max_backoff = absl::Seconds(30),
                     .jitter = 0.0};
}

TEST(RetryPolicyTest, IsRetryableExactlyForTransientCodes) {
  const std::set<absl::StatusCode> retryable = {
      absl::StatusCode::kUnavailable,       absl::StatusCode::kDeadlineExceeded,
      absl::StatusCode::kResourceExhausted, absl::StatusCode::kAborted,
      absl::StatusCode::kInternal,          absl::StatusCode::kUnknown,
      absl::StatusCode::kCancelled};
  // Every canonical code, 0 (kOk) to 16 (kUnauthenticated).
  for (int raw = 0; raw <= 16; ++raw) {
    const auto code = static_cast<absl::StatusCode>(raw);
    EXPECT_EQ(RetryPolicy::IsRetryable(code), retryable.count(code) == 1)
        << absl::StatusCodeToString(code);
  }
  EXPECT_FALSE(RetryPolicy::IsRetryable(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(RetryPolicy::IsRetryable(absl::StatusCode::kDataLoss));
  EXPECT_FALSE(RetryPolicy::IsRetryable(absl::StatusCode::kOk));
}

TEST(RetryPolicyTest, ShouldRetryUntilMaxAttemptsForRetryableCodes) {
  const RetryPolicy policy{.max_attempts = 3};
  EXPECT_TRUE(policy.ShouldRetry(1, absl::StatusCode::kUnavailable));
  EXPECT_TRUE(policy.ShouldRetry(2, absl::StatusCode::kUnavailable));
  EXPECT_FALSE(policy.ShouldRetry(3, absl::StatusCode::kUnavailable));
  EXPECT_FALSE(policy.ShouldRetry(4, absl::StatusCode::kUnavailable));
}

TEST(RetryPolicyTest, MaxAttemptsOfOneNeverRetries) {
  const RetryPolicy policy{.max_attempts = 1};
  for (int raw = 0; raw <= 16; ++raw) {
    EXPECT_FALSE(policy.ShouldRetry(1, static_cast<absl::StatusCode>(raw)));
  }
}

TEST(RetryPolicyTest, NonRetryableCodesNeverRetry) {
  const RetryPolicy policy{.max_attempts = 100};
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kFailedPrecondition,
        absl::StatusCode::kNotFound, absl::StatusCode::kOutOfRange,
        absl::StatusCode::kUnimplemented, absl::StatusCode::kDataLoss,
        absl::StatusCode::kPermissionDenied, absl::StatusCode::kUnauthenticated,
        absl::StatusCode::kAlreadyExists}) {
    EXPECT_FALSE(policy.ShouldRetry(1, code)) << absl::StatusCodeToString(code);
    EXPECT_FALSE(policy.ShouldRetry(50, code)) << absl::StatusCodeToString(code);
  }
}

TEST(RetryPolicyTest, BackoffDoublesFromInitialBackoff) {
  const RetryPolicy policy = WithoutJitter();
  std::mt19937_64 random(kSeed);
  EXPECT_EQ(policy.Backoff(1, random), absl::Milliseconds(100));
  EXPECT_EQ(policy.Backoff(2, random), absl::Milliseconds(200));
  EXPECT_EQ(policy.Backoff(3, random), absl::Milliseconds(400));
  EXPECT_EQ(policy.Backoff(4, random), absl::Milliseconds(800));
  EXPECT_EQ(policy.Backoff(9, random), absl::Milliseconds(25600));
}

TEST(RetryPolicyTest, BackoffFollowsCustomMultiplier) {
  RetryPolicy policy = WithoutJitter();
  policy.initial_backoff = absl::Milliseconds(10);
  policy.multiplier = 3.0;
  std::mt19937_64 random(kSeed);
  EXPECT_EQ(policy.Backoff(1, random), absl::Milliseconds(10));
  EXPECT_EQ(policy.Backoff(2, random), absl::Milliseconds(30));
  EXPECT_EQ(policy.Backoff(3, random), absl::Milliseconds(90));
}

TEST(RetryPolicyTest, BackoffIsCappedAtMaxBackoff) {
  const RetryPolicy policy = WithoutJitter();  // 100ms * 2^9 = 51.2s > 30s
  std::mt19937_64 random(kSeed);
  EXPECT_EQ(policy.Backoff(10, random), absl::Seconds(30));
  EXPECT_EQ(policy.Backoff(11, random), absl::Seconds(30));
}

TEST(RetryPolicyTest, BackoffStaysCappedForHugeAttemptCounts) {
  const RetryPolicy policy = WithoutJitter();
  std::mt19937_64 random(kSeed);
  for (uint32_t attempts :
       {64u, 65u, 1'000u, 1'025u, 1'000'000u, std::numeric_limits<uint32_t>::max()}) {
    EXPECT_EQ(policy.Backoff(attempts, random), absl::Seconds(30)) << attempts;
  }
}

TEST(RetryPolicyTest, BackoffWithUnitMultiplierIsConstant) {
  RetryPolicy policy = WithoutJitter();
  policy.multiplier = 1.0;
  std::mt19937_64 random(kSeed);
  EXPECT_EQ(policy.Backoff(1, random), absl::Milliseconds(100));
  EXPECT_EQ(policy.Backoff(std::numeric_limits<uint32_t>::max(), random), absl::Milliseconds(100));
}

TEST(RetryPolicyTest, ZeroInitialBackoffStaysZero) {
  RetryPolicy policy = WithoutJitter();
  policy.initial_backoff = absl::ZeroDuration();
  std::mt19937_64 random(kSeed);
  EXPECT_EQ(policy.Backoff(1, random), absl::ZeroDuration());
  EXPECT_EQ(policy.Backoff(std::numeric_limits<uint32_t>::max(), random), absl::ZeroDuration());
}

TEST(RetryPolicyTest, JitterStaysWithinBoundsOverManyDraws) {
  const RetryPolicy policy{.max_attempts = 5, .jitter = 0.2};  // 100ms, x2
  std::mt19937_64 random(kSeed);
  for (uint32_t attempts = 1; attempts <= 4; ++attempts) {
    const absl::Duration base = absl::Milliseconds(100) * (1 << (attempts - 1));
    const absl::Duration low = base * 0.8;
    const absl::Duration high = base * 1.2;
    absl::Duration smallest = absl::InfiniteDuration();
    absl::Duration largest = -absl::InfiniteDuration();
    for (int draw = 0; draw < 10'000; ++draw) {
      const absl::Duration delay = policy.Backoff(attempts, random);
      ASSERT_GE(delay, low) << "attempts " << attempts;
      ASSERT_LE(delay, high) << "attempts " << attempts;
      smallest = std::min(smallest, delay);
      largest = std::max(largest, delay);
    }
    // The draws spread over the band rather than sitting on the base.
    EXPECT_LT(smallest, base * 0.82) << "attempts " << attempts;
    EXPECT_GT(largest, base * 1.18) << "attempts " << attempts;
  }
}

TEST(RetryPolicyTest, JitterAppliesAfterTheCap) {
  const RetryPolicy policy{.max_attempts = 100, .jitter = 0.5};
  std::mt19937_64 random(kSeed);
  for (int draw = 0; draw < 1000; ++draw) {
    const absl::Duration delay = policy.Backoff(40, random);
    ASSERT_GE(delay, absl::Seconds(15));
    ASSERT_LE(delay, absl::Seconds(45));
  }
}

TEST(RetryPolicyTest, HeaderExampleRetriesAfterAbout100ThenAbout200Milliseconds) {
  const RetryPolicy policy{.max_attempts = 3, .initial_backoff = absl::Milliseconds(100)};
  std::mt19937_64 random(kSeed);
  const absl::Duration first = policy.Backoff(1, random);
  EXPECT_GE(first, absl::Milliseconds(80));
  EXPECT_LE(first, absl::Milliseconds(120));
  const absl::Duration second = policy.Backoff(2, random);
  EXPECT_GE(second, absl::Milliseconds(160));
  EXPECT_LE(second, absl::Milliseconds(240));
  EXPECT_TRUE(policy.ShouldRetry(2, absl::StatusCode::kUnavailable));
  EXPECT_FALSE(policy.ShouldRetry(3, absl::StatusCode::kUnavailable));  // dead-letter
}

TEST(RetryPolicyTest, SameSeedGivesSameBackoffs) {
  const RetryPolicy policy;
  std::mt19937_64 first_random(kSeed);
  std::mt19937_64 second_random(kSeed);
  for (uint32_t attempts = 1; attempts <= 20; ++attempts) {
    EXPECT_EQ(policy.Backoff(attempts, first_random), policy.Backoff(attempts, second_random));
  }
}

}  // namespace
}  // namespace sluice
