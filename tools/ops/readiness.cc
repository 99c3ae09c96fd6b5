#include "tools/ops/readiness.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sluice::ops {

void ReadinessTracker::Sample(const Pipeline& pipeline, const SourceProbeRegistry& probes,
                              absl::Time now) {
  const bool pipeline_paused = pipeline.paused();
  MutexLock lock(&mu_);
  for (auto& [key, track] : tracks_) track.seen = false;
  for (const SourceProbeRegistry::Entry& entry : probes.entries()) {
    const std::vector<HeldPartition> held = entry.probe->held();
    for (const ProbeInstance& instance : entry.probe->instances()) {
      for (const ProbePartition& partition : instance.partitions) {
        Track& track =
            tracks_[Key(entry.stage, instance.instance, partition.topic, partition.partition)];
        const bool is_held = std::any_of(held.begin(), held.end(), [&](const HeldPartition& h) {
          return h.topic == partition.topic && h.partition == partition.partition;
        });
        const bool waiting = partition.lag.has_value()
                                 ? *partition.lag > 0
                                 : partition.oldest_in_flight_age > absl::ZeroDuration();
        const bool moved = !track.initialized || partition.committed != track.committed;
        track.initialized = true;
        if (!waiting || is_held || pipeline_paused) {
          track.stalled_since = absl::InfiniteFuture();
        } else if (moved || track.stalled_since == absl::InfiniteFuture()) {
          track.stalled_since = now;
        }
        track.committed = partition.committed;
        track.lag = partition.lag;
        track.seen = true;
      }
    }
  }
  // Partitions gone (revoked, the instance stopped) are forgotten.
  absl::erase_if(tracks_, [](const auto& entry) { return !entry.second.seen; });
}

Readiness ReadinessTracker::Check(const Pipeline& pipeline, const SourceProbeRegistry& probes,
                                  absl::Time now) {
  Sample(pipeline, probes, now);
  Readiness readiness;
  if (absl::Status health = pipeline.health(); !health.ok()) {
    readiness.reasons.push_back(std::string(health.message()));
  }
  if (pipeline.draining()) readiness.reasons.push_back("draining");
  for (const SourceProbeRegistry::Entry& entry : probes.entries()) {
    for (const ProbeInstance& instance : entry.probe->instances()) {
      if (!instance.connected) {
        readiness.reasons.push_back(absl::StrCat("source \"", entry.stage, "\" instance ",
                                                 instance.instance,
                                                 ": not connected (brokers unreachable)"));
      }
    }
  }
  for (const DeadLetterReport& report : pipeline.DeadLetterSnapshot()) {
    if (!report.failing.empty()) {
      readiness.reasons.push_back(absl::StrCat("dead-letter backend ", report.description,
                                               ": last write failed: ", report.failing));
    }
  }
  {
    MutexLock lock(&mu_);
    for (const auto& [key, track] : tracks_) {
      if (track.stalled_since == absl::InfiniteFuture()) continue;
      const absl::Duration stalled = now - track.stalled_since;
      if (stalled < stuck_after_) continue;
      const auto& [stage, instance, topic, partition] = key;
      readiness.stuck.push_back(
          {stage, instance, topic, partition, track.committed, track.lag, stalled});
    }
  }
  std::sort(readiness.stuck.begin(), readiness.stuck.end(),
            [](const StuckPartition& a, const StuckPartition& b) {
              return std::tie(a.stage, a.instance, a.topic, a.partition) <
                     std::tie(b.stage, b.instance, b.topic, b.partition);
            });
  for (const StuckPartition& stuck : readiness.stuck) {
    readiness.reasons.push_back(absl::StrCat(
        "partition ", stuck.topic, "/", stuck.partition, " (stage \"", stuck.stage, "\" instance ",
        stuck.instance, ") is stuck: committed offset ",
        stuck.committed.has_value() ? absl::StrCat(*stuck.committed) : "none",
        " has not moved for ", absl::FormatDuration(absl::Trunc(stuck.stalled, absl::Seconds(1))),
        " with lag ", stuck.lag.has_value() ? absl::StrCat(*stuck.lag) : "unknown"));
  }
  readiness.ready = readiness.reasons.empty();
  return readiness;
}

}  // namespace sluice::ops
