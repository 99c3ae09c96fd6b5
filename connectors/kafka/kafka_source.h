// File: connectors/kafka/kafka_source.h
//
// KafkaSource (`type: kafka` as a source) consumes Kafka topics as a member
// of a consumer group and emits one event per message, at least once: an
// offset is committed only once every event below it is done (acknowledged,
// filtered or dead-lettered).
//
//   - name: orders
//     type: kafka
//     brokers: embedded               # or "kafka-1:9092,..."; see kafka_client_config.h
//     group: orders-enricher          # REQUIRED
//     topics: [orders]                # or topic_regex: "^orders\\..*"
//     auto_offset_reset: earliest     # earliest | latest
//     commit_interval: 1s
//     revoke_timeout: 10s
//     ordering: unordered             # unordered | partition
//     fetch_buffer: 10000             # events fetched ahead of demand, at most
//     stop_when_idle: 5s              # off by default; for batch jobs
//     properties: {fetch.max.bytes: 1048576}
//
// Threads and queues. librdkafka's calls block, so a poll thread of the
// source's own owns the consumer handle: it polls, fills one bounded local
// queue per assigned partition (at most `fetch_buffer` events over all of
// them), runs rebalances and commits, and wakes the stage
// (StageContext::Wake) when it queued something. HandleDemand() only moves
// what is queued into the output batch, under one short lock. When the queue
// is full the poll thread stops polling and waits for HandleDemand() to emit
// half of it; librdkafka's own prefetch, bounded by its queued.min.messages
// and queued.max.messages.kbytes, holds what arrives meanwhile. If the queue
// stays full for a second (demand has stopped) the poll thread pauses every
// assigned partition (rd_kafka_pause_partitions: nothing is discarded,
// fetching resumes from the last message handed over; librdkafka drops its
// prefetch, which is why a slow pipeline is not paused) and resumes them once
// HandleDemand() has emitted half of it.
//
// Zero copy. An event's key, value and headers view the rd_kafka_message_t;
// the batch retains one owner per call that destroys the messages (and keeps
// the consumer handle alive until the last of them is gone).
//
// Offsets. An event's origin is (assignment id, Kafka offset); the id is
// source-local and fresh for every assignment (kafka_source_status.h), so the
// runtime's AckTracker gives per assignment the contiguous done prefix. The
// poll thread commits it (offset = next to read) every `commit_interval`
// (asynchronously), on revoke and at Stop() (synchronously). Auto-commit and
// auto offset store are off. No commit is sent while the consumer is
// (re)joining its group: librdkafka 2.0.2 loses the whole assignment when a
// commit sent then comes back ILLEGAL_GENERATION (upstream issue #4059), so
// the source follows the join state through librdkafka's "cgrp" debug lines
// (docs/kafka.md, "Rebalances").
//
// Rebalances (cooperative-sticky by default; eager strategies work too). On
// revoke, inside librdkafka's rebalance callback on the poll thread: the
// partition stops being emitted and its local queue is dropped (never
// emitted, never counted), its in-flight events get up to `revoke_timeout` to
// be done, the done prefix is committed synchronously, the assignment id is
// forgotten by the AckTracker, and only then are exactly the revoked
// partitions unassigned. librdkafka runs no other rebalance step until the
// unassign (the group waits in "wait-unassign-call"; heartbeats go on), so a
// re-grant always comes after the unassign and keeps its new assignment.
// Lost partitions (the session expired) are neither waited for nor
// committed.
//
// Ending by itself (`stop_when_idle`, off by default). With it set, the
// source reads partition ends (enable.partition.eof) and finishes
// (ProducerOutput::Finish) once every assigned partition has been at its end,
// with nothing queued, for that long; the pipeline then ends when the rest is
// done, and Stop() commits as on shutdown.
//
// Errors. Transient errors are logged and librdkafka reconnects; connected()
// is false while every broker is down. A fatal consumer error
// (rd_kafka_fatal_error) makes the next HandleDemand() fail, which crashes
// the instance; its restart makes a new consumer.
//
// Ordering. `unordered`: any number of batches per partition in flight.
// `partition`: a partition's next batch is emitted only once every event of
// its previous one is done (see docs/kafka.md for what the runtime's
// dispatch must add for strict order across concurrent subscribers).
//
// Thread-compatible, like every stage; the poll thread shares the partition
// queues under mu_, and publishes to a KafkaSourceStatus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include <librdkafka/rdkafka.h>

#include "connectors/kafka/kafka_client_config.h"
#include "connectors/kafka/kafka_source_status.h"
#include "pipeline/mutex.h"
#include "pipeline/stage.h"

namespace sluice::connectors::kafka {

enum class KafkaOffsetReset { kEarliest, kLatest };
enum class KafkaOrdering { kUnordered, kPartition };

struct KafkaSourceOptions {
  // Brokers and librdkafka properties. REQUIRES: brokers not empty.
  KafkaClientOptions client;
  // The consumer group (group.id). REQUIRES: not empty.
  std::string group;
  // The topics to subscribe to, or a regex (librdkafka's "^..." pattern).
  // REQUIRES: exactly one of them given.
  std::vector<std::string> topics;
  std::string topic_regex;
  // Where a partition without a committed offset starts. Defaults to
  // kEarliest: a new group reads what was produced before it first joined,
  // as at-least-once asks; kLatest only from then on.
  KafkaOffsetReset auto_offset_reset = KafkaOffsetReset::kEarliest;
  // How often the done prefix is committed. Defaults to 1s. REQUIRES: > 0.
  absl::Duration commit_interval = absl::Seconds(1);
  // How long a revoked partition's in-flight events may take to be done
  // before its done prefix is committed and it is let go anyway (the rest are
  // redelivered to the new owner). Defaults to 10s. REQUIRES: below
  // max.poll.interval.ms (300s by default).
  absl::Duration revoke_timeout = absl::Seconds(10);
  // Defaults to kUnordered.
  KafkaOrdering ordering = KafkaOrdering::kUnordered;
  // Events fetched and held ahead of demand, over all partitions; at it the
  // source stops polling, and pauses the partitions if it stays full for a
  // second. Defaults to 10000. REQUIRES: >= 1.
  size_t fetch_buffer = 10000;
  // When > 0, the source finishes once at least one partition is assigned
  // and every assigned partition has been at its end (nothing more to read,
  // nothing queued) for this long; for batch jobs and the quickstart.
  // Defaults to 0: off, the source runs until the pipeline is stopped.
  absl::Duration stop_when_idle = absl::ZeroDuration();
};

// The statuses of one stage's instances, kept by its factory across
// restarts (for the metrics endpoint and tests).
//
// Thread-safe.
class KafkaSourceMonitor {
 public:
  // The status of instance `index`, made on first use.
  std::shared_ptr<KafkaSourceStatus> instance(uint32_t index);
  // Every instance's status made so far, by index (null for gaps).
  std::vector<std::shared_ptr<KafkaSourceStatus>> instances() const;
  // Holds a partition paused in every instance, now and later (the admin
  // endpoint); see KafkaSourceStatus::SetHeld. Returns whether it changed.
  bool SetHeld(const KafkaTopicPartition& topic_partition, bool held);
  std::vector<KafkaTopicPartition> held() const;

 private:
  mutable Mutex mu_;
  std::vector<std::shared_ptr<KafkaSourceStatus>> instances_ ABSL_GUARDED_BY(mu_);
  std::vector<KafkaTopicPartition> held_ ABSL_GUARDED_BY(mu_);
};

class KafkaSource final : public Producer {
 public:
  // `what` names the source in errors and logs: `kafka source "orders"`.
  KafkaSource(KafkaSourceOptions options, std::string what,
              std::shared_ptr<KafkaSourceStatus> status);
  ~KafkaSource() override;
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // `monitor` may be null.
  static ProducerFactory Factory(KafkaSourceOptions options,
                                 std::shared_ptr<KafkaSourceMonitor> monitor = nullptr);

  // Makes the consumer, subscribes and starts the poll thread. Errors: an
  // invalid librdkafka property or subscription (kInvalidArgument).
  absl::Status Start(const StageContext& context) override;
  // Emits what the poll thread has queued, at most `demand` events. Fails
  // after a fatal consumer error.
  absl::Status HandleDemand(size_t demand, ProducerOutput& out) override;
  // Commits the done prefix, leaves the group (revoking every partition) and
  // joins the poll thread. Idempotent.
  void Stop() override;

  bool connected() const { return status_->connected(); }
  const KafkaSourceStatus& status() const { return *status_; }

 private:
  class ConsumerHandle;
  struct CallbackTarget;
  struct PartitionState;

  // Poll thread.
  void PollLoop();
  // Polls once (up to 100ms) and then without waiting while messages come,
  // queueing them; returns how many were queued.
  size_t Fetch();
  // Moves `fetched_` into the partition queues.
  size_t QueueFetched();
  // Pauses every partition once the buffer has been full for
  // kPauseAfterFull, resumes them at half.
  void UpdatePause(absl::Time now);
  // The buffer is full and the partitions not paused (yet): the poll thread
  // waits for room rather than polling.
  bool WaitingForRoom();
  // Waits until HandleDemand() has emitted half the buffer, Stop(), or
  // `timeout`.
  void WaitForRoom(absl::Duration timeout);
  // Commits the done prefix of `ids` (all assigned partitions if empty)
  // where it moved past what was sent (async) or confirmed (sync). A
  // synchronous commit waits for the broker and returns the first error of
  // the partitions that failed (NO_ERROR if none, or nothing to commit).
  rd_kafka_resp_err_t Commit(const std::vector<Partition>& ids, bool sync);
  // The periodic commit: asynchronous, skipped while the group rejoins.
  void CommitPeriodically();
  // The revoke's commit, from inside the rebalance callback.
  void CommitRevoked(const std::vector<Partition>& ids);
  // Stop()'s commit: waits (serving rebalances) until the group is settled,
  // commits, and tries again after a rebalance refused it, for at most
  // kSyncCommitTimeout.
  void CommitFinal();
  // Some assigned partition's done prefix is past its confirmed commit.
  bool HasUncommitted();
  // Poll thread: finishes the source once every partition has been at its
  // end for `stop_when_idle`.
  void CheckIdle(absl::Time now);
  // librdkafka's join state says the consumer is a settled member of its
  // group (not joining, syncing or waiting for metadata).
  bool group_settled() const;
  void PublishStatus(bool query_paused_watermarks);
  // Pauses the partitions an operator holds (KafkaSourceStatus::held()) and
  // resumes the ones released, unless the buffer keeps them paused.
  void ApplyHolds();
  void ProbeConnection();
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void Assign(const rd_kafka_topic_partition_list_t* partitions);
  void Revoke(const rd_kafka_topic_partition_list_t* partitions, bool lost);
  // Waits until none of `ids` has events in flight, or `deadline`, or Stop().
  void WaitForDrain(const std::vector<Partition>& ids, absl::Time deadline);
  void OnError(int err, const char* reason);
  // `quiet`: failures are not logged (a caller that tries again logs).
  void OnCommitted(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                   bool quiet = false);

  static void RebalanceCallback(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void ErrorCallback(rd_kafka_t* handle, int err, const char* reason, void* opaque);
  static void CommitCallback(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* offsets, void* opaque);
  // On librdkafka's threads: follows the group's join state, forwards the
  // rest to spdlog.
  static void LogCallback(const rd_kafka_t* handle, int level, const char* facility,
                          const char* message);

  PartitionState* FindLocked(std::string_view topic, int32_t partition)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const KafkaSourceOptions options_;
  const std::string what_;
  const std::shared_ptr<KafkaSourceStatus> status_;
  const StageContext* context_ = nullptr;  // from Start(); outlives this
  AckTracker* ack_tracker_ = nullptr;      // the context's

  // Shared with the batches that view its messages.
  std::shared_ptr<ConsumerHandle> consumer_;
  // The consumer queue, for rd_kafka_queue_yield() from HandleDemand().
  rd_kafka_queue_t* consumer_queue_ = nullptr;
  std::thread poll_thread_;
  bool stopped_ = false;  // Stop() ran (the stage's own)

  // Poll thread only: polled, not yet queued (see QueueFetched()).
  std::vector<rd_kafka_message_t*> fetched_;
  // Poll thread only: the consumer is closing (no drain waits).
  bool closing_ = false;
  absl::Time last_watermark_query_ = absl::InfinitePast();
  // Poll thread only: since when every assigned partition is at its end
  // (InfiniteFuture while one is not), for `stop_when_idle`.
  absl::Time idle_since_ = absl::InfiniteFuture();
  // Poll thread only: since when the buffer is full without the partitions
  // being paused (InfiniteFuture while it is not).
  absl::Time full_since_ = absl::InfiniteFuture();

  mutable Mutex mu_;
  CondVar cv_;  // Stop() wakes a revoke waiting for its drain
  // HandleDemand() (or Stop()) wakes the poll thread waiting for room.
  CondVar room_cv_;
  bool waiting_for_room_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  // Assigned partitions by topic, then Kafka partition.
  absl::flat_hash_map<std::string, absl::flat_hash_map<int32_t, std::unique_ptr<PartitionState>>>
      partitions_ ABSL_GUARDED_BY(mu_);
  // The same, in assignment order, for round-robin emission.
  std::vector<PartitionState*> order_ ABSL_GUARDED_BY(mu_);
  size_t next_in_order_ ABSL_GUARDED_BY(mu_) = 0;
  // Events in the partition queues, over all partitions.
  size_t buffered_ ABSL_GUARDED_BY(mu_) = 0;
  // The partitions are paused (the buffer filled up).
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  // `stop_when_idle` passed: the next HandleDemand() finishes the source.
  bool idle_finish_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sluice::connectors::kafka
