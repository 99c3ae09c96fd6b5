// File: connectors/kafka/kafka_source_status.h
//
// KafkaSourceStatus is what one Kafka source instance says about itself to
// the world outside the pipeline (the metrics and readiness endpoints, tests):
// whether it reaches the brokers, and per assigned partition the committed
// offset, the lag, how old its oldest not-done event is and whether it is
// paused. It also owns the source-local partition ids.
//
// Partition ids. An event's Origin::partition is a source-local id, not the
// Kafka partition number: one source reads many topics, and the runtime's
// AckTracker counts per id. Every *assignment* of a (topic, partition) gets a
// fresh id, so that the events emitted before a revoke, which may still
// complete after it, land on the old id (forgotten by AckTracker::Reset) and
// can never move the commit point of a later assignment of the same
// partition, to this consumer or another (broadway_kafka keys its acks by
// group generation for the same reason). Describe() maps an id back to its
// topic and partition for as long as the status lives, for dead letters and
// logs.
//
// The status outlives the KafkaSource it describes: the stage's factory keeps
// one per instance index across restarts, so ids never repeat within a run.
//
// Thread-safe: the source's poll thread publishes, anyone reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

#include "pipeline/mutex.h"
#include "pipeline/named_type.h"

namespace sluice::connectors::kafka {

struct KafkaTopicPartition {
  std::string topic;
  int32_t partition = 0;

  friend bool operator==(const KafkaTopicPartition&, const KafkaTopicPartition&) = default;
};

// One assigned partition, as of the last publication (every poll-loop turn,
// at most commit_interval apart).
struct KafkaPartitionStatus {
  // The source-local id of this assignment (Origin::partition of its events).
  Partition id{0};
  KafkaTopicPartition topic_partition;
  // The last offset committed to the group (the next to read), by this
  // source; nullopt before its first commit.
  std::optional<int64_t> committed;
  // The partition's high watermark as last seen (fetch responses, or a query
  // while the partition is paused); nullopt before the first.
  std::optional<int64_t> high_watermark;
  // high_watermark - committed, when both are known.
  std::optional<int64_t> lag;
  // How long ago the oldest emitted event that is not done yet was emitted;
  // zero when none is in flight.
  absl::Duration oldest_in_flight_age;
  // Emitted and not done.
  size_t in_flight = 0;
  // Fetched and held by the source, not emitted yet.
  size_t buffered = 0;
  // Fetching stopped because the source's buffer is full (no demand).
  bool paused = false;
  // Being revoked: no longer emitted, waiting for its in-flight events.
  bool revoking = false;
};

// Adds `topic_partition` to `list` (held) or removes it (not held); returns
// whether the list changed. For the partitions an operator holds paused.
bool SetMembership(std::vector<KafkaTopicPartition>& list,
                   const KafkaTopicPartition& topic_partition, bool held);

class KafkaSourceStatus {
 public:
  KafkaSourceStatus() = default;
  KafkaSourceStatus(const KafkaSourceStatus&) = delete;
  KafkaSourceStatus& operator=(const KafkaSourceStatus&) = delete;

  // A fresh id for a new assignment of `topic_partition`.
  Partition NewAssignment(KafkaTopicPartition topic_partition);
  // The topic and partition of assignment `id`; nullopt for an id never
  // handed out.
  std::optional<KafkaTopicPartition> Describe(Partition id) const;

  // False while every broker is unreachable (readiness).
  bool connected() const;
  void set_connected(bool connected);

  // The assigned partitions, sorted by topic then partition.
  std::vector<KafkaPartitionStatus> partitions() const;
  // Events fetched and held, over all partitions; never above
  // fetch_buffer() (see KafkaSourceOptions::fetch_buffer).
  size_t buffered() const;
  // The largest buffered() ever published: what a test of the bound reads.
  size_t peak_buffered() const;
  size_t fetch_buffer() const;

  // The poll thread's publication.
  void Publish(std::vector<KafkaPartitionStatus> partitions, size_t buffered, size_t fetch_buffer);
  // Only `buffered` (published on every fetch, so the peak is exact).
  void PublishBuffered(size_t buffered);

  // Partitions an operator holds paused (the admin endpoint, through
  // KafkaSourceProbe): the poll thread keeps them paused, whatever its
  // buffer says, until released. Returns whether that changed anything.
  bool SetHeld(const KafkaTopicPartition& topic_partition, bool held);
  std::vector<KafkaTopicPartition> held() const;

 private:
  mutable Mutex mu_;
  int32_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<Partition, KafkaTopicPartition> assignments_ ABSL_GUARDED_BY(mu_);
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<KafkaPartitionStatus> partitions_ ABSL_GUARDED_BY(mu_);
  size_t buffered_ ABSL_GUARDED_BY(mu_) = 0;
  size_t peak_buffered_ ABSL_GUARDED_BY(mu_) = 0;
  size_t fetch_buffer_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<KafkaTopicPartition> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice::connectors::kafka
