// File: pipeline/latency_histogram.h
//
// Latencies in microseconds, counted in log-linear buckets: 8 buckets per
// power of two (each about 9% wide), from 1 µs to about 2^40 µs (12 days).
// A percentile read back is the upper edge of its bucket, so it is within 9%
// above the true value: enough for p50/p99/p99.9 of end-to-end latency, for
// a fixed 2.6 KiB per histogram and no allocation while recording.
//
//   LatencyHistogram histogram;
//   histogram.Record(absl::Microseconds(1500));
//   LatencyHistogram::Counts counts = histogram.Snapshot();
//   absl::Duration p99 = LatencyHistogram::Percentile(counts, 0.99);
//
// Thread-safe: Record() from any thread (relaxed atomic adds), Snapshot() any
// time.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace sluice {

class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 8;  // per power of two
  static constexpr int kPowers = 40;
  static constexpr size_t kBuckets = kSubBuckets * kPowers + 1;
  using Counts = std::array<uint64_t, kBuckets>;

  void Record(absl::Duration latency, uint64_t count = 1) {
    buckets_[BucketOf(latency)].fetch_add(count, std::memory_order_relaxed);
  }
  Counts Snapshot() const;

  // The bucket a latency falls in; negative latencies (clock skew) count as 0.
  static size_t BucketOf(absl::Duration latency);
  // The largest latency bucket `bucket` holds.
  static absl::Duration UpperEdge(size_t bucket);
  // The `fraction` percentile (0.99 for p99) of `counts`: the upper edge of
  // the bucket it falls in. Zero when empty.
  static absl::Duration Percentile(const Counts& counts, double fraction);
  static uint64_t Total(const Counts& counts);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
};

}  // namespace sluice
