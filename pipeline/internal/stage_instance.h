// File: pipeline/internal/stage_instance.h
//
// A StageInstance is the runtime around one instance of a user's stage: an
// Actor with a mailbox that speaks the demand protocol on both sides, owns
// the producer buffer and dispatcher (producers and producer-consumers), the
// per-subscription demand and the inbox (producer-consumers and consumers),
// the retry queue and the dead-letter path, and replaces the user's stage
// object when its supervisor restarts it. Subscriptions, inbox and retries
// belong to the instance, not to the user's object, so a restart loses none
// of them (docs/decisions/0003-restart-keeps-subscriptions.md).
//
// One slice (RunSlice) in order: take messages; apply a requested restart;
// send what demand allows from the buffer; producers: ask the stage for more;
// others: hand due retries, then inbox chunks, to the stage; check whether
// the instance has finished.
//
// Thread-safe entry points: the Post*() methods, Wake(), RequestRestart(),
// RequestCrash(), RequestDrain(). Everything else runs inside the actor, one worker at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

#include "pipeline/ack_tracker.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/demand.h"
#include "pipeline/dispatcher.h"
#include "pipeline/event_batch.h"
#include "pipeline/internal/callback_gate.h"
#include "pipeline/internal/held_events.h"
#include "pipeline/internal/scheduler.h"
#include "pipeline/mutex.h"
#include "pipeline/stage.h"
#include "pipeline/stage_metrics.h"

namespace sluice::internal {

class PipelineRuntime;
struct StageRuntime;
class StageInstance;

// What a PendingAcks refers to. The runtime arms it when the HandleEvents()
// call that deferred returns; a completion that comes earlier (inside that
// very call) is kept and applied on arming.
// How a PendingAcks completes: `status` for all its events, except (when
// `status` is OK) those in `failed`, by their index in the deferring call's
// batch.
struct PendingAcksCompletion {
  absl::Status status;
  std::vector<std::pair<size_t, absl::Status>> failed;
};

struct PendingAcksState {
  Mutex mu;
  StageInstance* owner ABSL_GUARDED_BY(mu) = nullptr;
  EventBatch events ABSL_GUARDED_BY(mu);
  // Per event of `events`: its index in the deferring call's batch.
  std::vector<uint32_t> batch_index ABSL_GUARDED_BY(mu);
  bool armed ABSL_GUARDED_BY(mu) = false;
  bool completed ABSL_GUARDED_BY(mu) = false;
  std::optional<PendingAcksCompletion> early ABSL_GUARDED_BY(mu);
  std::shared_ptr<CallbackGate> gate ABSL_GUARDED_BY(mu);
};

// Completes `state` (see PendingAcksCompletion). Idempotent: only the first
// completion counts.
void CompletePendingAcks(PendingAcksState& state, PendingAcksCompletion completion);

class StageInstance final : public Actor, private DispatchTarget {
 public:
  StageInstance(PipelineRuntime& runtime, StageRuntime& stage, uint32_t index, SourceId source_id);
  ~StageInstance() override;

  // Wiring, before Start(); single-threaded.
  void AddSubscriber(const SubscriberInfo& info, StageInstance* subscriber,
                     uint32_t upstream_index);
  uint32_t AddUpstream(StageInstance* producer, SubscriptionId subscription);
  SubscriptionId NextSubscriptionId() { return SubscriptionId(next_subscription_++); }

  // Makes the user's stage and starts it.
  absl::Status CreateStage();
  // The first demand, in two phases: every instance prepares before any
  // sends, because sending lets producers run and reach other instances.
  void PrepareInitialDemand();
  void SendInitialDemand();

  // Messages. Thread-safe.
  void PostEvents(uint32_t upstream, EventBatch batch);
  void PostAsk(SubscriptionId subscription, int64_t count);
  void PostUpstreamDone(uint32_t upstream);
  // A dead-letter write failed for the `failures`-th time in a row.
  void PostDeadLettersFailed(DeadLetterBatch records, absl::Status status, uint32_t failures);
  // Deferred acknowledgements completed, from any thread.
  void CompleteDeferred(EventBatch events, absl::Status status);
  void Wake();
  void WakeAfter(absl::Duration delay);
  // The supervisor restarts this instance with fresh state.
  void RequestRestart(std::string reason);
  // Producers: StageContext::NamePartition, and its lookup for dead letters.
  void NamePartition(Partition id, PartitionName name);
  std::optional<PartitionName> PartitionNameOf(Partition id) const;
  // The user's stage failed outside a callback (StageContext::Fail): crash.
  void RequestCrash(absl::Status status);
  // Sources: stop emitting and finish once the buffer is sent.
  void RequestDrain();

  // After the scheduler has stopped: Stop() the user's stage. Single-threaded.
  void StopStage();
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  bool restart_pending() const { return restart_requested_.load(std::memory_order_acquire); }
  AckTracker* ack_tracker() { return ack_tracker_.get(); }
  SourceId source_id() const { return source_id_; }
  uint32_t index() const { return index_; }
  // Dead-letter writes not confirmed yet.
  int64_t dead_letters_in_flight() const {
    return dead_letters_in_flight_.load(std::memory_order_acquire);
  }

 private:
  struct EventsMessage {
    uint32_t upstream;
    EventBatch batch;
  };
  struct AskMessage {
    SubscriptionId subscription;
    int64_t count;
  };
  struct UpstreamDoneMessage {
    uint32_t upstream;
  };
  struct DeadLettersFailedMessage {
    DeadLetterBatch records;
    absl::Status status;
    uint32_t failures;
  };
  struct DeferredFailedMessage {
    EventBatch events;
    absl::Status status;
  };
  using Message = std::variant<EventsMessage, AskMessage, UpstreamDoneMessage,
                               DeadLettersFailedMessage, DeferredFailedMessage>;

  struct Subscriber {
    StageInstance* instance;
    uint32_t upstream_index;  // our index in its upstream list
  };
  struct Upstream {
    StageInstance* producer;
    SubscriptionId subscription;
    SubscriptionDemand demand;
    bool done = false;
  };
  struct Inbound {
    uint32_t upstream;
    EventBatch batch;
  };
  struct PendingRetry {
    absl::Time due;
    EventBatch event;  // one event, copied, attempts already counted
  };
  struct PendingDeadLetters {
    absl::Time due;
    DeadLetterBatch records;
    uint32_t failures;
  };

  // Actor.
  bool RunSlice() override;
  void OnTimer() override;
  bool HasMessages() override;

  // DispatchTarget.
  void Send(SubscriptionId subscription, EventBatch batch) override;
  void Fanout(const Event& event, uint32_t copies) override;

  void Post(Message message);
  void TakeMessages();
  void Handle(EventsMessage& message);
  void Handle(AskMessage& message);
  void Handle(UpstreamDoneMessage& message);
  void Handle(DeadLettersFailedMessage& message);
  void Handle(DeferredFailedMessage& message);
  void ArmDeferred(ConsumerAcks& acks, const EventBatch& chunk, const std::vector<uint8_t>& failed);

  bool is_producer() const;
  bool has_output() const;
  bool has_input() const;

  void RestartIfRequested();
  void CrashIfRequested();
  // Producer side.
  void FlushBuffer();
  // Buffers `batch`, sends what demand allows, discards what overflows.
  void AddToBuffer(EventBatch batch);
  void DiscardOverflow();
  bool RunProducer();
  void StampOrigins(EventBatch& batch);
  // Consumer side.
  bool RunConsumer();
  bool InputBlocked() const;
  void HandleChunk(EventBatch chunk);
  void HandleProducerConsumerChunk(EventBatch& chunk);
  // A producer-consumer's HandleWake(), after Wake() or a timer.
  void RunWake();
  // Applies a call's Hold()s and Release()s (the call returned OK).
  void ApplyHeld(Output& out, const EventBatch& input);
  void HandleConsumerChunk(EventBatch& chunk);
  // Consumers: end-to-end latency of a handled chunk, from event timestamps.
  void RecordLatency(const EventBatch& chunk);
  bool TakeDueRetries(EventBatch& batch);
  void SendDueDeadLetters();
  // Failure paths.
  void FailEvent(const Event& event, const absl::Status& status);
  void DeadLetterEvent(const Event& event, const absl::Status& status, uint32_t attempts);
  void FlushDeadLetters();
  void WriteDeadLetters(DeadLetterBatch records, uint32_t failures);
  void Crash(const std::string& what, const EventBatch* in_hand);
  // Stops and destroys the user's stage (a crash or a restart).
  void DiscardUserStage();
  // Completion.
  void MaybeFinish();
  void SendDownstreamDone();

  // Runs the instance at `due` (the runtime clock) or later; inside the actor.
  void WakeAt(absl::Time due);
  void EnterState(InstanceState state);
  // Idle or backpressured, between callbacks.
  InstanceState WaitingState() const;
  void UpdateGauges();

  PipelineRuntime& runtime_;
  StageRuntime& stage_;
  const uint32_t index_;
  const SourceId source_id_;
  StageMetrics& metrics_;
  StageContext context_;

  // The user's stage; null while crashed and waiting for a restart.
  std::unique_ptr<Stage> user_stage_;
  Producer* producer_ = nullptr;
  ProducerConsumer* producer_consumer_ = nullptr;
  Consumer* consumer_ = nullptr;

  Mutex mailbox_mu_;
  std::vector<Message> mailbox_ ABSL_GUARDED_BY(mailbox_mu_);
  std::vector<Message> taken_;  // reused between slices

  std::atomic<bool> wake_requested_{false};
  std::atomic<bool> restart_requested_{false};
  std::atomic<bool> crash_requested_{false};
  std::atomic<bool> drain_requested_{false};
  Mutex restart_mu_;
  std::string restart_reason_ ABSL_GUARDED_BY(restart_mu_);
  absl::Status crash_status_ ABSL_GUARDED_BY(restart_mu_);

  // Producer side (producers and producer-consumers).
  std::unique_ptr<Dispatcher> dispatcher_;
  std::vector<Subscriber> subscribers_;
  uint32_t next_subscription_ = 0;
  std::deque<EventBatch> buffer_;
  size_t buffered_events_ = 0;
  bool new_demand_ = false;
  bool source_done_ = false;  // producers: Finish() or drain; others: flushed
  bool downstream_done_sent_ = false;
  std::unique_ptr<AckTracker> ack_tracker_;  // producers
  // Producers: names given by the source; read by other instances' dead
  // letters, hence the lock.
  mutable Mutex partition_names_mu_;
  absl::flat_hash_map<int32_t, PartitionName> partition_names_ ABSL_GUARDED_BY(partition_names_mu_);
  absl::flat_hash_map<int32_t, int64_t> next_offset_;  // producers: numbering
  bool logged_discard_ = false;

  // Consumer side (producer-consumers and consumers).
  std::vector<Upstream> upstreams_;
  size_t upstreams_done_ = 0;
  std::deque<Inbound> inbox_;
  size_t inbox_events_ = 0;
  bool flushed_ = false;
  // Producer-consumers: events the stage holds (Output::Hold), and those a
  // restart took back from the discarded stage object, to hand to the fresh
  // one before anything else.
  HeldEvents held_;
  HeldId next_held_id_ = 0;
  EventBatch held_returned_;

  // Failure paths.
  std::deque<PendingRetry> retries_;  // ordered by insertion; due times vary
  std::vector<DeadLetter> dead_letters_to_write_;
  std::deque<PendingDeadLetters> dead_letters_to_rewrite_;
  size_t dead_letters_waiting_ = 0;  // records in dead_letters_to_rewrite_
  std::atomic<int64_t> dead_letters_in_flight_{0};
  // Events whose acknowledgement a consumer deferred (PendingAcks).
  std::atomic<int64_t> deferred_in_flight_{0};
  std::mt19937_64 random_;
  absl::Time next_wake_ = absl::InfinitePast();

  std::atomic<bool> finished_{false};
  InstanceState state_ = InstanceState::kIdle;
  int64_t state_since_ns_ = 0;
};

}  // namespace sluice::internal
