// File: pipeline/stage.h
//
// The three stage roles a user implements (GenStage's :producer,
// :producer_consumer and :consumer), the context the runtime gives them, and
// the outputs through which they hand events on. sluice's own stages and
// connectors implement the same interfaces.
//
//   class UppercaseStage : public ProducerConsumer {
//    public:
//     absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
//       for (const Event& event : batch) {
//         absl::Span<char> upper = out.Allocate(event.value().size());
//         std::transform(event.value().begin(), event.value().end(), upper.begin(), ToUpper);
//         out.Emit(event, {.value = std::string_view(upper.data(), upper.size())});
//       }
//       return absl::OkStatus();
//     }
//   };
//
// Implementation rules, for every role:
//   - Callbacks must not block: no sleep, network or file I/O. Blocking work
//     belongs on a thread of your own that wakes the stage (StageContext::Wake)
//     when it has something.
//   - A non-OK return or an exception escaping a callback is a *crash*: the
//     events in hand fail with "crashed: <what>" and go to the dead-letter
//     queue, the instance is thrown away and its supervisor decides what to
//     restart. A bad event is not a crash: fail that event alone.
//   - Everything in a batch is borrowed for the call. Keep nothing that points
//     into it after returning.
//
// Thread-compatible: one instance runs on one worker at a time, so its state
// needs no locks. `concurrency: N` makes N instances, each from its own
// factory call, sharing only what the factory gave them.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

#include "pipeline/event.h"
#include "pipeline/event_batch.h"

namespace sluice {

class AckTracker;
class Clock;

namespace internal {
class StageInstance;
}  // namespace internal

// What a source calls one of its partitions outside sluice: a Kafka topic and
// partition. Dead-letter records carry it, so a replay can send an event back
// where it came from.
struct PartitionName {
  std::string topic;
  int32_t partition = -1;
};

// What a stage instance knows of where it runs. Valid from the factory call
// until the instance is destroyed.
//
// Thread-safe: Wake() and WakeAfter() may be called from any thread.
class StageContext {
 public:
  std::string_view pipeline_name() const { return pipeline_name_; }
  std::string_view stage_name() const { return stage_name_; }
  // This instance's index in [0, concurrency).
  uint32_t instance() const { return instance_; }
  uint32_t concurrency() const { return concurrency_; }
  const Clock& clock() const { return *clock_; }

  // Runs the instance soon: a producer gets HandleDemand() again if there is
  // demand. For sources fed by a background thread.
  void Wake() const;
  // Runs the instance after `delay` (at the earliest). A producer-consumer
  // gets HandleWake() then.
  void WakeAfter(absl::Duration delay) const;
  // Crashes the instance from outside its callbacks, as if its next callback
  // had returned `status`: a source whose own thread hit a fatal error (a
  // Kafka consumer fenced off) reports it without waiting for demand. The
  // supervisor restarts it by its strategy. Call only while the stage object
  // is alive (its threads stopped in Stop()). REQUIRES: !status.ok().
  void Fail(absl::Status status) const;
  // The stage's max_demand: a producer-consumer holding this many events
  // (Output::Hold) takes no more input until it releases some.
  int64_t max_demand() const { return max_demand_; }
  // Producers only: which of this instance's events are done, per partition
  // (the Kafka source commits from it). Null for other roles.
  AckTracker* ack_tracker() const { return ack_tracker_; }
  // Producers only: names the source-local partition `id` (see
  // PartitionName); dead letters of its events carry the name. A later call
  // for the same id replaces the name.
  void NamePartition(Partition id, PartitionName name) const;

 private:
  friend class internal::StageInstance;

  std::string pipeline_name_;
  std::string stage_name_;
  uint32_t instance_ = 0;
  uint32_t concurrency_ = 1;
  int64_t max_demand_ = 0;
  const Clock* clock_ = nullptr;
  AckTracker* ack_tracker_ = nullptr;
  internal::StageInstance* owner_ = nullptr;
};

// The base of every role. Start() and Stop() are optional hooks.
class Stage {
 public:
  virtual ~Stage() = default;

  // Called once before any other callback; a non-OK status fails the start
  // (at pipeline start: the pipeline does not start; at a restart: counts as
  // a crash).
  virtual absl::Status Start(const StageContext& context) {
    (void)context;
    return absl::OkStatus();
  }
  // Called once when the instance stops for good or is thrown away for a
  // restart. A source commits here what is done.
  virtual void Stop() {}
};

// Where a Producer puts the events it emits from HandleDemand().
class ProducerOutput {
 public:
  // Append events here (EventBatch::Append copies; Allocate + AppendView
  // writes in place; Retain + AppendView wraps a buffer of your own). An
  // event's origin partition and offset are yours to set; offsets left
  // negative are numbered by the runtime, 0, 1, 2, ... per partition.
  EventBatch& batch() { return batch_; }
  // The source has ended: no more events will ever come. Subscribers finish
  // once they have handled everything emitted before.
  void Finish() { finished_ = true; }
  bool finished() const { return finished_; }

 private:
  friend class internal::StageInstance;
  EventBatch batch_;
  bool finished_ = false;
};

// A Producer emits events when its subscribers ask for them.
class Producer : public Stage {
 public:
  // Called whenever this instance has unmet demand and either new demand
  // arrived or Wake() was called. Emit at most `demand` events into `out`
  // (more are kept in the producer buffer, `buffer_size`, and beyond it
  // discarded by `buffer_keep`; that is counted, never silent). Emitting
  // fewer, even none, is fine: the runtime calls again on the next demand or
  // Wake(), with whatever demand is still unmet, so a producer need not count
  // demand itself.
  virtual absl::Status HandleDemand(size_t demand, ProducerOutput& out) = 0;
};

// Changes to an event passed on by Output::Emit(). Absent fields keep the
// input's. Bytes outside the output's own memory (out.Allocate) are copied
// into it.
struct EventChanges {
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::optional<absl::Span<const Header>> headers;
  std::optional<int64_t> timestamp_us;
};

// Names an event a stage holds (Output::Hold) until it releases it. Unique
// within a stage instance for the life of the pipeline.
using HeldId = uint64_t;

// Where a ProducerConsumer settles the events of the batch it handles. Each
// input event gets at least one of:
//   - Emit(): passes it (or a changed copy) downstream; emitting one input
//     twice makes two events, and the input is done when both are;
//   - Drop(): it is done here (a filter said no), acknowledged;
//   - Fail(): it failed; retried by policy, then dead-lettered;
//   - Hold(): the runtime keeps it for a later call to Release() (a batching
//     or delaying stage). Still in flight, so not committed.
// An input event settled by none of these fails with an INTERNAL error naming
// the stage, so a forgotten event is dead-lettered, never silently lost.
//
// Held events belong to the instance's runtime, not to the stage object: if
// the stage crashes they are dead-lettered ("crashed: ..."); if it is
// restarted because a sibling crashed they are handed to the fresh object's
// HandleEvents() again; at the end of input, whatever is still held after
// Flush() is passed on unchanged. Held events count against max_demand: an
// instance holding max_demand events takes no more input (its upstream
// pauses) until it releases some, so a stage that holds must also release on
// its own (a timer, StageContext::WakeAfter) or when it holds max_demand;
// otherwise its input waits forever.
//
// A call's holds and releases take effect when it returns OK (a crashed call
// changes nothing), in this order: holds, then releases; released events
// follow the call's emitted ones, in the order of the Release() calls.
//
// REQUIRES: every `input` argument is an element of the batch being handled
// (a reference into it, not a copy).
class Output {
 public:
  void Emit(const Event& input) {
    ++settled_[IndexOf(input)];
    if (!retains_input_) RetainInput();
    out_.AppendView(input);
  }
  void Emit(const Event& input, const EventChanges& changes);
  void Drop(const Event& input);
  void Fail(const Event& input, absl::Status status);
  // Keeps the event for later; returns the id to release it by.
  HeldId Hold(const Event& input);
  // Passes on, unchanged, an event held earlier (in this call or a previous
  // one). Releasing an id that is not held (twice, or made up) is a bug in
  // the stage: logged, and nothing else happens.
  void Release(HeldId held) { released_.push_back(held); }
  // Writable bytes in the output batch's memory, for building a new value
  // without a second copy.
  absl::Span<char> Allocate(size_t bytes) { return out_.Allocate(bytes); }

 private:
  friend class internal::StageInstance;

  explicit Output(const EventBatch& input);
  size_t IndexOf(const Event& input) const {
    const auto index = static_cast<size_t>(&input - input_.begin());
    assert(&input >= input_.begin() && index < input_.size() &&
           "event is not from the batch being handled");
    return index;
  }
  void Settle(size_t index) { ++settled_[index]; }
  void RetainInput();

  const EventBatch& input_;
  EventBatch out_;
  bool retains_input_ = false;
  // Per input event: how many times it was emitted (or 1 for drop/fail).
  std::vector<uint32_t> settled_;
  std::vector<size_t> dropped_;
  std::vector<std::pair<size_t, absl::Status>> failed_;
  // The instance's next free HeldId; null where holding is impossible.
  HeldId* next_held_id_ = nullptr;
  std::vector<std::pair<size_t, HeldId>> held_;
  std::vector<HeldId> released_;
};

// A ProducerConsumer handles events from upstream and emits events downstream.
class ProducerConsumer : public Stage {
 public:
  // Handles one batch of at most max_demand - min_demand events. See Output
  // for how each event must be settled.
  virtual absl::Status HandleEvents(const EventBatch& batch, Output& out) = 0;
  // Called after StageContext::Wake(), or when a timer asked for with
  // WakeAfter() fires: release the held events whose time has come. May come
  // early or more than once (other timers of the instance share the wake), so
  // decide by the clock, not by the call. `out` has no input events: only
  // Release() and Allocate() apply.
  virtual absl::Status HandleWake(Output& out) {
    (void)out;
    return absl::OkStatus();
  }
  // Called once when every upstream has finished and every event has been
  // handled: emit or release what you still hold (a batching stage's last
  // batch). Held events not released here are passed on after it returns.
  virtual absl::Status Flush(Output& out) {
    (void)out;
    return absl::OkStatus();
  }
};

namespace internal {
struct PendingAcksState;
}  // namespace internal

// Acknowledgements a Consumer holds back until the events are really stored:
// a sink that writes in batches completes them when it flushes. Until then
// the events stay in flight, so their offsets are not committed.
//
//   absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override {
//     writer_.Append(batch);
//     pending_.push_back(acks.Defer());
//     if (writer_.size() >= 10'000) return Flush();  // Flush() calls Ack() on each
//     return absl::OkStatus();
//   }
//
// An object destroyed without Ack() or Fail() fails its events as
// "abandoned" (a crashed sink's held events go the dead-letter path).
//
// Thread-safe: Ack() and Fail() may be called from any thread (a sink's own
// I/O thread). Must not outlive the pipeline.
class PendingAcks {
 public:
  PendingAcks() = default;
  PendingAcks(PendingAcks&&) noexcept = default;
  PendingAcks& operator=(PendingAcks&& other) noexcept;
  PendingAcks(const PendingAcks&) = delete;
  PendingAcks& operator=(const PendingAcks&) = delete;
  ~PendingAcks();

  // The held events are done.
  void Ack();
  // The held events failed: retried by policy, then dead-lettered.
  void Fail(absl::Status status);
  // The held events are done, except those in `failed` (by their index in
  // the batch of the HandleEvents() call that deferred), which fail with
  // their own status: a sink whose writes fail one by one (a Kafka delivery
  // report) fails only those.
  void Complete(std::vector<std::pair<size_t, absl::Status>> failed);

 private:
  friend class ConsumerAcks;
  explicit PendingAcks(std::shared_ptr<internal::PendingAcksState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<internal::PendingAcksState> state_;
};

// How a Consumer reports per-event failures and holds back acknowledgements.
// Events not failed here are acknowledged when HandleEvents() returns OK,
// unless Defer() was called.
//
// REQUIRES: every `input` argument is an element of the batch being handled.
class ConsumerAcks {
 public:
  void Fail(const Event& input, absl::Status status);
  // Holds back the acknowledgement of this call's events (those not failed)
  // until the returned object is completed. At most once per call.
  PendingAcks Defer();

 private:
  friend class internal::StageInstance;
  explicit ConsumerAcks(const EventBatch& input) : input_(input) {}

  const EventBatch& input_;
  std::vector<std::pair<size_t, absl::Status>> failed_;
  std::shared_ptr<internal::PendingAcksState> deferred_;
};

// A Consumer is a terminal stage (a sink): what it handles is done.
class Consumer : public Stage {
 public:
  virtual absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) = 0;
  // Called once when every upstream has finished and every event has been
  // handled: write out and complete what is still held (PendingAcks).
  virtual absl::Status Flush() { return absl::OkStatus(); }
};

// Factories make a fresh instance: at start and at every restart.
using ProducerFactory =
    std::function<absl::StatusOr<std::unique_ptr<Producer>>(const StageContext&)>;
using ProducerConsumerFactory =
    std::function<absl::StatusOr<std::unique_ptr<ProducerConsumer>>(const StageContext&)>;
using ConsumerFactory =
    std::function<absl::StatusOr<std::unique_ptr<Consumer>>(const StageContext&)>;

}  // namespace sluice
