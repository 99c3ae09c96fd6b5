// LatencyHistogram: its buckets cover every latency with edges at most ~9%
// apart, and percentiles read back the upper edge of the right bucket.
#include "pipeline/latency_histogram.h"

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(LatencyHistogramTest, EveryLatencyFallsInABucketWhoseEdgesSurroundIt) {
  for (int64_t us = 0; us < 200'000; us += (us < 5000 ? 1 : 997)) {
    const size_t bucket = LatencyHistogram::BucketOf(absl::Microseconds(us));
    ASSERT_LT(bucket, LatencyHistogram::kBuckets);
    EXPECT_GE(LatencyHistogram::UpperEdge(bucket), absl::Microseconds(us)) << us;
    if (bucket > 0) {
      EXPECT_LT(LatencyHistogram::UpperEdge(bucket - 1), absl::Microseconds(us)) << us;
    }
  }
  // Small latencies are exact; larger ones within an eighth of a power of two.
  EXPECT_EQ(LatencyHistogram::UpperEdge(LatencyHistogram::BucketOf(absl::Microseconds(7))),
            absl::Microseconds(7));
  EXPECT_EQ(LatencyHistogram::UpperEdge(LatencyHistogram::BucketOf(absl::Microseconds(1000))),
            absl::Microseconds(1023));
  EXPECT_EQ(LatencyHistogram::BucketOf(absl::Microseconds(-5)), 0u);
  EXPECT_EQ(LatencyHistogram::BucketOf(absl::Hours(24 * 365)), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogramTest, PercentilesOfAKnownDistribution) {
  LatencyHistogram histogram;
  // 990 events at 1 ms, 9 at 100 ms, 1 at 2 s.
  histogram.Record(absl::Milliseconds(1), 990);
  histogram.Record(absl::Milliseconds(100), 9);
  histogram.Record(absl::Seconds(2));
  const LatencyHistogram::Counts counts = histogram.Snapshot();
  EXPECT_EQ(LatencyHistogram::Total(counts), 1000u);
  EXPECT_EQ(LatencyHistogram::Percentile(counts, 0.5), absl::Microseconds(1023));
  EXPECT_EQ(LatencyHistogram::Percentile(counts, 0.99), absl::Microseconds(1023));
  const absl::Duration p999 = LatencyHistogram::Percentile(counts, 0.999);
  EXPECT_GE(p999, absl::Milliseconds(100));
  EXPECT_LE(p999, absl::Milliseconds(109));
  const absl::Duration max = LatencyHistogram::Percentile(counts, 1.0);
  EXPECT_GE(max, absl::Seconds(2));
  EXPECT_LE(max, absl::Milliseconds(2180));
  EXPECT_EQ(LatencyHistogram::Percentile(LatencyHistogram::Counts{}, 0.5), absl::ZeroDuration());
}

}  // namespace
}  // namespace sluice
