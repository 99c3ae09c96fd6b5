#include "pipeline/internal/pipeline_runtime.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "pipeline/clock.h"
#include "pipeline/internal/stage_instance.h"
#include "pipeline/log.h"

namespace sluice::internal {

PipelineRuntime::PipelineRuntime(PipelineOptions options, std::vector<StageSpec> stages)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &RealClock::Get()) {
  if (options_.dead_letter == nullptr) {
    default_dead_letters_ = std::make_shared<InMemoryDeadLetterQueue>();
    options_.dead_letter = default_dead_letters_;
  }
  // spdlog makes its registry on first use, in uninstrumented code: make it
  // here, before any arena thread logs, so TSan sees it ordered before them.
  spdlog::default_logger_raw();
  scheduler_ = std::make_unique<Scheduler>(options_.workers);
  root_supervisor_ = std::make_unique<Supervisor>(
      options_.name, options_.supervision, stages.size(), *clock_,
      [this](size_t stage, const std::string& reason) { RestartStage(stage, reason); },
      [this](const std::string& reason) {
        Halt(
            absl::AbortedError(absl::StrCat("pipeline \"", options_.name, "\" stopped: ", reason)));
      });

  absl::flat_hash_map<std::string, size_t> index_of;
  for (size_t i = 0; i < stages.size(); ++i) {
    auto stage = std::make_unique<StageRuntime>();
    stage->spec = std::move(stages[i]);
    stage->index = i;
    const uint32_t concurrency = stage->spec.options.concurrency;
    for (uint32_t k = 0; k < concurrency; ++k)
      stage->metrics.push_back(std::make_unique<StageMetrics>());
    stage->dead_letter = stage->spec.options.dead_letter != nullptr
                             ? stage->spec.options.dead_letter.get()
                             : options_.dead_letter.get();
    auto metrics =
        std::find_if(dead_letter_metrics_.begin(), dead_letter_metrics_.end(),
                     [&](const auto& entry) { return entry.first == stage->dead_letter; });
    if (metrics == dead_letter_metrics_.end()) {
      dead_letter_metrics_.emplace_back(stage->dead_letter, std::make_unique<DeadLetterMetrics>());
      metrics = std::prev(dead_letter_metrics_.end());
    }
    stage->dead_letter_metrics = metrics->second.get();
    StageRuntime* raw = stage.get();
    stage->supervisor = std::make_unique<Supervisor>(
        stage->spec.name, stage->spec.options.supervision, concurrency, *clock_,
        [raw](size_t instance, const std::string& reason) {
          raw->instances[instance]->RequestRestart(reason);
        },
        [this, i](const std::string& reason) { root_supervisor_->ChildCrashed(i, reason); });
    index_of[stage->spec.name] = i;
    stages_.push_back(std::move(stage));
  }
  for (auto& stage : stages_) {
    for (const std::string& upstream : stage->spec.options.subscribe) {
      stages_[index_of.at(upstream)]->downstream.push_back(stage->index);
    }
  }
  for (auto& stage : stages_) {
    for (uint32_t k = 0; k < stage->spec.options.concurrency; ++k) {
      SourceId source(0);
      if (stage->spec.role == StageRole::kProducer)
        source = SourceId(static_cast<uint32_t>(sources_.size()));
      auto instance = std::make_unique<StageInstance>(*this, *stage, k, source);
      stage->instances.push_back(instance.get());
      if (stage->spec.role == StageRole::kProducer) {
        sources_.push_back(instance.get());
        source_names_.push_back(stage->spec.name);
      }
      instances_.push_back(std::move(instance));
    }
  }
  Wire();
}

PipelineRuntime::~PipelineRuntime() {
  if (started_.load() && !halted()) Halt(absl::CancelledError("pipeline destroyed while running"));
  scheduler_->Shutdown();
  // Callbacks from threads we do not own (backends, sinks) must not reach
  // the instances destroyed next.
  callback_gate_->Close();
}

void PipelineRuntime::Wire() {
  absl::flat_hash_map<std::string, StageRuntime*> by_name;
  for (auto& stage : stages_) by_name[stage->spec.name] = stage.get();
  for (auto& stage : stages_) {
    for (const std::string& upstream_name : stage->spec.options.subscribe) {
      StageRuntime* upstream = by_name.at(upstream_name);
      for (StageInstance* producer : upstream->instances) {
        for (StageInstance* consumer : stage->instances) {
          const SubscriptionId id = producer->NextSubscriptionId();
          const uint32_t upstream_index = consumer->AddUpstream(producer, id);
          SubscriberInfo info;
          info.id = id;
          info.group = static_cast<uint32_t>(stage->index);
          info.index_in_group = consumer->index();
          info.group_size = stage->spec.options.concurrency;
          info.selector = stage->spec.options.selector;
          producer->AddSubscriber(info, consumer, upstream_index);
        }
      }
    }
  }
}

absl::Status PipelineRuntime::Start() {
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (absl::Status status = instances_[i]->CreateStage(); !status.ok()) {
      for (size_t j = 0; j < i; ++j) instances_[j]->StopStage();
      return status;
    }
  }
  started_at_ = clock_->Now();
  started_.store(true);
  for (auto& instance : instances_) instance->PrepareInitialDemand();
  for (auto& instance : instances_) instance->SendInitialDemand();
  for (auto& instance : instances_)
    instance->Notify();  // producers without subscribers finish at once
  return absl::OkStatus();
}

bool PipelineRuntime::AllFinished() const {
  return std::all_of(instances_.begin(), instances_.end(), [](const auto& instance) {
    return instance->finished() && !instance->restart_pending();
  });
}

void PipelineRuntime::InstanceFinished() {
  MutexLock lock(&mu_);
  ++finish_events_;
  finished_cv_.notify_all();
}

void PipelineRuntime::Halt(absl::Status status) {
  {
    MutexLock lock(&mu_);
    if (halt_status_.ok()) halt_status_ = status;
    halted_.store(true, std::memory_order_release);
    finished_cv_.notify_all();
  }
  if (!absl::IsCancelled(status)) {
    LogEvent(spdlog::level::err, "pipeline_stopped")
        .Pipeline(options_.name)
        .Field("reason", std::string(status.message()));
  }
}

void PipelineRuntime::Drain(std::optional<absl::Duration> timeout) {
  {
    MutexLock lock(&mu_);
    if (ended_) return;
    const absl::Time deadline = clock_->Now() + timeout.value_or(options_.shutdown_timeout);
    if (drain_deadline_.has_value()) {
      // Draining already: a shorter timeout (a second SIGTERM) brings the
      // end closer; the sources were told already.
      if (deadline < *drain_deadline_) {
        drain_deadline_ = deadline;
        finished_cv_.notify_all();
        LogEvent(spdlog::level::warn, "drain_cut_short")
            .Pipeline(options_.name)
            .Field("in_flight", EventsInFlight());
      }
      return;
    }
    drain_deadline_ = deadline;
  }
  LogEvent(spdlog::level::info, "drain_started")
      .Pipeline(options_.name)
      .Field("timeout", absl::FormatDuration(timeout.value_or(options_.shutdown_timeout)))
      .Field("in_flight", EventsInFlight());
  for (StageInstance* source : sources_) source->RequestDrain();
}

RunReport PipelineRuntime::Wait() {
  RunReport report;
  absl::Time next_progress_log = absl::InfinitePast();
  bool drained_by_request = false;
  {
    std::unique_lock<Mutex> lock(mu_);
    while (true) {
      if (halted_.load(std::memory_order_acquire)) break;
      if (AllFinished()) break;
      if (drain_deadline_.has_value() && clock_->Now() >= *drain_deadline_) {
        report.drained = false;
        break;
      }
      // Drain progress, once a second: what is still in flight.
      if (drain_deadline_.has_value() && clock_->Now() >= next_progress_log) {
        next_progress_log = clock_->Now() + absl::Seconds(1);
        LogEvent(spdlog::level::info, "drain_progress")
            .Pipeline(options_.name)
            .Field("in_flight", EventsInFlight())
            .Field("deadline_in", absl::FormatDuration(absl::Trunc(*drain_deadline_ - clock_->Now(),
                                                                   absl::Milliseconds(1))));
      }
      // Finishing instances bump finish_events_ and notify; the timeout
      // bounds how late a drain deadline is noticed.
      const uint64_t seen = finish_events_;
      finished_cv_.wait_for(
          lock, std::chrono::milliseconds(20), [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return finish_events_ != seen || halted_.load(std::memory_order_acquire);
          });
    }
    ended_ = true;
    report.status = halt_status_;
    drained_by_request = drain_deadline_.has_value();
  }
  halted_.store(true, std::memory_order_release);
  scheduler_->Shutdown();
  // Dead-letter writes already handed to a backend confirm on its thread.
  const absl::Time dead_letter_deadline = absl::Now() + absl::Seconds(5);
  for (auto& instance : instances_) {
    while (instance->dead_letters_in_flight() > 0 && absl::Now() < dead_letter_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  for (auto& instance : instances_) instance->StopStage();
  // From here on the run's outcome is fixed: a confirmation arriving late
  // leaves its events uncommitted, for redelivery.
  callback_gate_->Close();
  report.elapsed = clock_->Now() - started_at_;
  report.stages = Snapshot();
  for (StageInstance* source : sources_) {
    AckTracker* tracker = source->ack_tracker();
    for (Partition partition : tracker->partitions()) {
      report.partitions.push_back({source_names_[source->source_id().value()], source->index(),
                                   partition, tracker->CommitPoint(partition),
                                   tracker->in_flight(partition)});
    }
  }
  if (drained_by_request) {
    LogEvent(report.drained ? spdlog::level::info : spdlog::level::warn, "drain_finished")
        .Pipeline(options_.name)
        .Field("drained", report.drained)
        .Field("unfinished", static_cast<uint64_t>(report.events_in_flight()));
  }
  return report;
}

std::vector<StageReport> PipelineRuntime::Snapshot() const {
  std::vector<StageReport> reports;
  for (const auto& stage : stages_) {
    StageReport report;
    report.name = stage->spec.name;
    report.role = stage->spec.role;
    report.concurrency = stage->spec.options.concurrency;
    for (const auto& metrics : stage->metrics) {
      report.instances.push_back(metrics->Snapshot());
      report.totals += report.instances.back();
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

std::vector<DeadLetterReport> PipelineRuntime::DeadLetterSnapshot() const {
  std::vector<DeadLetterReport> reports;
  for (const auto& [queue, metrics] : dead_letter_metrics_) {
    DeadLetterReport& report = reports.emplace_back();
    report.description = queue->description();
    // "file sluice-data/x.log", "kafka topic orders.dlq", "memory".
    report.backend = report.description.substr(0, report.description.find(' '));
    report.writes = metrics->writes.load(std::memory_order_relaxed);
    report.errors = metrics->errors.load(std::memory_order_relaxed);
    report.write_latency = metrics->write_latency.Snapshot();
    report.write_ns = metrics->write_ns.load(std::memory_order_relaxed);
    report.failing = metrics->failing();
  }
  return reports;
}

bool PipelineRuntime::draining() const {
  MutexLock lock(&mu_);
  return drain_deadline_.has_value();
}

absl::Status PipelineRuntime::health() const {
  {
    MutexLock lock(&mu_);
    if (!halt_status_.ok() && !absl::IsCancelled(halt_status_)) return halt_status_;
  }
  if (root_supervisor_->gave_up()) {
    return absl::AbortedError(absl::StrCat("pipeline \"", options_.name, "\" supervisor gave up"));
  }
  for (const auto& stage : stages_) {
    if (stage->supervisor->gave_up()) {
      return absl::AbortedError(absl::StrCat("stage \"", stage->spec.name,
                                             "\" is escalating: restarts exceeded max_restarts"));
    }
  }
  return absl::OkStatus();
}

void PipelineRuntime::SetPaused(bool paused) {
  if (paused_.exchange(paused, std::memory_order_acq_rel) == paused) return;
  SPDLOG_INFO("pipeline \"{}\" {}", options_.name,
              paused ? "paused: sources are not asked for events" : "resumed");
  // A paused source returned without asking for more: call it again.
  if (!paused) {
    for (StageInstance* source : sources_) source->Wake();
  }
}

uint64_t PipelineRuntime::EventsInFlight() const {
  uint64_t total = 0;
  for (StageInstance* source : sources_) total += source->ack_tracker()->in_flight();
  return total;
}

const std::string& PipelineRuntime::source_name(SourceId source) const {
  return source_names_[source.value()];
}

std::optional<PartitionName> PipelineRuntime::source_partition_name(const Origin& origin) const {
  return sources_[origin.source.value()]->PartitionNameOf(origin.partition);
}

void PipelineRuntime::Complete(absl::Span<const Event> events, absl::Span<const uint8_t> skip) {
  // Runs of one source and partition; a run of consecutive offsets (the
  // common case) goes as a range, without building a list of offsets.
  thread_local std::vector<Offset> offsets;
  size_t i = 0;
  while (i < events.size()) {
    if (!skip.empty() && skip[i]) {
      ++i;
      continue;
    }
    const Origin& first = events[i].origin();
    AckTracker& tracker = *sources_[first.source.value()]->ack_tracker();
    size_t end = i + 1;
    while (end < events.size() && (skip.empty() || !skip[end])) {
      const Origin& origin = events[end].origin();
      if (origin.source != first.source || origin.partition != first.partition ||
          origin.offset.value() != first.offset.value() + static_cast<int64_t>(end - i)) {
        break;
      }
      ++end;
    }
    if (end - i > 1 || end == events.size() || (!skip.empty() && skip[end])) {
      tracker.DoneRange(first.partition, first.offset, end - i);
      i = end;
      continue;
    }
    // Not consecutive: collect this source and partition's offsets.
    offsets.clear();
    for (; i < events.size(); ++i) {
      if (!skip.empty() && skip[i]) continue;
      const Origin& origin = events[i].origin();
      if (origin.source != first.source || origin.partition != first.partition) break;
      offsets.push_back(origin.offset);
    }
    tracker.Done(first.partition, offsets);
  }
}

void PipelineRuntime::Complete(const Origin& origin) {
  const Offset offset = origin.offset;
  sources_[origin.source.value()]->ack_tracker()->Done(origin.partition,
                                                       absl::MakeConstSpan(&offset, 1));
}

void PipelineRuntime::AddRefs(const Event& event, uint32_t extra) {
  const Offset offset = event.origin().offset;
  sources_[event.origin().source.value()]->ack_tracker()->AddRefs(
      event.origin().partition, absl::MakeConstSpan(&offset, 1), extra);
}

void PipelineRuntime::RestartStage(size_t stage_index, const std::string& reason) {
  StageRuntime& stage = *stages_[stage_index];
  stage.supervisor->Reset();
  for (StageInstance* instance : stage.instances) instance->RequestRestart(reason);
}

}  // namespace sluice::internal
