#include "pipeline/latency_histogram.h"

#include <bit>
#include <cmath>

namespace sluice {

LatencyHistogram::Counts LatencyHistogram::Snapshot() const {
  Counts counts{};
  for (size_t i = 0; i < kBuckets; ++i) counts[i] = buckets_[i].load(std::memory_order_relaxed);
  return counts;
}

size_t LatencyHistogram::BucketOf(absl::Duration latency) {
  const int64_t us = absl::ToInt64Microseconds(latency);
  if (us < kSubBuckets) return us <= 0 ? 0 : static_cast<size_t>(us);
  // The power of two below `us`, then which eighth of the way to the next.
  const int power = std::bit_width(static_cast<uint64_t>(us)) - 1;  // >= 3
  const int64_t base = int64_t{1} << power;
  const auto sub = static_cast<size_t>(((us - base) * kSubBuckets) >> power);
  const size_t bucket = static_cast<size_t>(power - 2) * kSubBuckets + sub;
  return std::min(bucket, kBuckets - 1);
}

absl::Duration LatencyHistogram::UpperEdge(size_t bucket) {
  if (bucket < kSubBuckets) return absl::Microseconds(static_cast<int64_t>(bucket));
  const int power = static_cast<int>(bucket / kSubBuckets) + 2;
  const int64_t base = int64_t{1} << power;
  const int64_t sub = static_cast<int64_t>(bucket % kSubBuckets);
  // The first latency of the next bucket, less one microsecond.
  return absl::Microseconds(base + (((sub + 1) << power) / kSubBuckets) - 1);
}

uint64_t LatencyHistogram::Total(const Counts& counts) {
  uint64_t total = 0;
  for (uint64_t count : counts) total += count;
  return total;
}

absl::Duration LatencyHistogram::Percentile(const Counts& counts, double fraction) {
  const uint64_t total = Total(counts);
  if (total == 0) return absl::ZeroDuration();
  // The rank of the percentile event, 1-based: ceil(fraction * total).
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(fraction * static_cast<double>(total))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts[i];
    if (seen >= rank) return UpperEdge(i);
  }
  return UpperEdge(kBuckets - 1);
}

}  // namespace sluice
