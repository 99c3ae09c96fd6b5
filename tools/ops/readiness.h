// File: tools/ops/readiness.h
//
// ReadinessTracker decides `/readyz` (docs/metrics.md): a pipeline is ready
// when it is healthy (Pipeline::health()), not draining, every probed source
// reaches its brokers, no dead-letter backend's last write failed, and no
// partition is stuck.
//
// Stuck: a partition that has work waiting (lag > 0; or, before its first
// commit, an event in flight) while its committed offset has not moved for
// `stuck_after` - a stage that stopped acknowledging its events, a
// poison event retried forever, a revoke that never drains. Lag alone is
// not enough: a busy partition behind by a million messages that commits
// every second is progressing. Time while the partition is held paused by
// an operator, or the whole pipeline is paused, does not count.
//
// The tracker needs history: Sample() must be called regularly (the ops
// server does, every second), and Check() samples too.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

#include "pipeline/mutex.h"
#include "pipeline/pipeline.h"
#include "pipeline/source_probe.h"

namespace sluice::ops {

struct StuckPartition {
  std::string stage;
  uint32_t instance = 0;
  std::string topic;
  int32_t partition = 0;
  std::optional<int64_t> committed;
  std::optional<int64_t> lag;
  // How long the committed offset has not moved with work waiting.
  absl::Duration stalled;
};

struct Readiness {
  bool ready = true;
  // One line per reason, e.g. `draining`, `kafka source "in" instance 0:
  // brokers unreachable`, `partition orders/3 (stage "in" instance 0) is
  // stuck: ...`.
  std::vector<std::string> reasons;
  std::vector<StuckPartition> stuck;
};

class ReadinessTracker {
 public:
  // REQUIRES: stuck_after > 0.
  explicit ReadinessTracker(absl::Duration stuck_after) : stuck_after_(stuck_after) {}

  // Records where every probed partition stands at `now`.
  void Sample(const Pipeline& pipeline, const SourceProbeRegistry& probes, absl::Time now);
  // Samples, then judges.
  Readiness Check(const Pipeline& pipeline, const SourceProbeRegistry& probes, absl::Time now);

 private:
  // stage, instance, topic, partition
  using Key = std::tuple<std::string, uint32_t, std::string, int32_t>;
  struct Track {
    std::optional<int64_t> committed;
    // Since when the committed offset is as it is, with work waiting
    // throughout and no pause (InfiniteFuture: no work waiting now).
    absl::Time stalled_since = absl::InfiniteFuture();
    std::optional<int64_t> lag;
    bool seen = false;         // in the last sample
    bool initialized = false;  // sampled at least once
  };

  const absl::Duration stuck_after_;
  Mutex mu_;
  absl::flat_hash_map<Key, Track> tracks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice::ops
