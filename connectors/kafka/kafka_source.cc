// File: connectors/kafka/kafka_source.cc
//
// The Kafka consumer-group source; see kafka_source.h for the design and
// docs/kafka.md ("Source") for the decisions behind it.
//
// Lock order: mu_, then the AckTracker's and the KafkaSourceStatus's own
// locks (neither calls back into the source). librdkafka is never called
// with mu_ held, except the cheap, non-blocking rd_kafka_message_* accessors.
#include "connectors/kafka/kafka_source.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

#include "connectors/kafka/kafka_source_probe.h"
#include "pipeline/ack_tracker.h"
#include "pipeline/clock.h"
#include "pipeline/config/stage_registry.h"
#include "pipeline/log.h"
#include "pipeline/status_macros.h"
#include "pipeline/string_view_compat.h"

namespace sluice::connectors::kafka {
namespace {

// How long one poll waits for a message: also how soon the poll thread
// notices Stop() or a resume without rd_kafka_queue_yield().
constexpr int kPollTimeoutMs = 100;
// Messages polled before they are queued under one lock.
constexpr size_t kPollBatch = 512;
// Events one HandleDemand() call emits at most: a bounded slice.
constexpr size_t kMaxEventsPerCall = 8192;
// `ordering: partition` with every queued partition still in flight: how
// soon to look again (nothing tells a producer when its events are done).
constexpr absl::Duration kOrderedRecheck = absl::Milliseconds(1);
// How often the status is published, a disconnected consumer probes the
// brokers, and paused partitions' high watermarks are queried.
constexpr absl::Duration kPublishInterval = absl::Milliseconds(100);
constexpr absl::Duration kProbeInterval = absl::Seconds(1);
constexpr int kProbeTimeoutMs = 1000;
constexpr absl::Duration kPausedWatermarkInterval = absl::Seconds(5);
constexpr int kWatermarkQueryTimeoutMs = 500;
// A synchronous commit refused while the group rebalances or its
// coordinator moves is tried again this often, for at most this long.
constexpr absl::Duration kSyncCommitRetry = absl::Milliseconds(100);
constexpr absl::Duration kSyncCommitTimeout = absl::Seconds(5);
// Stop() waits at most this long for a rejoining group to settle before its
// last commit (a rebalance on the embedded broker takes about
// session.timeout.ms - 1s).
constexpr absl::Duration kFinalCommitTimeout = absl::Seconds(10);
// A revoke waiting for its in-flight events looks this often.
constexpr absl::Duration kDrainCheck = absl::Milliseconds(5);
// A full buffer first only stops polling: librdkafka's own prefetch (bounded
// by queued.min.messages and queued.max.messages.kbytes) holds what comes
// meanwhile, and is kept. Pausing would make librdkafka drop that prefetch and
// fetch it again on resume, which costs more than the whole event path when
// the pipeline is merely slower than the broker. Only a buffer full for this
// long (demand has stopped) pauses the partitions.
constexpr absl::Duration kPauseAfterFull = absl::Seconds(1);
// How long the poll thread waits for room at a time before it serves its
// timers (commits, status) and polls again for rebalances.
constexpr absl::Duration kRoomWait = absl::Milliseconds(50);

// The source's default for librdkafka's queued.min.messages (see Start()).
constexpr int kQueuedMinMessages = 1'000'000;

// Properties the source sets itself; `properties:` may not override them.
constexpr std::string_view kOwnedProperties[] = {"group.id", "enable.auto.commit",
                                                 "enable.auto.offset.store", "auto.offset.reset"};

bool HasProperty(const KafkaClientOptions& client, std::string_view name) {
  return std::any_of(client.properties.begin(), client.properties.end(),
                     [&](const auto& property) { return property.first == name; });
}

// Errors of a group coordinator that is moving or unreachable for a moment.
bool IsCoordinatorError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
      return true;
    default:
      return false;
  }
}

// Errors of a group that rebalances (or moved on without this member): a
// commit can succeed only once this consumer has rejoined.
bool IsRebalanceError(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
         err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION || err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
}

// librdkafka 2.0.2's consumer-group join states (rdkafka_cgrp.c) in which the
// consumer is not a settled member: it has sent, or is about to send, a
// JoinGroup or SyncGroup. A commit sent then reaches the coordinator after
// the generation moved on; its ILLEGAL_GENERATION answer makes 2.0.2 reset
// the new generation to -1, fail its SyncGroup and lose the whole
// assignment (librdkafka issue #4059, fixed in 2.6.0).
bool IsJoiningState(std::string_view state) {
  return state == "init" || state == "wait-join" || state == "wait-metadata" ||
         state == "wait-sync";
}

struct TopicPartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using TopicPartitionList =
    std::unique_ptr<rd_kafka_topic_partition_list_t, TopicPartitionListDeleter>;

TopicPartitionList NewList(size_t size) {
  return TopicPartitionList(rd_kafka_topic_partition_list_new(static_cast<int>(size)));
}

std::string DescribeList(const rd_kafka_topic_partition_list_t* list) {
  std::vector<std::string> names;
  for (int i = 0; i < list->cnt; ++i) {
    names.push_back(absl::StrCat(list->elems[i].topic, "/", list->elems[i].partition));
  }
  return absl::StrJoin(names, ", ");
}

// Names the source instance a structured log line is about (pipeline/log.h).
// `context` is null before Start().
LogEvent& About(LogEvent& line, const StageContext* context) {
  if (context != nullptr) {
    line.Pipeline(context->pipeline_name())
        .Stage(context->stage_name())
        .Instance(context->instance());
  }
  return line;
}

}  // namespace

// The librdkafka handle. Shared by the source and every batch that views its
// messages: librdkafka wants the messages destroyed before the handle, and
// emitted batches may outlive the source (a restart with events in flight).
class KafkaSource::ConsumerHandle {
 public:
  ConsumerHandle(rd_kafka_t* handle, std::unique_ptr<CallbackTarget> target)
      : handle_(handle), target_(std::move(target)) {}
  // The poll thread closed the consumer already, unless Start() failed
  // half-way (then rd_kafka_destroy() closes it).
  ~ConsumerHandle() {
    if (leak_) {
      (void)target_.release();  // librdkafka's threads may still log to it
      return;
    }
    // After a fatal error rd_kafka_consumer_close() returns at once and a
    // plain rd_kafka_destroy() waits forever for the group to terminate
    // (librdkafka 2.0.2): the close has been done, so skip it.
    const bool fatal = rd_kafka_fatal_error(handle_, nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_destroy_flags(handle_, fatal ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
  }
  ConsumerHandle(const ConsumerHandle&) = delete;
  ConsumerHandle& operator=(const ConsumerHandle&) = delete;

  rd_kafka_t* get() const { return handle_; }
  // Never rd_kafka_destroy() the (closed) handle: see
  // CallbackTarget::assignor_state_missing().
  void Leak() { leak_ = true; }

 private:
  rd_kafka_t* const handle_;
  std::unique_ptr<CallbackTarget> target_;  // the callbacks' opaque
  bool leak_ = false;
};

// What librdkafka's callbacks reach. Outlives the source (it is the
// handle's): after Stop() `source` is null and callbacks do librdkafka's
// defaults.
struct KafkaSource::CallbackTarget {
  std::atomic<KafkaSource*> source{nullptr};
  // Written by LogCallback() on librdkafka's main thread, read by the poll
  // thread before it commits. A hint, ordered by nothing else: relaxed.
  std::atomic<bool> group_settled{false};
  // A JoinGroup was answered (librdkafka then holds the cooperative-sticky
  // assignor) and no SyncGroup has succeeded yet (which makes the assignor's
  // state). Destroying the handle in between aborts the process in
  // librdkafka 2.0.2 (rd_kafka_sticky_assignor_state_destroy asserts; issue
  // #4312, fixed in 2.2.1). Same threads and order as group_settled.
  std::atomic<bool> join_answered{false};
  std::atomic<bool> synced{false};
  bool assignor_state_missing() const {
    return join_answered.load(std::memory_order_relaxed) && !synced.load(std::memory_order_relaxed);
  }
  // The user asked for librdkafka debug lines (`debug` in properties);
  // otherwise the ones the source enables for itself are not forwarded.
  // Written before rd_kafka_new(), which starts the threads that read it.
  bool forward_debug = false;
};

// One assignment of a Kafka partition.
struct KafkaSource::PartitionState {
  Partition id{0};
  KafkaTopicPartition topic_partition;
  // Fetched, not emitted; offsets increase. Owned (destroyed when dropped).
  std::deque<rd_kafka_message_t*> queue;
  // The lowest offset accepted next: a message below it is a replay of one
  // queued already.
  int64_t next_offset = -1;
  bool paused = false;
  // Held paused by an operator (ApplyHolds): UpdatePause leaves it alone.
  bool held = false;
  bool revoking = false;
  // A partition end (RD_KAFKA_RESP_ERR__PARTITION_EOF) came after the last
  // message queued (only with stop_when_idle).
  bool at_end = false;
  // The last commit point sent, and the last the broker confirmed.
  int64_t commit_sent = -1;
  std::optional<int64_t> committed;
  std::optional<int64_t> high_watermark;
  // (first offset, when emitted) of each emitted run whose events may not
  // all be done: the front one holds the oldest not-done event.
  std::deque<std::pair<int64_t, absl::Time>> emitted_runs;
};

namespace {

// Owns the messages one HandleDemand() call emitted; the batch retains it.
class MessageBlock {
 public:
  MessageBlock(std::shared_ptr<const void> handle, std::vector<rd_kafka_message_t*> messages)
      : handle_(std::move(handle)), messages_(std::move(messages)) {}
  ~MessageBlock() {
    for (rd_kafka_message_t* message : messages_) rd_kafka_message_destroy(message);
  }
  MessageBlock(const MessageBlock&) = delete;
  MessageBlock& operator=(const MessageBlock&) = delete;

 private:
  // Declared first: released after the messages are destroyed.
  std::shared_ptr<const void> handle_;
  std::vector<rd_kafka_message_t*> messages_;
};

// Appends `message` to `batch` as a view (headers: one small array in the
// batch's arena, of views into the message).
void AppendMessage(EventBatch& batch, rd_kafka_message_t* message, Partition id, int64_t now_us) {
  EventFields fields;
  if (message->key != nullptr) {
    fields.key = std::string_view(static_cast<const char*>(message->key), message->key_len);
  }
  if (message->payload != nullptr) {
    fields.value = std::string_view(static_cast<const char*>(message->payload), message->len);
  }
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      headers != nullptr) {
    const size_t count = rd_kafka_header_cnt(headers);
    if (count > 0) {
      absl::Span<char> memory = batch.Allocate(count * sizeof(Header));
      auto* array = reinterpret_cast<Header*>(memory.data());
      for (size_t i = 0; i < count; ++i) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        rd_kafka_header_get_all(headers, i, &name, &value, &size);
        new (&array[i])
            Header{std::string_view(name != nullptr ? name : ""),
                   value != nullptr ? std::string_view(static_cast<const char*>(value), size)
                                    : std::string_view()};
      }
      fields.headers = absl::Span<const Header>(array, count);
    }
  }
  const int64_t timestamp_ms = rd_kafka_message_timestamp(message, nullptr);
  fields.timestamp_us = timestamp_ms >= 0 ? timestamp_ms * 1000 : now_us;
  fields.origin.partition = id;
  fields.origin.offset = Offset(message->offset);
  batch.AppendView(fields);
}

}  // namespace

std::shared_ptr<KafkaSourceStatus> KafkaSourceMonitor::instance(uint32_t index) {
  MutexLock lock(&mu_);
  if (instances_.size() <= index) instances_.resize(index + 1);
  if (instances_[index] == nullptr) {
    instances_[index] = std::make_shared<KafkaSourceStatus>();
    for (const KafkaTopicPartition& held : held_) instances_[index]->SetHeld(held, true);
  }
  return instances_[index];
}

std::vector<std::shared_ptr<KafkaSourceStatus>> KafkaSourceMonitor::instances() const {
  MutexLock lock(&mu_);
  return instances_;
}

bool KafkaSourceMonitor::SetHeld(const KafkaTopicPartition& topic_partition, bool held) {
  MutexLock lock(&mu_);
  if (!SetMembership(held_, topic_partition, held)) return false;
  for (const auto& status : instances_) {
    if (status != nullptr) status->SetHeld(topic_partition, held);
  }
  return true;
}

std::vector<KafkaTopicPartition> KafkaSourceMonitor::held() const {
  MutexLock lock(&mu_);
  return held_;
}

KafkaSource::KafkaSource(KafkaSourceOptions options, std::string what,
                         std::shared_ptr<KafkaSourceStatus> status)
    : options_(std::move(options)),
      what_(std::move(what)),
      status_(status != nullptr ? std::move(status) : std::make_shared<KafkaSourceStatus>()) {}

KafkaSource::~KafkaSource() { Stop(); }

ProducerFactory KafkaSource::Factory(KafkaSourceOptions options,
                                     std::shared_ptr<KafkaSourceMonitor> monitor) {
  if (monitor == nullptr) monitor = std::make_shared<KafkaSourceMonitor>();
  return [options = std::move(options),
          monitor](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Producer>> {
    return std::make_unique<KafkaSource>(
        options, absl::StrCat("kafka source \"", Av(context.stage_name()), "\""),
        monitor->instance(context.instance()));
  };
}

absl::Status KafkaSource::Start(const StageContext& context) {
  context_ = &context;
  ack_tracker_ = context.ack_tracker();
  if (ack_tracker_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(what_, ": runs as a producer only"));
  }
  absl::StatusOr<rd_kafka_conf_t*> made = MakeRdKafkaConf(options_.client);
  if (!made.ok()) {
    return absl::Status(made.status().code(), absl::StrCat(what_, ": ", made.status().message()));
  }
  rd_kafka_conf_t* conf = *made;
  std::vector<std::pair<std::string, std::string>> settings = {
      {"group.id", options_.group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset",
       options_.auto_offset_reset == KafkaOffsetReset::kEarliest ? "earliest" : "latest"},
  };
  if (!HasProperty(options_.client, "partition.assignment.strategy")) {
    settings.emplace_back("partition.assignment.strategy", "cooperative-sticky");
  }
  // librdkafka 2.0.2 stops fetching once its queue holds queued.min.messages
  // (default 100,000, counted over all partitions of the consumer queue) and
  // then looks again only after a fixed second (librdkafka issues #2879 and
  // #4275; 2.1 added fetch.queue.backoff.ms). Whenever the pipeline is slower
  // than the broker, which is normal, it drains those messages in a fraction
  // of that second and waits for the rest: 0.7 s stalls in a 0.3 s read.
  // Counting a million instead leaves queued.max.messages.kbytes (64 MB by
  // default) as the bound on what is prefetched.
  if (!HasProperty(options_.client, "queued.min.messages")) {
    settings.emplace_back("queued.min.messages", std::to_string(kQueuedMinMessages));
  }
  // The join state is reported only in librdkafka's "cgrp" debug lines;
  // LogCallback() reads it there (see IsJoiningState()).
  std::string debug = "cgrp";
  bool user_debug = false;
  for (const auto& [name, value] : options_.client.properties) {
    if (name != "debug") continue;
    user_debug = true;
    debug = absl::StrContains(value, "all") || absl::StrContains(value, "cgrp")
                ? value
                : absl::StrCat(value, ",cgrp");
  }
  settings.emplace_back("debug", debug);
  if (options_.stop_when_idle > absl::ZeroDuration()) {
    settings.emplace_back("enable.partition.eof", "true");
  }
  if (!HasProperty(options_.client, "client.id")) {
    settings.emplace_back("client.id",
                          absl::StrCat("sluice-", Av(context.pipeline_name()), "-",
                                       Av(context.stage_name()), "-", context.instance()));
  }
  char error[512];
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof(error)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat(what_, ": ", name, ": ", error));
    }
  }
  auto target = std::make_unique<CallbackTarget>();
  target->forward_debug = user_debug;
  rd_kafka_conf_set_opaque(conf, target.get());
  rd_kafka_conf_set_log_cb(conf, &KafkaSource::LogCallback);
  rd_kafka_conf_set_rebalance_cb(conf, &KafkaSource::RebalanceCallback);
  rd_kafka_conf_set_error_cb(conf, &KafkaSource::ErrorCallback);
  rd_kafka_conf_set_offset_commit_cb(conf, &KafkaSource::CommitCallback);
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat(what_, ": cannot make a consumer: ", error));
  }
  CallbackTarget* callbacks = target.get();
  consumer_ = std::make_shared<ConsumerHandle>(handle, std::move(target));
  callbacks->source.store(this, std::memory_order_release);
  // Rebalances, errors and commit results then arrive through the consumer
  // queue, served by the poll thread's rd_kafka_consumer_poll().
  rd_kafka_poll_set_consumer(handle);

  TopicPartitionList subscription = NewList(std::max<size_t>(1, options_.topics.size()));
  if (!options_.topic_regex.empty()) {
    rd_kafka_topic_partition_list_add(subscription.get(), options_.topic_regex.c_str(),
                                      RD_KAFKA_PARTITION_UA);
  }
  for (const std::string& topic : options_.topics) {
    rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(handle, subscription.get()); err) {
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": cannot subscribe: ", rd_kafka_err2str(err)));
  }
  consumer_queue_ = rd_kafka_queue_get_consumer(handle);
  fetched_.reserve(kPollBatch);
  poll_thread_ = std::thread([this] { PollLoop(); });
  return absl::OkStatus();
}

void KafkaSource::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.notify_all();
  room_cv_.notify_all();
  if (consumer_queue_ != nullptr) rd_kafka_queue_yield(consumer_queue_);
  if (poll_thread_.joinable()) poll_thread_.join();
  if (consumer_queue_ != nullptr) {
    rd_kafka_queue_destroy(consumer_queue_);
    consumer_queue_ = nullptr;
  }
  if (consumer_ != nullptr && static_cast<const CallbackTarget*>(rd_kafka_opaque(consumer_->get()))
                                  ->assignor_state_missing()) {
    spdlog::warn(
        "{}: the consumer joined its group but never completed a SyncGroup: its handle is "
        "closed and left undestroyed (destroying it would abort: librdkafka 2.0.2 issue #4312)",
        what_);
    consumer_->Leak();
  }
  // Batches still in flight keep the handle until their messages go.
  consumer_.reset();
}

absl::Status KafkaSource::HandleDemand(size_t demand, ProducerOutput& out) {
  std::vector<rd_kafka_message_t*> taken;
  std::vector<std::pair<Partition, size_t>> runs;  // consecutive in `taken`
  bool blocked_by_order = false;
  bool resume_fetching = false;
  size_t buffered_now = 0;
  const absl::Time now = context_->clock().Now();
  {
    MutexLock lock(&mu_);
    if (!fatal_.ok()) return fatal_;
    if (idle_finish_) {
      // Whatever arrived since the decision stays unemitted, so uncommitted:
      // the next run reads it.
      out.Finish();
      return absl::OkStatus();
    }
    demand = std::min(demand, kMaxEventsPerCall);
    const size_t count = order_.size();
    size_t ready = 0;
    for (PartitionState* state : order_) ready += state->queue.empty() ? 0 : 1;
    // Share demand fairly between the partitions that have something, one
    // pass per round (`partition` ordering: one run per partition only).
    while (taken.size() < demand && ready > 0) {
      const size_t share = std::max<size_t>(1, (demand - taken.size() + ready - 1) / ready);
      size_t progressed = 0;
      for (size_t step = 0; step < count && taken.size() < demand; ++step) {
        PartitionState* state = order_[(next_in_order_ + step) % count];
        if (state->queue.empty() || state->revoking) continue;
        if (options_.ordering == KafkaOrdering::kPartition &&
            ack_tracker_->in_flight(state->id) > 0) {
          blocked_by_order = true;
          continue;
        }
        const size_t take = std::min({share, demand - taken.size(), state->queue.size()});
        state->emitted_runs.emplace_back(state->queue.front()->offset, now);
        for (size_t i = 0; i < take; ++i) {
          taken.push_back(state->queue.front());
          state->queue.pop_front();
        }
        runs.emplace_back(state->id, take);
        progressed += take;
      }
      if (options_.ordering == KafkaOrdering::kPartition || progressed == 0) break;
      ready = 0;
      for (PartitionState* state : order_) ready += state->queue.empty() ? 0 : 1;
    }
    if (count > 0) next_in_order_ = (next_in_order_ + 1) % count;
    buffered_ -= taken.size();
    buffered_now = buffered_;
    const bool half_empty = buffered_ * 2 <= options_.fetch_buffer;
    resume_fetching = paused_ && half_empty;
    if (waiting_for_room_ && half_empty) room_cv_.notify_one();
  }
  if (resume_fetching) rd_kafka_queue_yield(consumer_queue_);
  if (taken.empty()) {
    if (blocked_by_order) context_->WakeAfter(kOrderedRecheck);
    return absl::OkStatus();
  }
  status_->PublishBuffered(buffered_now);

  EventBatch& batch = out.batch();
  batch.reserve(batch.size() + taken.size());
  const int64_t now_us = absl::ToUnixMicros(now);
  size_t index = 0;
  for (const auto& [id, run] : runs) {
    for (size_t i = 0; i < run; ++i) AppendMessage(batch, taken[index++], id, now_us);
  }
  batch.Retain(std::make_shared<MessageBlock>(consumer_, std::move(taken)));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The poll thread

void KafkaSource::PollLoop() {
  rd_kafka_t* handle = consumer_->get();
  absl::Time next_commit = absl::Now() + options_.commit_interval;
  absl::Time next_publish = absl::Now();
  absl::Time next_probe = absl::InfinitePast();
  for (;;) {
    {
      MutexLock lock(&mu_);
      if (stop_) break;
    }
    absl::Time now = absl::Now();
    if (!status_->connected() && now >= next_probe) {
      ProbeConnection();
      next_probe = absl::Now() + kProbeInterval;
    }
    UpdatePause(now);
    if (WaitingForRoom()) {
      WaitForRoom(kRoomWait);
    } else if (Fetch() > 0) {
      context_->Wake();
    }
    now = absl::Now();
    if (now >= next_commit) {
      CommitPeriodically();
      next_commit = now + options_.commit_interval;
    }
    if (options_.stop_when_idle > absl::ZeroDuration()) CheckIdle(now);
    if (now >= next_publish) {
      ApplyHolds();
      PublishStatus(now - last_watermark_query_ >= kPausedWatermarkInterval);
      next_publish = now + kPublishInterval;
    }
  }
  // Stop(): what is done now is committed, then leaving the group revokes
  // every partition through OnRebalance() (no drain wait: the pipeline has
  // drained already, or gave up on it).
  CommitFinal();
  // See CallbackTarget::assignor_state_missing(): let the SyncGroup in
  // flight complete before closing (bounded; Stop() leaks the handle if it
  // never does).
  const auto* target = static_cast<const CallbackTarget*>(rd_kafka_opaque(handle));
  const absl::Time sync_deadline = absl::Now() + kFinalCommitTimeout;
  while (target->assignor_state_missing() && absl::Now() < sync_deadline &&
         rd_kafka_fatal_error(handle, nullptr, 0) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    Fetch();
  }
  closing_ = true;
  if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(handle); err) {
    spdlog::warn("{}: closing the consumer: {}", what_, rd_kafka_err2str(err));
  }
  QueueFetched();
  std::vector<rd_kafka_message_t*> dropped;
  {
    MutexLock lock(&mu_);
    for (PartitionState* state : order_) {
      dropped.insert(dropped.end(), state->queue.begin(), state->queue.end());
      state->queue.clear();
    }
    buffered_ = 0;
  }
  for (rd_kafka_message_t* message : dropped) rd_kafka_message_destroy(message);
  PublishStatus(false);
}

size_t KafkaSource::Fetch() {
  size_t room = 0;
  {
    MutexLock lock(&mu_);
    room = buffered_ < options_.fetch_buffer ? options_.fetch_buffer - buffered_ : 0;
  }
  rd_kafka_t* handle = consumer_->get();
  rd_kafka_message_t* message = rd_kafka_consumer_poll(handle, kPollTimeoutMs);
  while (message != nullptr) {
    fetched_.push_back(message);
    if (fetched_.size() >= std::min(std::max<size_t>(room, 1), kPollBatch)) break;
    message = rd_kafka_consumer_poll(handle, 0);
  }
  return QueueFetched();
}

size_t KafkaSource::QueueFetched() {
  if (fetched_.empty()) return 0;
  std::vector<rd_kafka_message_t*> errors;
  std::vector<rd_kafka_message_t*> discarded;
  size_t queued = 0;
  size_t buffered_now = 0;
  {
    MutexLock lock(&mu_);
    PartitionState* state = nullptr;
    const rd_kafka_topic_t* state_topic = nullptr;
    int32_t state_partition = -1;
    for (rd_kafka_message_t* message : fetched_) {
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && message->rkt != nullptr) {
          // Comes after the partition's messages before it, in order.
          PartitionState* at = FindLocked(rd_kafka_topic_name(message->rkt), message->partition);
          if (at != nullptr && !at->revoking) at->at_end = true;
        }
        errors.push_back(message);
        continue;
      }
      if (message->rkt != state_topic || message->partition != state_partition) {
        state_topic = message->rkt;
        state_partition = message->partition;
        state = FindLocked(rd_kafka_topic_name(message->rkt), message->partition);
      }
      // Not (or no longer) assigned, being revoked, or a replay: never
      // queued, so never emitted nor counted.
      if (state == nullptr || state->revoking || message->offset < state->next_offset) {
        discarded.push_back(message);
        continue;
      }
      state->queue.push_back(message);
      state->next_offset = message->offset + 1;
      state->at_end = false;
      ++queued;
    }
    buffered_ += queued;
    buffered_now = buffered_;
  }
  fetched_.clear();
  if (queued > 0) {
    status_->PublishBuffered(buffered_now);
    status_->set_connected(true);
  }
  for (rd_kafka_message_t* message : errors) {
    if (message->err == RD_KAFKA_RESP_ERR__FATAL) {
      // The high-level consumer reports a fatal error as a message.
      OnError(message->err, rd_kafka_message_errstr(message));
    } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      spdlog::warn("{}: {}{}{}: {}", what_, message->rkt ? rd_kafka_topic_name(message->rkt) : "",
                   message->rkt ? "/" : "",
                   message->rkt ? absl::StrCat(message->partition) : std::string(),
                   rd_kafka_message_errstr(message));
    }
    rd_kafka_message_destroy(message);
  }
  for (rd_kafka_message_t* message : discarded) rd_kafka_message_destroy(message);
  return queued;
}

bool KafkaSource::WaitingForRoom() {
  MutexLock lock(&mu_);
  return !paused_ && buffered_ >= options_.fetch_buffer;
}

void KafkaSource::WaitForRoom(absl::Duration timeout) {
  std::unique_lock<Mutex> lock(mu_);
  waiting_for_room_ = true;
  room_cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                    [this]() { return stop_ || buffered_ * 2 <= options_.fetch_buffer; });
  waiting_for_room_ = false;
}

void KafkaSource::UpdatePause(absl::Time now) {
  TopicPartitionList changed;
  bool pause = false;
  {
    MutexLock lock(&mu_);
    if (!paused_ && buffered_ < options_.fetch_buffer) {
      full_since_ = absl::InfiniteFuture();
      return;
    }
    if (!paused_) {
      if (full_since_ == absl::InfiniteFuture()) full_since_ = now;
      if (now - full_since_ < kPauseAfterFull) return;
      pause = true;
      full_since_ = absl::InfiniteFuture();
    } else if (buffered_ * 2 <= options_.fetch_buffer) {
      pause = false;
    } else {
      return;
    }
    paused_ = pause;
    changed = NewList(order_.size());
    for (PartitionState* state : order_) {
      if (state->revoking || state->paused == pause || state->held) continue;
      state->paused = pause;
      rd_kafka_topic_partition_list_add(changed.get(), state->topic_partition.topic.c_str(),
                                        state->topic_partition.partition);
    }
  }
  if (changed->cnt == 0) return;
  rd_kafka_t* handle = consumer_->get();
  // Pausing drops what librdkafka prefetched for the partitions; resuming
  // fetches again from the last message polled + 1, so nothing is skipped.
  const rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(handle, changed.get())
                                        : rd_kafka_resume_partitions(handle, changed.get());
  if (err) {
    spdlog::warn("{}: {} partitions: {}", what_, pause ? "pausing" : "resuming",
                 rd_kafka_err2str(err));
  } else {
    // Debug: a full buffer pauses and a drained one resumes, many times a
    // second under load.
    LogEvent line(spdlog::level::debug, pause ? "partitions_paused" : "partitions_resumed");
    if (line.enabled()) {
      About(line, context_)
          .Field("reason", "backpressure")
          .Field("partitions", DescribeList(changed.get()));
    }
  }
}

rd_kafka_resp_err_t KafkaSource::Commit(const std::vector<Partition>& ids, bool sync) {
  TopicPartitionList offsets = NewList(8);
  {
    MutexLock lock(&mu_);
    for (PartitionState* state : order_) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), state->id) == ids.end()) continue;
      // The contiguous done prefix only: 7 may be done while 5 is in flight.
      const std::optional<Offset> point = ack_tracker_->CommitPoint(state->id);
      if (!point.has_value()) continue;
      // Async: not again while one is on its way. Sync: whatever the broker
      // has not confirmed (an async one may still fail).
      const int64_t below = sync ? state->committed.value_or(-1) : state->commit_sent;
      if (point->value() <= below) continue;
      rd_kafka_topic_partition_list_add(offsets.get(), state->topic_partition.topic.c_str(),
                                        state->topic_partition.partition)
          ->offset = point->value();
      state->commit_sent = std::max(state->commit_sent, point->value());
    }
  }
  if (offsets->cnt == 0) return RD_KAFKA_RESP_ERR_NO_ERROR;
  if (!sync) {
    // Reports through CommitCallback(), unless it was not even sent.
    const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_->get(), offsets.get(), 1);
    if (err) OnCommitted(err, offsets.get());
    return err;
  }
  const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_->get(), offsets.get(), 0);
  OnCommitted(err, offsets.get(), /*quiet=*/true);
  if (err) return err;
  for (int i = 0; i < offsets->cnt; ++i) {
    if (offsets->elems[i].err) return offsets->elems[i].err;
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

void KafkaSource::CommitPeriodically() {
  // Not while the group is rejoining (see IsJoiningState()): the next tick
  // after it settled commits instead. What remains is a window of
  // microseconds between this check and librdkafka taking the commit.
  if (!group_settled()) return;
  Commit({}, /*sync=*/false);
}

void KafkaSource::CommitRevoked(const std::vector<Partition>& ids) {
  // Inside the rebalance callback this member cannot rejoin, so a rebalance
  // that refuses the commit now refuses it until the callback returns: only
  // a coordinator that moves or reconnects is waited for.
  const absl::Time deadline = absl::Now() + kSyncCommitTimeout;
  for (;;) {
    const rd_kafka_resp_err_t err = Commit(ids, /*sync=*/true);
    if (!err) return;
    if (!IsCoordinatorError(err) || absl::Now() >= deadline) {
      spdlog::warn(
          "{}: commit on revoke failed: {}: the partitions' next owner reads again from the "
          "last committed offset",
          what_, rd_kafka_err2str(err));
      return;
    }
    absl::SleepFor(kSyncCommitRetry);
  }
}

void KafkaSource::CommitFinal() {
  // The group may be rebalancing (another member joining or leaving): wait
  // until this consumer has rejoined, serving the rebalance callbacks, and
  // commit then.
  // After a fatal error librdkafka refuses every commit.
  if (rd_kafka_fatal_error(consumer_->get(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const absl::Time deadline = absl::Now() + kFinalCommitTimeout;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  while (HasUncommitted()) {
    if (group_settled()) {
      err = Commit({}, /*sync=*/true);
      if (!err || (!IsRebalanceError(err) && !IsCoordinatorError(err))) break;
    } else {
      err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    }
    if (absl::Now() >= deadline) break;
    if (group_settled()) {
      absl::SleepFor(kSyncCommitRetry);
    } else {
      // Serves the rebalance (up to kPollTimeoutMs); what this fetches is
      // dropped at close, never emitted.
      Fetch();
    }
  }
  if (err && HasUncommitted()) {
    spdlog::warn("{}: last commit failed: {}: events done since the last commit are read again",
                 what_, rd_kafka_err2str(err));
  }
}

bool KafkaSource::HasUncommitted() {
  MutexLock lock(&mu_);
  for (PartitionState* state : order_) {
    const std::optional<Offset> point = ack_tracker_->CommitPoint(state->id);
    if (point.has_value() && point->value() > state->committed.value_or(-1)) return true;
  }
  return false;
}

void KafkaSource::CheckIdle(absl::Time now) {
  bool all_at_end = false;
  {
    MutexLock lock(&mu_);
    if (idle_finish_) return;
    all_at_end = !order_.empty() && buffered_ == 0 &&
                 std::all_of(order_.begin(), order_.end(), [](const PartitionState* state) {
                   return state->at_end && !state->revoking;
                 });
  }
  if (!all_at_end) {
    idle_since_ = absl::InfiniteFuture();
    return;
  }
  if (idle_since_ == absl::InfiniteFuture()) idle_since_ = now;
  if (now - idle_since_ < options_.stop_when_idle) return;
  spdlog::info("{}: every partition at its end for {}: finishing (stop_when_idle)", what_,
               absl::FormatDuration(options_.stop_when_idle));
  {
    MutexLock lock(&mu_);
    idle_finish_ = true;
  }
  context_->Wake();
}

bool KafkaSource::group_settled() const {
  const CallbackTarget* target =
      static_cast<const CallbackTarget*>(rd_kafka_opaque(consumer_->get()));
  return target->group_settled.load(std::memory_order_relaxed);
}

void KafkaSource::OnCommitted(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                              bool quiet) {
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || offsets == nullptr) return;
  bool any_ok = false;
  std::string failed;
  {
    MutexLock lock(&mu_);
    for (int i = 0; i < offsets->cnt; ++i) {
      const rd_kafka_topic_partition_t& element = offsets->elems[i];
      PartitionState* state = FindLocked(element.topic, element.partition);
      const rd_kafka_resp_err_t element_err = err ? err : element.err;
      if (element_err) {
        // Sent again at the next tick (if the partition is still ours).
        if (state != nullptr) state->commit_sent = state->committed.value_or(-1);
        absl::StrAppend(&failed, failed.empty() ? "" : ", ", element.topic, "/", element.partition,
                        ": ", rd_kafka_err2str(element_err));
        continue;
      }
      any_ok = true;
      if (state != nullptr && element.offset >= 0) {
        state->committed = std::max(state->committed.value_or(-1), element.offset);
      }
    }
  }
  if (any_ok) status_->set_connected(true);
  if (!failed.empty() && !quiet) {
    LogEvent line(spdlog::level::warn, "commit_failed");
    About(line, context_).Field("errors", failed);
  }
  if (any_ok) {
    // Debug: one line per commit interval would flood info.
    LogEvent line(spdlog::level::debug, "offsets_committed");
    if (line.enabled()) {
      std::string committed;
      for (int i = 0; i < offsets->cnt; ++i) {
        const rd_kafka_topic_partition_t& element = offsets->elems[i];
        if ((err ? err : element.err) || element.offset < 0) continue;
        absl::StrAppend(&committed, committed.empty() ? "" : ", ", element.topic, "/",
                        element.partition, "@", element.offset);
      }
      About(line, context_).Field("offsets", committed);
    }
  }
}

void KafkaSource::PublishStatus(bool query_paused_watermarks) {
  std::vector<KafkaPartitionStatus> partitions;
  size_t buffered_now = 0;
  const absl::Time now = absl::Now();
  {
    MutexLock lock(&mu_);
    partitions.reserve(order_.size());
    for (PartitionState* state : order_) {
      KafkaPartitionStatus& status = partitions.emplace_back();
      status.id = state->id;
      status.topic_partition = state->topic_partition;
      status.committed = state->committed;
      status.high_watermark = state->high_watermark;
      status.in_flight = ack_tracker_->in_flight(state->id);
      status.buffered = state->queue.size();
      status.paused = state->paused;
      status.revoking = state->revoking;
      const std::optional<Offset> point = ack_tracker_->CommitPoint(state->id);
      auto& runs = state->emitted_runs;
      while (point.has_value() && runs.size() >= 2 && runs[1].first <= point->value()) {
        runs.pop_front();
      }
      if (status.in_flight > 0 && !runs.empty()) status.oldest_in_flight_age = now - runs[0].second;
    }
    buffered_now = buffered_;
  }
  rd_kafka_t* handle = consumer_->get();
  for (KafkaPartitionStatus& status : partitions) {
    int64_t low = -1;
    int64_t high = -1;
    const char* topic = status.topic_partition.topic.c_str();
    const int32_t partition = status.topic_partition.partition;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
    if (status.paused && query_paused_watermarks && !closing_) {
      // No fetch responses while paused: ask the broker.
      err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high,
                                             kWatermarkQueryTimeoutMs);
      last_watermark_query_ = now;
    } else {
      err = rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0) {
      status.high_watermark = std::max(status.high_watermark.value_or(-1), high);
    }
    if (status.high_watermark.has_value() && status.committed.has_value()) {
      status.lag = std::max<int64_t>(0, *status.high_watermark - *status.committed);
    }
  }
  {
    MutexLock lock(&mu_);
    for (const KafkaPartitionStatus& status : partitions) {
      PartitionState* state =
          FindLocked(status.topic_partition.topic, status.topic_partition.partition);
      if (state != nullptr && state->id == status.id) state->high_watermark = status.high_watermark;
    }
  }
  status_->Publish(std::move(partitions), buffered_now, options_.fetch_buffer);
}

void KafkaSource::ProbeConnection() {
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(consumer_->get(), 0, nullptr, &metadata, kProbeTimeoutMs);
  if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) status_->set_connected(true);
}

KafkaSource::PartitionState* KafkaSource::FindLocked(std::string_view topic, int32_t partition) {
  auto topic_it = partitions_.find(Av(topic));
  if (topic_it == partitions_.end()) return nullptr;
  auto it = topic_it->second.find(partition);
  return it == topic_it->second.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------------------
// Rebalances

void KafkaSource::OnRebalance(rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t* partitions) {
  rd_kafka_t* handle = consumer_->get();
  // What was polled before this rebalance belongs to the assignment it came
  // from: queue it (or drop it) before the assignment changes.
  QueueFetched();
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (partitions->cnt > 0) {
      LogEvent line(spdlog::level::info, "partitions_assigned");
      About(line, context_)
          .Field("count", partitions->cnt)
          .Field("partitions", DescribeList(partitions))
          .Field("protocol", cooperative ? "cooperative" : "eager");
    }
    Assign(partitions);
    if (cooperative) {
      if (rd_kafka_error_t* error = rd_kafka_incremental_assign(handle, partitions)) {
        spdlog::error("{}: incremental assign: {}", what_, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
      }
    } else {
      rd_kafka_assign(handle, partitions);
    }
    bool paused = false;
    {
      MutexLock lock(&mu_);
      paused = paused_;
    }
    if (paused) rd_kafka_pause_partitions(handle, partitions);
    status_->set_connected(true);
  } else {
    const bool lost = rd_kafka_assignment_lost(handle) != 0;
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      spdlog::error("{}: rebalance error: {}", what_, rd_kafka_err2str(err));
    }
    {
      LogEvent line(lost ? spdlog::level::warn : spdlog::level::info,
                    lost ? "partitions_lost" : "partitions_revoked");
      About(line, context_)
          .Field("count", partitions->cnt)
          .Field("partitions", DescribeList(partitions));
    }
    Revoke(partitions, lost);
    // Exactly the partitions revoked, and only now: librdkafka runs no other
    // rebalance step before this callback returns, so a re-grant comes after
    // this unassign and keeps its assignment.
    if (cooperative) {
      if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(handle, partitions)) {
        spdlog::error("{}: incremental unassign: {}", what_, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
      }
    } else {
      rd_kafka_assign(handle, nullptr);
    }
  }
  PublishStatus(false);
}

void KafkaSource::Assign(const rd_kafka_topic_partition_list_t* partitions) {
  MutexLock lock(&mu_);
  for (int i = 0; i < partitions->cnt; ++i) {
    const rd_kafka_topic_partition_t& element = partitions->elems[i];
    auto& slot = partitions_[element.topic][element.partition];
    if (slot != nullptr) continue;  // assigned already (an eager re-assign)
    auto state = std::make_unique<PartitionState>();
    state->topic_partition = {element.topic, element.partition};
    state->id = status_->NewAssignment(state->topic_partition);
    // Dead letters of this assignment's events name the topic and partition,
    // so `sluice dlq replay` can send them back where they came from.
    context_->NamePartition(state->id, {.topic = element.topic, .partition = element.partition});
    state->paused = paused_;
    order_.push_back(state.get());
    slot = std::move(state);
  }
}

void KafkaSource::Revoke(const rd_kafka_topic_partition_list_t* partitions, bool lost) {
  std::vector<Partition> ids;
  std::vector<rd_kafka_message_t*> dropped;
  {
    MutexLock lock(&mu_);
    for (int i = 0; i < partitions->cnt; ++i) {
      PartitionState* state =
          FindLocked(partitions->elems[i].topic, partitions->elems[i].partition);
      if (state == nullptr) continue;
      // Never emitted, so never counted done: the next owner reads them.
      state->revoking = true;
      dropped.insert(dropped.end(), state->queue.begin(), state->queue.end());
      buffered_ -= state->queue.size();
      state->queue.clear();
      ids.push_back(state->id);
    }
  }
  for (rd_kafka_message_t* message : dropped) rd_kafka_message_destroy(message);
  if (ids.empty()) return;
  PublishStatus(false);  // shows the partitions revoking while they drain
  if (!lost) {
    if (!closing_) WaitForDrain(ids, absl::Now() + options_.revoke_timeout);
    CommitRevoked(ids);
  }
  {
    MutexLock lock(&mu_);
    for (int i = 0; i < partitions->cnt; ++i) {
      auto topic_it = partitions_.find(partitions->elems[i].topic);
      if (topic_it == partitions_.end()) continue;
      topic_it->second.erase(partitions->elems[i].partition);
      if (topic_it->second.empty()) partitions_.erase(topic_it);
    }
    order_.clear();
    for (auto& [topic, by_partition] : partitions_) {
      for (auto& [partition, state] : by_partition) order_.push_back(state.get());
    }
    next_in_order_ = 0;
  }
  // Events of these assignments that complete from now on are ignored: they
  // can never move a later assignment's commit point. (At close the run's
  // report keeps them.)
  if (!closing_) {
    for (const Partition id : ids) ack_tracker_->Reset(id);
  }
}

void KafkaSource::WaitForDrain(const std::vector<Partition>& ids, absl::Time deadline) {
  std::unique_lock<Mutex> lock(mu_);
  for (;;) {
    size_t in_flight = 0;
    for (const Partition id : ids) in_flight += ack_tracker_->in_flight(id);
    if (in_flight == 0) return;
    if (stop_ || absl::Now() >= deadline) {
      spdlog::warn(
          "{}: revoking with {} events still in flight (revoke_timeout {}): they "
          "are redelivered to the partitions' next owner",
          what_, in_flight, absl::FormatDuration(options_.revoke_timeout));
      return;
    }
    cv_.wait_for(lock, absl::ToChronoNanoseconds(kDrainCheck));
  }
}

// ---------------------------------------------------------------------------
// Callbacks (on the poll thread, inside rd_kafka_consumer_poll/close)

void KafkaSource::OnError(int err, const char* reason) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char text[512] = "";
    const rd_kafka_resp_err_t original = rd_kafka_fatal_error(consumer_->get(), text, sizeof(text));
    spdlog::error("{}: fatal consumer error: {}: {}", what_, rd_kafka_err2name(original), text);
    {
      MutexLock lock(&mu_);
      fatal_ = absl::InternalError(
          absl::StrCat(what_, ": fatal consumer error: ", rd_kafka_err2name(original), ": ", text));
    }
    context_->Wake();
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) status_->set_connected(false);
  // Transient: librdkafka reconnects and retries by itself.
  spdlog::warn("{}: {}: {}", what_, rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)),
               reason != nullptr ? reason : "");
}

void KafkaSource::RebalanceCallback(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                                    rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  KafkaSource* source =
      static_cast<CallbackTarget*>(opaque)->source.load(std::memory_order_acquire);
  if (source != nullptr) {
    source->OnRebalance(err, partitions);
    return;
  }
  // The source is gone (rd_kafka_destroy() closing for it): librdkafka's
  // default handling.
  if (std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0) {
    rd_kafka_error_t* error = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                                  ? rd_kafka_incremental_assign(handle, partitions)
                                  : rd_kafka_incremental_unassign(handle, partitions);
    if (error != nullptr) rd_kafka_error_destroy(error);
  } else {
    rd_kafka_assign(handle, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? partitions : nullptr);
  }
}

void KafkaSource::ErrorCallback(rd_kafka_t* handle, int err, const char* reason, void* opaque) {
  (void)handle;
  KafkaSource* source =
      static_cast<CallbackTarget*>(opaque)->source.load(std::memory_order_acquire);
  if (source != nullptr) source->OnError(err, reason);
}

void KafkaSource::CommitCallback(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  (void)handle;
  KafkaSource* source =
      static_cast<CallbackTarget*>(opaque)->source.load(std::memory_order_acquire);
  if (source != nullptr) source->OnCommitted(err, offsets);
}

void KafkaSource::LogCallback(const rd_kafka_t* handle, int level, const char* facility,
                              const char* message) {
  auto* target = static_cast<CallbackTarget*>(rd_kafka_opaque(handle));
  if (target != nullptr && std::strcmp(facility, "CGRPJOINSTATE") == 0) {
    // [thrd:main]: Group "orders" changed join state steady -> wait-join (state up)
    const std::string_view text(message);
    const size_t arrow = text.rfind(" -> ");
    if (arrow != std::string_view::npos) {
      std::string_view from = text.substr(0, arrow);
      from = from.substr(from.rfind(' ') + 1);
      std::string_view state = text.substr(arrow + 4);
      state = state.substr(0, state.find(' '));
      target->group_settled.store(!IsJoiningState(state), std::memory_order_relaxed);
      // wait-join -> wait-metadata (leader) or wait-sync: JoinGroup answered.
      // wait-sync -> anything but init: SyncGroup succeeded.
      if (from == "wait-join" && (state == "wait-metadata" || state == "wait-sync")) {
        target->join_answered.store(true, std::memory_order_relaxed);
      } else if (from == "wait-sync" && state != "init") {
        target->synced.store(true, std::memory_order_relaxed);
      }
    }
  }
  constexpr int kDebugLevel = 7;  // syslog's LOG_DEBUG
  if (level < kDebugLevel || target == nullptr || target->forward_debug) {
    LogRdKafkaToSpdlog(handle, level, facility, message);
  }
}

void KafkaSource::ApplyHolds() {
  const std::vector<KafkaTopicPartition> held = status_->held();
  TopicPartitionList to_pause = NewList(held.size());
  TopicPartitionList to_resume = NewList(1);
  {
    MutexLock lock(&mu_);
    for (PartitionState* state : order_) {
      const bool want = std::find(held.begin(), held.end(), state->topic_partition) != held.end();
      if (state->revoking || want == state->held) continue;
      state->held = want;
      const char* topic = state->topic_partition.topic.c_str();
      if (want && !state->paused) {
        state->paused = true;
        rd_kafka_topic_partition_list_add(to_pause.get(), topic, state->topic_partition.partition);
      } else if (!want && state->paused && !paused_) {
        // Released while the buffer has room: fetch again (else UpdatePause
        // resumes it with the others).
        state->paused = false;
        rd_kafka_topic_partition_list_add(to_resume.get(), topic, state->topic_partition.partition);
      }
      spdlog::info("{}: partition {}/{} {} by an operator", what_, state->topic_partition.topic,
                   state->topic_partition.partition, want ? "held paused" : "released");
    }
  }
  rd_kafka_t* handle = consumer_->get();
  if (to_pause->cnt > 0) rd_kafka_pause_partitions(handle, to_pause.get());
  if (to_resume->cnt > 0) rd_kafka_resume_partitions(handle, to_resume.get());
}

// ---------------------------------------------------------------------------
// Registration: `type: kafka` as a source

namespace {

ProducerFactory MakeKafkaSource(StageTypeContext& context) {
  OptionReader& options = context.options;
  KafkaSourceOptions source;
  if (std::optional<KafkaClientOptions> client = ReadKafkaClientOptions(options)) {
    for (const std::string_view owned : kOwnedProperties) {
      if (HasProperty(*client, owned)) {
        options.Error("properties",
                      absl::StrCat("\"", Av(owned),
                                   "\" is set by the source (group, auto_offset_reset; offsets "
                                   "are committed only when done)"));
      }
    }
    source.client = std::move(*client);
  }
  std::optional<std::string> group = options.String("group");
  if (!group.has_value() && !options.failed()) {
    options.Error("group", "is required");
  } else if (group.has_value() && group->empty()) {
    options.Error("group", "must not be empty");
  } else if (group.has_value()) {
    source.group = std::move(*group);
  }
  std::optional<std::vector<std::string>> topics = options.StringList("topics");
  std::optional<std::string> topic_regex = options.String("topic_regex");
  if (topics.has_value() == topic_regex.has_value()) {
    options.Error(topics.has_value() ? "topic_regex" : "topics",
                  "give exactly one of `topics` and `topic_regex`");
  } else if (topics.has_value()) {
    if (topics->empty()) options.Error("topics", "must not be empty");
    for (const std::string& topic : *topics) {
      if (topic.empty() || topic.front() == '^') {
        options.Error("topics", "names a topic, not a pattern (use topic_regex)");
        break;
      }
    }
    source.topics = std::move(*topics);
  } else if (topic_regex->empty()) {
    options.Error("topic_regex", "must not be empty");
  } else {
    // librdkafka takes a name starting with "^" as a regex, anchored there.
    source.topic_regex = topic_regex->front() == '^' ? *topic_regex : "^" + *topic_regex;
  }
  source.auto_offset_reset =
      options
          .Enum<KafkaOffsetReset>("auto_offset_reset", {{"earliest", KafkaOffsetReset::kEarliest},
                                                        {"latest", KafkaOffsetReset::kLatest}})
          .value_or(source.auto_offset_reset);
  source.commit_interval =
      options.Duration("commit_interval", absl::Milliseconds(1)).value_or(source.commit_interval);
  source.revoke_timeout = options.Duration("revoke_timeout").value_or(source.revoke_timeout);
  source.ordering = options
                        .Enum<KafkaOrdering>("ordering", {{"unordered", KafkaOrdering::kUnordered},
                                                          {"partition", KafkaOrdering::kPartition}})
                        .value_or(source.ordering);
  if (std::optional<int64_t> fetch_buffer = options.Int("fetch_buffer", 1, 100'000'000)) {
    source.fetch_buffer = static_cast<size_t>(*fetch_buffer);
  }
  source.stop_when_idle =
      options.Duration("stop_when_idle", absl::Milliseconds(1)).value_or(source.stop_when_idle);
  if (options.failed()) return nullptr;
  auto monitor = std::make_shared<KafkaSourceMonitor>();
  if (context.probes != nullptr) {
    context.probes->Add(std::string(context.stage_name), MakeKafkaSourceProbe(monitor));
  }
  return KafkaSource::Factory(std::move(source), std::move(monitor));
}

}  // namespace

SLUICE_REGISTER_PRODUCER("kafka", MakeKafkaSource);

}  // namespace sluice::connectors::kafka
