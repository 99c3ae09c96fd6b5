#include "pipeline/internal/stage_instance.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

#include "pipeline/clock.h"
#include "pipeline/internal/pipeline_runtime.h"
#include "pipeline/log.h"

namespace sluice::internal {
namespace {

std::string AsString(const absl::Status& status) { return std::string(status.ToString()); }

// Runs a stage callback; an escaping exception becomes an INTERNAL status.
template <typename Callback>
absl::Status Guarded(Callback&& callback) {
  try {
    return callback();
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat("exception: ", error.what()));
  } catch (...) {
    return absl::InternalError("unknown exception");
  }
}

// The W3C trace id of the event's `traceparent` header, "" if none.
std::string TraceIdOfEvent(const Event& event) {
  for (const Header& header : event.headers()) {
    if (header.key == kTraceparentHeader) return TraceIdOf(header.value);
  }
  return "";
}

// At most kDeadLetterLinesPerSecond event_dead_lettered lines per second per
// worker thread: a bad deploy dead-letters every event, and the log must not
// become the bottleneck. The next line written says how many were left out.
constexpr int kDeadLetterLinesPerSecond = 50;
struct DeadLetterLogBudget {
  int64_t second = 0;
  int lines = 0;
  uint64_t suppressed = 0;
};
thread_local DeadLetterLogBudget dead_letter_log_budget;

void LogDeadLetter(const DeadLetter& record, uint32_t instance, uint32_t attempts) {
  DeadLetterLogBudget& budget = dead_letter_log_budget;
  const int64_t second = absl::ToUnixSeconds(absl::Now());
  if (second != budget.second) {
    budget.second = second;
    budget.lines = 0;
  }
  if (++budget.lines > kDeadLetterLinesPerSecond) {
    ++budget.suppressed;
    return;
  }
  LogEvent line(spdlog::level::warn, "event_dead_lettered");
  line.Pipeline(record.pipeline)
      .Stage(record.stage)
      .Instance(instance)
      .Field("trace_id", record.trace_id)
      .Field("source", record.source)
      .Field("topic", record.source_topic)
      .Field("partition",
             static_cast<int64_t>(record.source_topic.empty() ? record.origin.partition.value()
                                                              : record.source_partition))
      .Field("offset", record.origin.offset.value())
      .Field("attempts", attempts)
      .Field("error", record.error);
  if (budget.suppressed > 0) {
    line.Field("lines_suppressed", budget.suppressed);
    budget.suppressed = 0;
  }
}

// How long a dead-letter write waits after its `failures`-th failure.
absl::Duration DeadLetterBackoff(uint32_t failures) {
  return std::min(absl::Milliseconds(50) * (int64_t{1} << std::min<uint32_t>(failures, 7)),
                  absl::Seconds(5));
}

}  // namespace

void CompletePendingAcks(PendingAcksState& state, PendingAcksCompletion completion) {
  StageInstance* owner = nullptr;
  std::shared_ptr<CallbackGate> gate;
  EventBatch events;
  std::vector<uint32_t> batch_index;
  {
    MutexLock lock(&state.mu);
    if (state.completed) return;
    if (!state.armed) {
      if (!state.early.has_value()) state.early = std::move(completion);
      return;
    }
    state.completed = true;
    owner = state.owner;
    gate = state.gate;
    events = std::move(state.events);
    batch_index = std::move(state.batch_index);
  }
  // A sink's thread may complete after the run has ended: the gate keeps it
  // off a torn-down instance.
  if (owner == nullptr) return;
  if (!completion.status.ok() || completion.failed.empty()) {
    gate->Run([&] { owner->CompleteDeferred(std::move(events), std::move(completion.status)); });
    return;
  }
  // Some events failed: those fail alone (their own status), the rest are
  // acknowledged.
  absl::flat_hash_map<size_t, absl::Status> failed;
  for (auto& [index, status] : completion.failed) failed.try_emplace(index, std::move(status));
  EventBatch acknowledged;
  acknowledged.RetainMemoryOf(events);
  std::vector<std::pair<EventBatch, absl::Status>> failures;
  for (size_t i = 0; i < events.size(); ++i) {
    auto it = failed.find(batch_index[i]);
    if (it == failed.end()) {
      acknowledged.AppendView(events[i]);
      continue;
    }
    EventBatch one;
    one.RetainMemoryOf(events);
    one.AppendView(events[i]);
    failures.emplace_back(std::move(one), it->second);
  }
  gate->Run([&] {
    for (auto& [one, status] : failures) owner->CompleteDeferred(std::move(one), status);
    if (!acknowledged.empty()) owner->CompleteDeferred(std::move(acknowledged), absl::OkStatus());
  });
}

StageInstance::StageInstance(PipelineRuntime& runtime, StageRuntime& stage, uint32_t index,
                             SourceId source_id)
    : Actor(runtime.scheduler()),
      runtime_(runtime),
      stage_(stage),
      index_(index),
      source_id_(source_id),
      metrics_(*stage.metrics[index]),
      random_(0x5eed0000u + stage.index * 7919u + index) {
  context_.pipeline_name_ = runtime.options().name;
  context_.stage_name_ = stage.spec.name;
  context_.instance_ = index;
  context_.concurrency_ = stage.spec.options.concurrency;
  context_.max_demand_ = stage.spec.options.max_demand;
  context_.clock_ = &runtime.clock();
  context_.owner_ = this;
  if (stage.spec.role != StageRole::kConsumer) {
    switch (stage.spec.options.dispatch) {
      case DispatchMode::kDemand:
        dispatcher_ = MakeDemandDispatcher();
        break;
      case DispatchMode::kBroadcast:
        dispatcher_ = MakeBroadcastDispatcher();
        break;
      case DispatchMode::kPartition:
        dispatcher_ = MakePartitionDispatcher(stage.spec.options.partition_by);
        break;
    }
  }
  if (stage.spec.role == StageRole::kProducer) {
    ack_tracker_ = std::make_unique<AckTracker>();
    context_.ack_tracker_ = ack_tracker_.get();
  }
  state_since_ns_ = absl::GetCurrentTimeNanos();
}

StageInstance::~StageInstance() {
  // The user's stage goes first: PendingAcks it still holds complete into
  // this instance, whose members must still be alive.
  user_stage_.reset();
}

bool StageInstance::is_producer() const { return stage_.spec.role == StageRole::kProducer; }
bool StageInstance::has_output() const { return stage_.spec.role != StageRole::kConsumer; }
bool StageInstance::has_input() const { return stage_.spec.role != StageRole::kProducer; }

void StageInstance::AddSubscriber(const SubscriberInfo& info, StageInstance* subscriber,
                                  uint32_t upstream_index) {
  if (subscribers_.size() <= info.id.value()) subscribers_.resize(info.id.value() + 1);
  subscribers_[info.id.value()] = {subscriber, upstream_index};
  dispatcher_->Subscribe(info);
}

uint32_t StageInstance::AddUpstream(StageInstance* producer, SubscriptionId subscription) {
  const StageOptions& options = stage_.spec.options;
  upstreams_.push_back({producer, subscription,
                        SubscriptionDemand(options.max_demand, options.effective_min_demand())});
  return static_cast<uint32_t>(upstreams_.size() - 1);
}

absl::Status StageInstance::CreateStage() {
  const StageSpec& spec = stage_.spec;
  absl::Status status = Guarded([&]() -> absl::Status {
    switch (spec.role) {
      case StageRole::kProducer: {
        auto made = spec.producer_factory(context_);
        if (!made.ok()) return made.status();
        producer_ = made->get();
        user_stage_ = std::move(*made);
        break;
      }
      case StageRole::kProducerConsumer: {
        auto made = spec.producer_consumer_factory(context_);
        if (!made.ok()) return made.status();
        producer_consumer_ = made->get();
        user_stage_ = std::move(*made);
        break;
      }
      case StageRole::kConsumer: {
        auto made = spec.consumer_factory(context_);
        if (!made.ok()) return made.status();
        consumer_ = made->get();
        user_stage_ = std::move(*made);
        break;
      }
    }
    return user_stage_->Start(context_);
  });
  if (!status.ok()) {
    user_stage_.reset();
    producer_ = nullptr;
    producer_consumer_ = nullptr;
    consumer_ = nullptr;
    return absl::Status(status.code(), absl::StrCat("stage \"", spec.name, "\" instance ", index_,
                                                    " failed to start: ", status.message()));
  }
  LogEvent(spdlog::level::info, "stage_started")
      .Pipeline(runtime_.options().name)
      .Stage(spec.name)
      .Instance(index_)
      .Field("role", spec.role == StageRole::kProducer           ? "producer"
                     : spec.role == StageRole::kProducerConsumer ? "producer_consumer"
                                                                 : "consumer");
  return absl::OkStatus();
}

void StageInstance::PrepareInitialDemand() {
  for (Upstream& upstream : upstreams_) upstream.demand.Subscribe();
  UpdateGauges();
}

void StageInstance::SendInitialDemand() {
  // Reads only what wiring fixed: this instance may already be running.
  for (const Upstream& upstream : upstreams_) {
    upstream.producer->PostAsk(upstream.subscription, upstream.demand.max_demand());
  }
}

// ---------------------------------------------------------------------------
// Messages

void StageInstance::Post(Message message) {
  {
    MutexLock lock(&mailbox_mu_);
    mailbox_.push_back(std::move(message));
  }
  Notify();
}

void StageInstance::PostEvents(uint32_t upstream, EventBatch batch) {
  Post(EventsMessage{upstream, std::move(batch)});
}
void StageInstance::PostAsk(SubscriptionId subscription, int64_t count) {
  Post(AskMessage{subscription, count});
}
void StageInstance::PostUpstreamDone(uint32_t upstream) { Post(UpstreamDoneMessage{upstream}); }
void StageInstance::PostDeadLettersFailed(DeadLetterBatch records, absl::Status status,
                                          uint32_t failures) {
  Post(DeadLettersFailedMessage{std::move(records), std::move(status), failures});
}

void StageInstance::CompleteDeferred(EventBatch events, absl::Status status) {
  if (!status.ok() && runtime_.halted()) {
    // The run is over: no dead-letter path any more. The events stay in
    // flight, uncommitted, for redelivery.
    deferred_in_flight_.fetch_sub(static_cast<int64_t>(events.size()), std::memory_order_acq_rel);
    return;
  }
  if (status.ok()) {
    runtime_.Complete(events.events());
    StageMetrics::Add(metrics_.events_acknowledged, events.size());
    deferred_in_flight_.fetch_sub(static_cast<int64_t>(events.size()), std::memory_order_acq_rel);
    Notify();
    return;
  }
  Post(DeferredFailedMessage{std::move(events), std::move(status)});
}

void StageInstance::Handle(DeferredFailedMessage& message) {
  for (const Event& event : message.events) FailEvent(event, message.status);
  FlushDeadLetters();
  // Counted out only now that the failures are queued, so the instance
  // cannot finish in between.
  deferred_in_flight_.fetch_sub(static_cast<int64_t>(message.events.size()),
                                std::memory_order_acq_rel);
}

void StageInstance::ArmDeferred(ConsumerAcks& acks, const EventBatch& chunk,
                                const std::vector<uint8_t>& failed) {
  PendingAcksState& state = *acks.deferred_;
  std::optional<PendingAcksCompletion> early;
  {
    MutexLock lock(&state.mu);
    state.owner = this;
    state.gate = runtime_.callback_gate();
    state.events.RetainMemoryOf(chunk);
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (failed.empty() || !failed[i]) {
        state.events.AppendView(chunk[i]);
        state.batch_index.push_back(static_cast<uint32_t>(i));
      }
    }
    state.armed = true;
    deferred_in_flight_.fetch_add(static_cast<int64_t>(state.events.size()),
                                  std::memory_order_acq_rel);
    early = std::move(state.early);
  }
  if (early.has_value()) CompletePendingAcks(state, std::move(*early));
}

void StageInstance::Wake() {
  wake_requested_.store(true, std::memory_order_release);
  Notify();
}

void StageInstance::WakeAfter(absl::Duration delay) {
  scheduler().NotifyAt(this, absl::Now() + delay);
}

void StageInstance::OnTimer() {
  // A timer asked for with WakeAfter() is a Wake() when it fires: a source
  // pacing itself (a rate limit) is called again then. For other roles the
  // flag is cleared at the next slice.
  wake_requested_.store(true, std::memory_order_release);
  Notify();
}

void StageInstance::RequestRestart(std::string reason) {
  {
    MutexLock lock(&restart_mu_);
    restart_reason_ = std::move(reason);
  }
  restart_requested_.store(true, std::memory_order_release);
  Notify();
}

void StageInstance::NamePartition(Partition id, PartitionName name) {
  MutexLock lock(&partition_names_mu_);
  partition_names_[id.value()] = std::move(name);
}

std::optional<PartitionName> StageInstance::PartitionNameOf(Partition id) const {
  MutexLock lock(&partition_names_mu_);
  auto it = partition_names_.find(id.value());
  if (it == partition_names_.end()) return std::nullopt;
  return it->second;
}

void StageInstance::RequestCrash(absl::Status status) {
  {
    MutexLock lock(&restart_mu_);
    // The first failure is the reason; later ones before the crash add nothing.
    if (crash_requested_.load(std::memory_order_relaxed)) return;
    crash_status_ = std::move(status);
  }
  crash_requested_.store(true, std::memory_order_release);
  Notify();
}

void StageInstance::CrashIfRequested() {
  if (!crash_requested_.exchange(false, std::memory_order_acq_rel)) return;
  absl::Status status;
  {
    MutexLock lock(&restart_mu_);
    status = std::move(crash_status_);
  }
  if (user_stage_ != nullptr) Crash(AsString(status), nullptr);
}

void StageInstance::RequestDrain() {
  drain_requested_.store(true, std::memory_order_release);
  Notify();
}

void StageInstance::WakeAt(absl::Time due) {
  // One timer per instance is enough: a later one is set when this one has
  // fired or an earlier one is needed. A timer per retry or per slice would
  // let the timer queue grow with the failure rate.
  const absl::Time now = runtime_.clock().Now();
  if (next_wake_ > now && next_wake_ <= due) return;
  next_wake_ = due;
  scheduler().NotifyAt(this, absl::Now() + std::max(absl::ZeroDuration(), due - now));
}

bool StageInstance::HasMessages() {
  // A restart or wake requested while this instance was running is a message too.
  if (restart_requested_.load(std::memory_order_acquire) ||
      crash_requested_.load(std::memory_order_acquire) ||
      wake_requested_.load(std::memory_order_acquire)) {
    return true;
  }
  MutexLock lock(&mailbox_mu_);
  return !mailbox_.empty();
}

void StageInstance::TakeMessages() {
  {
    MutexLock lock(&mailbox_mu_);
    std::swap(taken_, mailbox_);
  }
  for (Message& message : taken_) {
    std::visit([this](auto& m) { Handle(m); }, message);
  }
  taken_.clear();
}

void StageInstance::Handle(EventsMessage& message) {
  Upstream& upstream = upstreams_[message.upstream];
  const auto count = static_cast<int64_t>(message.batch.size());
  if (!upstream.demand.Receive(count)) {
    // A broken protocol is a bug in a dispatcher; keep the events anyway
    // (dropping them would lose data) and say so loudly.
    SPDLOG_ERROR("stage \"{}\" instance {}: received {} events with only {} asked for",
                 stage_.spec.name, index_, count, upstream.demand.outstanding());
    assert(false && "producer sent more than was asked");
  }
  StageMetrics::Add(metrics_.events_in, static_cast<uint64_t>(count));
  inbox_events_ += message.batch.size();
  inbox_.push_back({message.upstream, std::move(message.batch)});
}

void StageInstance::Handle(AskMessage& message) {
  dispatcher_->Ask(message.subscription, message.count);
  new_demand_ = true;
}

void StageInstance::Handle(UpstreamDoneMessage& message) {
  Upstream& upstream = upstreams_[message.upstream];
  if (!upstream.done) {
    upstream.done = true;
    ++upstreams_done_;
  }
}

void StageInstance::Handle(DeadLettersFailedMessage& message) {
  dead_letters_in_flight_.fetch_sub(static_cast<int64_t>(message.records->size()),
                                    std::memory_order_acq_rel);
  const uint32_t failures = message.failures;
  LogEvent(spdlog::level::warn, "dead_letter_write_failed")
      .Pipeline(runtime_.options().name)
      .Stage(stage_.spec.name)
      .Instance(index_)
      .Field("records", static_cast<uint64_t>(message.records->size()))
      .Field("failures", failures)
      .Field("backend", stage_.dead_letter->description())
      .Field("error", AsString(message.status))
      .Field("retry_in", absl::FormatDuration(DeadLetterBackoff(failures)));
  dead_letters_waiting_ += message.records->size();
  dead_letters_to_rewrite_.push_back(
      {runtime_.clock().Now() + DeadLetterBackoff(failures), std::move(message.records), failures});
  WakeAt(runtime_.clock().Now() + DeadLetterBackoff(failures));
}

// ---------------------------------------------------------------------------
// The slice

bool StageInstance::RunSlice() {
  if (runtime_.halted()) return false;
  TakeMessages();
  RestartIfRequested();
  CrashIfRequested();
  SendDueDeadLetters();
  bool more = false;
  if (user_stage_ != nullptr) {
    if (has_output()) FlushBuffer();
    if (!is_producer() && wake_requested_.exchange(false, std::memory_order_acq_rel) &&
        producer_consumer_ != nullptr) {
      RunWake();
    }
    more = is_producer() ? RunProducer() : RunConsumer();
  }
  MaybeFinish();
  UpdateGauges();
  EnterState(WaitingState());
  return more;
}

InstanceState StageInstance::WaitingState() const {
  // Output nobody has asked for yet, or input it may not take: held up by
  // the stages downstream.
  if (has_output() && buffered_events_ + dispatcher_->held_events() > 0)
    return InstanceState::kBackpressured;
  // A source that could emit but has no demand is held back too.
  if (is_producer() && user_stage_ != nullptr && !source_done_ &&
      dispatcher_->AvailableDemand() <= 0) {
    return InstanceState::kBackpressured;
  }
  if (user_stage_ != nullptr && has_input() && !inbox_.empty() && InputBlocked()) {
    return InstanceState::kBackpressured;
  }
  return InstanceState::kIdle;
}

void StageInstance::RestartIfRequested() {
  if (!restart_requested_.exchange(false, std::memory_order_acq_rel)) return;
  std::string reason;
  {
    MutexLock lock(&restart_mu_);
    reason = restart_reason_;
  }
  // Restarted because a sibling crashed: its state goes too, but the events
  // it held did nothing wrong; the fresh object gets them again.
  held_.ReleaseAllInto(held_returned_);
  DiscardUserStage();
  StageMetrics::Add(metrics_.restarts, 1);
  LogEvent(spdlog::level::warn, "stage_restarted")
      .Pipeline(runtime_.options().name)
      .Stage(stage_.spec.name)
      .Instance(index_)
      .Field("reason", reason)
      .Field("restarts", metrics_.restarts.load(std::memory_order_relaxed));
  if (absl::Status started = CreateStage(); !started.ok()) {
    Crash(AsString(started), nullptr);
    return;
  }
  new_demand_ = true;
  // Restarted after finishing (a sibling crashed late): still finished; tell
  // the runtime, which waits for pending restarts before ending the run.
  if (finished()) runtime_.InstanceFinished();
}

// ---------------------------------------------------------------------------
// Producer side

void StageInstance::Send(SubscriptionId subscription, EventBatch batch) {
  StageMetrics::Add(metrics_.events_out, batch.size());
  const Subscriber& subscriber = subscribers_[subscription.value()];
  subscriber.instance->PostEvents(subscriber.upstream_index, std::move(batch));
}

void StageInstance::Fanout(const Event& event, uint32_t copies) {
  if (copies == 0) {
    runtime_.Complete(event.origin());
    StageMetrics::Add(metrics_.events_dropped, 1);
  } else if (copies > 1) {
    runtime_.AddRefs(event, copies - 1);
  }
}

void StageInstance::FlushBuffer() {
  while (!buffer_.empty()) {
    EventBatch& front = buffer_.front();
    const size_t before = front.size();
    dispatcher_->Dispatch(front, *this);
    buffered_events_ -= before - front.size();
    if (!front.empty()) return;
    buffer_.pop_front();
  }
  EventBatch nothing;
  dispatcher_->Dispatch(nothing, *this);  // sends what the dispatcher holds
}

void StageInstance::AddToBuffer(EventBatch batch) {
  if (batch.empty()) return;
  buffered_events_ += batch.size();
  buffer_.push_back(std::move(batch));
  FlushBuffer();
  if (is_producer()) DiscardOverflow();
}

void StageInstance::DiscardOverflow() {
  // Only producers discard (GenStage's buffer), and only what demand could
  // not take; producer-consumers stop taking input before their buffer
  // fills, so they never get here full.
  const StageOptions& options = stage_.spec.options;
  const size_t held = buffered_events_ + dispatcher_->held_events();
  if (held <= options.buffer_size) return;
  size_t excess = std::min(held - options.buffer_size, buffered_events_);
  size_t discarded = 0;
  while (excess > 0 && !buffer_.empty()) {
    if (options.buffer_keep == BufferKeep::kFirst) {
      // Keep the oldest: discard the newest, from the back.
      EventBatch& back = buffer_.back();
      const size_t take = std::min(excess, back.size());
      EventBatch gone = back.TakeBack(take);
      runtime_.Complete(gone.events());
      discarded += take;
      excess -= take;
      if (back.empty()) buffer_.pop_back();
    } else {
      // Keep the newest: discard the oldest, from the front.
      EventBatch& front = buffer_.front();
      const size_t take = std::min(excess, front.size());
      EventBatch gone = front.TakeFront(take);
      runtime_.Complete(gone.events());
      discarded += take;
      excess -= take;
      if (front.empty()) buffer_.pop_front();
    }
  }
  buffered_events_ -= discarded;
  StageMetrics::Add(metrics_.events_discarded, discarded);
  if (!logged_discard_) {
    logged_discard_ = true;
    SPDLOG_WARN(
        "stage \"{}\" instance {}: producer buffer full (buffer_size {}), discarding events ({}); "
        "counted in events_discarded",
        stage_.spec.name, index_, options.buffer_size,
        options.buffer_keep == BufferKeep::kFirst ? "keeping first" : "keeping last");
  }
}

void StageInstance::StampOrigins(EventBatch& batch) {
  // Fast path: one partition, runtime-numbered offsets (generators).
  const size_t count = batch.size();
  bool numbered_by_us = true;
  const Partition first_partition = batch[0].origin().partition;
  for (const Event& event : batch) {
    if (event.origin().offset.value() >= 0 || event.origin().partition != first_partition) {
      numbered_by_us = false;
      break;
    }
  }
  if (numbered_by_us) {
    int64_t& next = next_offset_[first_partition.value()];
    const Offset first(next);
    for (size_t i = 0; i < count; ++i)
      batch.set_origin(i, {source_id_, first_partition, Offset(next++)});
    ack_tracker_->TrackRange(first_partition, first, count);
    return;
  }
  std::vector<Offset> offsets;
  size_t run_start = 0;
  for (size_t i = 0; i <= count; ++i) {
    if (i == count ||
        (i > run_start && batch[i].origin().partition != batch[run_start].origin().partition)) {
      ack_tracker_->Track(batch[run_start].origin().partition, offsets);
      offsets.clear();
      run_start = i;
      if (i == count) break;
    }
    Origin origin = batch[i].origin();
    origin.source = source_id_;
    if (origin.offset.value() < 0) origin.offset = Offset(next_offset_[origin.partition.value()]++);
    batch.set_origin(i, origin);
    offsets.push_back(origin.offset);
  }
}

bool StageInstance::RunProducer() {
  const bool woken = wake_requested_.exchange(false, std::memory_order_acq_rel);
  if (drain_requested_.load(std::memory_order_acquire)) source_done_ = true;
  if (source_done_) return false;
  // Paused by the operator: not asked now; Resume() wakes it.
  if (runtime_.paused()) return false;
  const int64_t available = dispatcher_->AvailableDemand();
  const size_t held = buffered_events_ + dispatcher_->held_events();
  if (available <= 0 || held >= stage_.spec.options.buffer_size) return false;
  if (!new_demand_ && !woken) return false;
  new_demand_ = false;

  ProducerOutput out;
  EnterState(InstanceState::kBusy);
  absl::Status status =
      Guarded([&] { return producer_->HandleDemand(static_cast<size_t>(available), out); });
  EnterState(InstanceState::kIdle);
  if (!status.ok()) {
    // Nothing it emitted in this call was tracked yet: it is simply not sent.
    Crash(AsString(status), nullptr);
    return false;
  }
  const size_t emitted = out.batch_.size();
  if (emitted > 0) {
    StampOrigins(out.batch_);
    StageMetrics::Add(metrics_.events_in, emitted);
    StageMetrics::Add(metrics_.bytes_in, out.batch_.payload_bytes());
    AddToBuffer(std::move(out.batch_));
  }
  if (out.finished()) source_done_ = true;
  // Keep asking while it keeps emitting and demand remains; an empty answer
  // waits for new demand or Wake().
  const bool more = emitted > 0 && !source_done_ && dispatcher_->AvailableDemand() > 0;
  if (more) new_demand_ = true;
  return more;
}

// ---------------------------------------------------------------------------
// Consumer side

bool StageInstance::InputBlocked() const {
  // A producer-consumer takes input only while its output has room, so its
  // buffer stays bounded by buffer_size plus one chunk's output.
  if (has_output() &&
      buffered_events_ + dispatcher_->held_events() >= stage_.spec.options.buffer_size) {
    return true;
  }
  // Events waiting for a retry or a dead-letter write are still in hand.
  // So are those whose write failed and waits to be tried again: while the
  // dead-letter backend is down the stage stops taking input, and its
  // sources pause behind it.
  // So are the events a stage holds (Output::Hold): a batching stage with
  // max_demand held pauses its producers instead of growing.
  const auto in_hand =
      static_cast<int64_t>(retries_.size() + dead_letters_waiting_ + held_.size()) +
      dead_letters_in_flight();
  if (in_hand >= stage_.spec.options.max_demand) return true;
  // A sink holding acknowledgements back (writing in batches) may hold up
  // to buffer_size events before it must flush.
  return deferred_in_flight_.load(std::memory_order_acquire) >=
         static_cast<int64_t>(stage_.spec.options.buffer_size);
}

bool StageInstance::RunConsumer() {
  int calls = 0;
  const int budget = runtime_.options().slice_calls;
  while (calls < budget && user_stage_ != nullptr) {
    if (!held_returned_.empty()) {
      // Held by the stage object a restart discarded: the fresh one gets
      // them first, in chunks no larger than the input's.
      const size_t chunk_size = std::min<size_t>(
          held_returned_.size(), static_cast<size_t>(stage_.spec.options.max_demand));
      HandleChunk(held_returned_.TakeFront(chunk_size));
      ++calls;
      continue;
    }
    EventBatch due;
    if (TakeDueRetries(due)) {
      HandleChunk(std::move(due));
      ++calls;
      continue;
    }
    if (inbox_.empty()) break;
    if (InputBlocked()) return false;
    Inbound& front = inbox_.front();
    Upstream& upstream = upstreams_[front.upstream];
    const size_t chunk_size =
        std::min<size_t>(front.batch.size(), static_cast<size_t>(upstream.demand.max_chunk()));
    EventBatch chunk = front.batch.TakeFront(chunk_size);
    if (front.batch.empty()) inbox_.pop_front();
    inbox_events_ -= chunk_size;
    const int64_t ask = upstream.demand.TakeChunk(static_cast<int64_t>(chunk_size));
    HandleChunk(std::move(chunk));
    if (ask > 0) {
      upstream.demand.Asked(ask);
      upstream.producer->PostAsk(upstream.subscription, ask);
    }
    ++calls;
  }
  if (has_output()) FlushBuffer();
  // Yield if there is more we could do now; otherwise wait for a message.
  const bool can_continue = user_stage_ != nullptr && !inbox_.empty() && !InputBlocked();
  return can_continue;
}

bool StageInstance::TakeDueRetries(EventBatch& batch) {
  if (retries_.empty()) return false;
  const absl::Time now = runtime_.clock().Now();
  absl::Time next_due = absl::InfiniteFuture();
  for (auto it = retries_.begin(); it != retries_.end();) {
    if (it->due <= now && batch.size() < static_cast<size_t>(stage_.spec.options.max_demand)) {
      batch.RetainMemoryOf(it->event);
      batch.AppendView(it->event[0]);
      it = retries_.erase(it);
    } else {
      next_due = std::min(next_due, it->due);
      ++it;
    }
  }
  if (next_due != absl::InfiniteFuture()) WakeAt(next_due);
  return !batch.empty();
}

void StageInstance::HandleChunk(EventBatch chunk) {
  if (producer_consumer_ != nullptr) {
    HandleProducerConsumerChunk(chunk);
  } else {
    HandleConsumerChunk(chunk);
  }
  FlushDeadLetters();
}

void StageInstance::HandleProducerConsumerChunk(EventBatch& chunk) {
  Output out(chunk);
  out.next_held_id_ = &next_held_id_;
  EnterState(InstanceState::kBusy);
  absl::Status status = Guarded([&] { return producer_consumer_->HandleEvents(chunk, out); });
  EnterState(InstanceState::kIdle);
  if (!status.ok()) {
    Crash(AsString(status), &chunk);
    return;
  }
  // Settle in this order: completions expected first (extra emits), then
  // what is done here, then failures, and only then send the output on.
  // One pass: extra emits add references; a forgotten event fails (its
  // dead letter is only queued here, so nothing completes before the refs).
  for (size_t i = 0; i < chunk.size(); ++i) {
    const uint32_t settled = out.settled_[i];
    if (settled == 1) continue;
    if (settled > 1) {
      runtime_.AddRefs(chunk[i], settled - 1);
    } else {
      FailEvent(chunk[i], absl::InternalError(
                              absl::StrCat("stage \"", stage_.spec.name,
                                           "\" neither emitted, dropped nor failed the event")));
    }
  }
  if (!out.dropped_.empty()) {
    // One pass over the chunk, completing only the dropped events.
    std::vector<uint8_t> kept(chunk.size(), 1);
    for (size_t i : out.dropped_) kept[i] = 0;
    runtime_.Complete(chunk.events(), kept);
    StageMetrics::Add(metrics_.events_dropped, out.dropped_.size());
  }
  for (auto& [i, why] : out.failed_) FailEvent(chunk[i], why);
  ApplyHeld(out, chunk);
  AddToBuffer(std::move(out.out_));
}

void StageInstance::RunWake() {
  if (flushed_) return;  // after Flush() the stage holds nothing
  EventBatch none;
  Output out(none);
  EnterState(InstanceState::kBusy);
  absl::Status status = Guarded([&] { return producer_consumer_->HandleWake(out); });
  EnterState(InstanceState::kIdle);
  if (!status.ok()) {
    Crash(AsString(status), nullptr);
    return;
  }
  ApplyHeld(out, none);
  AddToBuffer(std::move(out.out_));
}

void StageInstance::ApplyHeld(Output& out, const EventBatch& input) {
  for (const auto& [i, id] : out.held_) held_.Hold(id, input[i]);
  for (HeldId id : out.released_) {
    if (!held_.ReleaseInto(id, out.out_)) {
      SPDLOG_ERROR("stage \"{}\" instance {} released held event {}, which it does not hold",
                   stage_.spec.name, index_, id);
    }
  }
}

void StageInstance::HandleConsumerChunk(EventBatch& chunk) {
  ConsumerAcks acks(chunk);
  EnterState(InstanceState::kBusy);
  absl::Status status = Guarded([&] { return consumer_->HandleEvents(chunk, acks); });
  EnterState(InstanceState::kIdle);
  if (!status.ok()) {
    if (acks.deferred_ != nullptr) {
      // The crashed call's events are dead-lettered below; its deferral is void.
      MutexLock lock(&acks.deferred_->mu);
      acks.deferred_->completed = true;
    }
    Crash(AsString(status), &chunk);
    return;
  }
  std::vector<uint8_t> failed;
  size_t failures = 0;
  if (!acks.failed_.empty()) {
    failed.assign(chunk.size(), 0);
    for (const auto& [i, why] : acks.failed_) {
      if (failed[i]) continue;  // failed twice in one call: one failure
      failed[i] = 1;
      ++failures;
      FailEvent(chunk[i], why);
    }
  }
  if (acks.deferred_ != nullptr) {
    ArmDeferred(acks, chunk, failed);
    return;
  }
  runtime_.Complete(chunk.events(), failed);
  StageMetrics::Add(metrics_.events_acknowledged, chunk.size() - failures);
  RecordLatency(chunk);
}

void StageInstance::RecordLatency(const EventBatch& chunk) {
  // Sampled: at most 16 events a batch, each counted for its stride, so the
  // cost stays per batch (a sink at tens of millions of events a second).
  if (chunk.empty()) return;
  const size_t stride = (chunk.size() + 15) / 16;
  const int64_t now_us = absl::GetCurrentTimeNanos() / 1000;
  for (size_t i = 0; i < chunk.size(); i += stride) {
    const int64_t stamped = chunk[i].timestamp_us();
    if (stamped <= 0) continue;  // no timestamp: no latency
    const size_t weight = std::min(stride, chunk.size() - i);
    metrics_.end_to_end_latency.Record(absl::Microseconds(now_us - stamped), weight);
    StageMetrics::Add(metrics_.end_to_end_latency_sum_us,
                      static_cast<uint64_t>(std::max<int64_t>(0, now_us - stamped)) * weight);
  }
}

// ---------------------------------------------------------------------------
// Failure paths

void StageInstance::FailEvent(const Event& event, const absl::Status& status) {
  StageMetrics::Add(metrics_.events_failed, 1);
  const uint32_t attempts = event.attempts() + 1;
  const RetryPolicy& policy = stage_.spec.options.retry;
  if (policy.ShouldRetry(attempts, status.code())) {
    const absl::Duration backoff = policy.Backoff(attempts, random_);
    const absl::Time retry_due = runtime_.clock().Now() + backoff;
    PendingRetry retry{retry_due, EventBatch()};
    EventFields fields = event.fields();
    fields.attempts = attempts;
    retry.event.Append(fields);
    retries_.push_back(std::move(retry));
    StageMetrics::Add(metrics_.events_retried, 1);
    if (LogEvent line(spdlog::level::debug, "event_retry_scheduled"); line.enabled()) {
      line.Pipeline(runtime_.options().name)
          .Stage(stage_.spec.name)
          .Instance(index_)
          .Field("trace_id", TraceIdOfEvent(event))
          .Field("offset", event.origin().offset.value())
          .Field("attempts", attempts)
          .Field("backoff", absl::FormatDuration(backoff))
          .Field("error", AsString(status));
    }
    WakeAt(retry_due);
    return;
  }
  DeadLetterEvent(event, status, attempts);
}

void StageInstance::DeadLetterEvent(const Event& event, const absl::Status& status,
                                    uint32_t attempts) {
  DeadLetter record;
  record.key = std::string(event.key());
  record.value = std::string(event.value());
  for (const Header& header : event.headers())
    record.headers.emplace_back(header.key, header.value);
  record.timestamp_us = event.timestamp_us();
  record.pipeline = runtime_.options().name;
  record.stage = stage_.spec.name;
  // A crash's reason is already "crashed: <what>" (DESIGN.md); other
  // failures keep their code in the text: "INVALID_ARGUMENT: ...".
  record.error =
      Redact(absl::StartsWith(status.message(), "crashed: ") ? std::string(status.message())
                                                             : AsString(status));
  record.code = status.code();
  record.attempts = attempts;
  record.failed_at = runtime_.clock().Now();
  record.source = runtime_.source_name(event.origin().source);
  record.origin = event.origin();
  if (std::optional<PartitionName> name = runtime_.source_partition_name(event.origin())) {
    record.source_topic = std::move(name->topic);
    record.source_partition = name->partition;
  }
  record.trace_id = TraceIdOfEvent(event);
  // The events a crash had in hand are counted on its stage_crashed line;
  // one of them gets a line of its own only if it carries a trace id.
  const bool crashed = absl::StartsWith(status.message(), "crashed: ");
  if (!crashed || !record.trace_id.empty()) LogDeadLetter(record, index_, attempts);
  dead_letters_to_write_.push_back(std::move(record));
}

void StageInstance::FlushDeadLetters() {
  if (dead_letters_to_write_.empty()) return;
  auto records = std::make_shared<std::vector<DeadLetter>>();
  records->swap(dead_letters_to_write_);
  WriteDeadLetters(std::move(records), 0);
}

void StageInstance::WriteDeadLetters(DeadLetterBatch records, uint32_t failures) {
  const auto count = static_cast<int64_t>(records->size());
  dead_letters_in_flight_.fetch_add(count, std::memory_order_acq_rel);
  // The backend confirms on a thread of its own, possibly after the run has
  // ended: through the gate, a late confirmation touches nothing torn down
  // (its events stay uncommitted, for redelivery).
  std::shared_ptr<CallbackGate> gate = runtime_.callback_gate();
  const absl::Time write_start = absl::Now();
  DeadLetterMetrics* backend_metrics = stage_.dead_letter_metrics;
  stage_.dead_letter->Write(records, [this, gate, records, count, failures, write_start,
                                      backend_metrics](absl::Status status) {
    // The runtime owns the backend metrics: recorded only while it lives.
    gate->Run([&] {
      backend_metrics->RecordWrite(status, records->size(), absl::Now() - write_start);
      if (status.ok()) {
        for (const DeadLetter& record : *records) runtime_.Complete(record.origin);
        StageMetrics::Add(metrics_.events_dead_lettered, static_cast<uint64_t>(count));
        dead_letters_in_flight_.fetch_sub(count, std::memory_order_acq_rel);
        Notify();
        return;
      }
      // Not stored: the events stay in flight (uncommitted) and are written
      // again after a backoff; the stage takes no new input meanwhile. They
      // count as in flight until the instance has queued the rewrite, so it
      // cannot finish in between.
      PostDeadLettersFailed(records, std::move(status), failures + 1);
    });
  });
}

void StageInstance::SendDueDeadLetters() {
  if (dead_letters_to_rewrite_.empty()) return;
  const absl::Time now = runtime_.clock().Now();
  while (!dead_letters_to_rewrite_.empty() && dead_letters_to_rewrite_.front().due <= now) {
    PendingDeadLetters pending = std::move(dead_letters_to_rewrite_.front());
    dead_letters_to_rewrite_.pop_front();
    dead_letters_waiting_ -= pending.records->size();
    WriteDeadLetters(std::move(pending.records), pending.failures);
  }
  if (!dead_letters_to_rewrite_.empty()) WakeAt(dead_letters_to_rewrite_.front().due);
}

void StageInstance::DiscardUserStage() {
  StopStage();
  user_stage_.reset();
  producer_ = nullptr;
  producer_consumer_ = nullptr;
  consumer_ = nullptr;
}

void StageInstance::Crash(const std::string& what, const EventBatch* in_hand) {
  // Masked here, so neither the log, the dead letters, the metrics nor the
  // summary carry a secret a crash message happened to quote.
  const std::string reason = Redact(absl::StrCat("crashed: ", what));
  LogEvent(spdlog::level::err, "stage_crashed")
      .Pipeline(runtime_.options().name)
      .Stage(stage_.spec.name)
      .Instance(index_)
      .Field("reason", reason)
      .Field("events_in_hand", static_cast<uint64_t>(in_hand != nullptr ? in_hand->size() : 0))
      .Field("events_held", static_cast<uint64_t>(held_.size()));
  const absl::Status status = absl::InternalError(reason);
  auto dead_letter_all = [&](const EventBatch& events) {
    for (const Event& event : events) {
      StageMetrics::Add(metrics_.events_failed, 1);
      DeadLetterEvent(event, status, event.attempts() + 1);
    }
  };
  if (in_hand != nullptr) dead_letter_all(*in_hand);
  // What the stage held goes with it: its state (which events belong
  // together, when they are due) is lost.
  if (!held_.empty()) {
    EventBatch held;
    held_.ReleaseAllInto(held);
    dead_letter_all(held);
  }
  FlushDeadLetters();
  DiscardUserStage();
  metrics_.set_last_crash(reason);
  stage_.supervisor->ChildCrashed(index_, reason);
}

// ---------------------------------------------------------------------------
// Completion

void StageInstance::SendDownstreamDone() {
  if (downstream_done_sent_) return;
  downstream_done_sent_ = true;
  for (const Subscriber& subscriber : subscribers_) {
    if (subscriber.instance != nullptr)
      subscriber.instance->PostUpstreamDone(subscriber.upstream_index);
  }
}

void StageInstance::MaybeFinish() {
  if (finished_.load(std::memory_order_relaxed) || user_stage_ == nullptr) return;
  if (has_input()) {
    if (upstreams_done_ < upstreams_.size() || !inbox_.empty() || !held_returned_.empty() ||
        !retries_.empty() || !dead_letters_to_rewrite_.empty() || dead_letters_in_flight() > 0) {
      return;
    }
    if (consumer_ != nullptr && !flushed_) {
      flushed_ = true;
      if (absl::Status status = Guarded([&] { return consumer_->Flush(); }); !status.ok()) {
        Crash(AsString(status), nullptr);
        return;
      }
    }
    if (deferred_in_flight_.load(std::memory_order_acquire) > 0) return;
    if (producer_consumer_ != nullptr && !flushed_) {
      flushed_ = true;
      EventBatch none;
      Output out(none);
      absl::Status status = Guarded([&] { return producer_consumer_->Flush(out); });
      if (!status.ok()) {
        Crash(AsString(status), nullptr);
        return;
      }
      ApplyHeld(out, none);
      // Nothing more will come to release them for: pass them on now.
      held_.ReleaseAllInto(out.out_);
      AddToBuffer(std::move(out.out_));
    }
    source_done_ = true;
  }
  if (has_output()) {
    if (!source_done_ || buffered_events_ > 0 || dispatcher_->held_events() > 0) return;
    SendDownstreamDone();
  }
  finished_.store(true, std::memory_order_release);
  EnterState(InstanceState::kIdle);
  runtime_.InstanceFinished();
}

// ---------------------------------------------------------------------------
// Metrics

void StageInstance::EnterState(InstanceState state) {
  if (state == state_) return;
  const int64_t now = absl::GetCurrentTimeNanos();
  const auto elapsed = static_cast<uint64_t>(std::max<int64_t>(0, now - state_since_ns_));
  switch (state_) {
    case InstanceState::kIdle:
      StageMetrics::Add(metrics_.idle_ns, elapsed);
      break;
    case InstanceState::kBusy:
      // Busy spans exactly one batch callback: one processing-time record.
      StageMetrics::Add(metrics_.busy_ns, elapsed);
      metrics_.processing_latency.Record(absl::Nanoseconds(static_cast<int64_t>(elapsed)));
      break;
    case InstanceState::kBackpressured:
      StageMetrics::Add(metrics_.backpressured_ns, elapsed);
      break;
  }
  state_ = state;
  state_since_ns_ = now;
}

void StageInstance::UpdateGauges() {
  StageMetrics::Set(metrics_.mailbox_depth, static_cast<int64_t>(inbox_events_));
  int64_t outstanding = 0;
  for (const Upstream& upstream : upstreams_) outstanding += upstream.demand.outstanding();
  StageMetrics::Set(metrics_.outstanding_demand, outstanding);
}

void StageInstance::StopStage() {
  if (user_stage_ == nullptr) return;
  Guarded([&] {
    user_stage_->Stop();
    return absl::OkStatus();
  }).IgnoreError();
  LogEvent(spdlog::level::info, "stage_stopped")
      .Pipeline(runtime_.options().name)
      .Stage(stage_.spec.name)
      .Instance(index_);
}

}  // namespace sluice::internal
