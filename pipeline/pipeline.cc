#include "pipeline/pipeline.h"

#include <deque>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "pipeline/internal/pipeline_runtime.h"

namespace sluice {

// ---------------------------------------------------------------------------
// RunReport

namespace {

template <typename Field>
uint64_t SumOver(const std::vector<StageReport>& stages, StageRole role, Field field) {
  uint64_t total = 0;
  for (const StageReport& stage : stages) {
    if (stage.role == role) total += stage.totals.*field;
  }
  return total;
}

template <typename Field>
uint64_t SumAll(const std::vector<StageReport>& stages, Field field) {
  uint64_t total = 0;
  for (const StageReport& stage : stages) total += stage.totals.*field;
  return total;
}

}  // namespace

uint64_t RunReport::events_emitted() const {
  return SumOver(stages, StageRole::kProducer, &StageMetricsSnapshot::events_in);
}
uint64_t RunReport::events_acknowledged() const {
  return SumAll(stages, &StageMetricsSnapshot::events_acknowledged);
}
uint64_t RunReport::events_dropped() const {
  return SumAll(stages, &StageMetricsSnapshot::events_dropped);
}
uint64_t RunReport::events_dead_lettered() const {
  return SumAll(stages, &StageMetricsSnapshot::events_dead_lettered);
}
uint64_t RunReport::events_discarded() const {
  return SumAll(stages, &StageMetricsSnapshot::events_discarded);
}
uint64_t RunReport::events_in_flight() const {
  uint64_t total = 0;
  for (const PartitionReport& partition : partitions) total += partition.in_flight;
  return total;
}

// ---------------------------------------------------------------------------
// Pipeline

Pipeline::Pipeline(std::unique_ptr<internal::PipelineRuntime> runtime)
    : runtime_(std::move(runtime)) {}
Pipeline::~Pipeline() = default;

absl::Status Pipeline::Start() { return runtime_->Start(); }
RunReport Pipeline::Wait() { return runtime_->Wait(); }
void Pipeline::Drain(std::optional<absl::Duration> timeout) { runtime_->Drain(timeout); }
std::vector<StageReport> Pipeline::Snapshot() const { return runtime_->Snapshot(); }
InMemoryDeadLetterQueue* Pipeline::dead_letters() const { return runtime_->default_dead_letters(); }
std::vector<DeadLetterReport> Pipeline::DeadLetterSnapshot() const {
  return runtime_->DeadLetterSnapshot();
}
const std::string& Pipeline::name() const { return runtime_->options().name; }
bool Pipeline::draining() const { return runtime_->draining(); }
absl::Status Pipeline::health() const { return runtime_->health(); }
void Pipeline::Pause() { runtime_->SetPaused(true); }
void Pipeline::Resume() { runtime_->SetPaused(false); }
bool Pipeline::paused() const { return runtime_->paused(); }

// ---------------------------------------------------------------------------
// PipelineBuilder

PipelineBuilder::PipelineBuilder(PipelineOptions options) : options_(std::move(options)) {}

PipelineBuilder& PipelineBuilder::AddProducer(std::string name, ProducerFactory factory,
                                              StageOptions options) {
  StageSpec spec;
  spec.name = std::move(name);
  spec.role = StageRole::kProducer;
  spec.options = std::move(options);
  spec.producer_factory = std::move(factory);
  return Add(std::move(spec));
}

PipelineBuilder& PipelineBuilder::AddProducerConsumer(std::string name,
                                                      ProducerConsumerFactory factory,
                                                      StageOptions options) {
  StageSpec spec;
  spec.name = std::move(name);
  spec.role = StageRole::kProducerConsumer;
  spec.options = std::move(options);
  spec.producer_consumer_factory = std::move(factory);
  return Add(std::move(spec));
}

PipelineBuilder& PipelineBuilder::AddConsumer(std::string name, ConsumerFactory factory,
                                              StageOptions options) {
  StageSpec spec;
  spec.name = std::move(name);
  spec.role = StageRole::kConsumer;
  spec.options = std::move(options);
  spec.consumer_factory = std::move(factory);
  return Add(std::move(spec));
}

PipelineBuilder& PipelineBuilder::Add(StageSpec spec) {
  stages_.push_back(std::move(spec));
  return *this;
}

absl::StatusOr<std::unique_ptr<Pipeline>> PipelineBuilder::Build() && {
  std::vector<std::string> errors;
  absl::flat_hash_map<std::string, size_t> index_of;
  for (size_t i = 0; i < stages_.size(); ++i) {
    const StageSpec& stage = stages_[i];
    if (stage.name.empty()) errors.push_back(absl::StrCat("stage #", i + 1, " has no name"));
    if (!index_of.emplace(stage.name, i).second) {
      errors.push_back(absl::StrCat("stage \"", stage.name, "\" is declared twice"));
    }
  }
  if (stages_.empty()) errors.push_back("the pipeline has no stages");

  std::vector<size_t> downstream_count(stages_.size(), 0);
  std::vector<std::vector<size_t>> downstream(stages_.size());
  std::vector<size_t> upstream_count(stages_.size(), 0);
  for (size_t i = 0; i < stages_.size(); ++i) {
    const StageSpec& stage = stages_[i];
    const StageOptions& options = stage.options;
    const std::string where = absl::StrCat("stage \"", stage.name, "\": ");
    if (options.concurrency < 1)
      errors.push_back(absl::StrCat(where, "concurrency must be at least 1"));
    if (options.max_demand < 1) {
      errors.push_back(
          absl::StrCat(where, "max_demand (", options.max_demand, ") must be at least 1"));
    } else if (options.effective_min_demand() < 0 ||
               options.effective_min_demand() >= options.max_demand) {
      errors.push_back(absl::StrCat(where, "max_demand (", options.max_demand,
                                    ") must exceed min_demand (", options.effective_min_demand(),
                                    ")"));
    }
    if (options.buffer_size < 1)
      errors.push_back(absl::StrCat(where, "buffer_size must be at least 1"));
    if (options.retry.max_attempts < 1)
      errors.push_back(absl::StrCat(where, "max_attempts must be at least 1"));
    const bool has_factory =
        (stage.role == StageRole::kProducer && stage.producer_factory) ||
        (stage.role == StageRole::kProducerConsumer && stage.producer_consumer_factory) ||
        (stage.role == StageRole::kConsumer && stage.consumer_factory);
    if (!has_factory) errors.push_back(absl::StrCat(where, "has no factory"));
    if (stage.role == StageRole::kProducer && !options.subscribe.empty()) {
      errors.push_back(absl::StrCat(where, "is a producer and cannot subscribe to other stages"));
    }
    absl::flat_hash_set<std::string> seen;
    for (const std::string& upstream : options.subscribe) {
      if (!seen.insert(upstream).second) {
        errors.push_back(absl::StrCat(where, "subscribes to \"", upstream, "\" twice"));
        continue;
      }
      if (upstream == stage.name) {
        errors.push_back(absl::StrCat(where, "subscribes to itself"));
        continue;
      }
      auto it = index_of.find(upstream);
      if (it == index_of.end()) {
        errors.push_back(absl::StrCat(where, "subscribes to unknown stage \"", upstream, "\""));
        continue;
      }
      if (stages_[it->second].role == StageRole::kConsumer) {
        errors.push_back(absl::StrCat(where, "subscribes to \"", upstream,
                                      "\", a consumer, which emits nothing"));
        continue;
      }
      downstream[it->second].push_back(i);
      ++downstream_count[it->second];
      ++upstream_count[i];
    }
  }
  for (size_t i = 0; i < stages_.size(); ++i) {
    const StageSpec& stage = stages_[i];
    if (stage.role != StageRole::kProducer && stage.options.subscribe.empty()) {
      errors.push_back(absl::StrCat("stage \"", stage.name,
                                    "\" subscribes to nothing, so it will never receive events"));
    }
    if (stage.role != StageRole::kConsumer && downstream_count[i] == 0) {
      errors.push_back(
          absl::StrCat("stage \"", stage.name, "\" has no subscribers, so its events go nowhere"));
    }
  }

  // Kahn's algorithm: start order (upstream first) and cycle detection.
  std::vector<size_t> order;
  std::deque<size_t> ready;
  std::vector<size_t> remaining = upstream_count;
  for (size_t i = 0; i < stages_.size(); ++i) {
    if (remaining[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    const size_t next = ready.front();
    ready.pop_front();
    order.push_back(next);
    for (size_t subscriber : downstream[next]) {
      if (--remaining[subscriber] == 0) ready.push_back(subscriber);
    }
  }
  if (order.size() != stages_.size()) {
    std::vector<std::string> in_cycle;
    for (size_t i = 0; i < stages_.size(); ++i) {
      if (remaining[i] > 0) in_cycle.push_back(absl::StrCat("\"", stages_[i].name, "\""));
    }
    errors.push_back(
        absl::StrCat("subscriptions form a cycle through ", absl::StrJoin(in_cycle, ", ")));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));

  std::vector<StageSpec> sorted;
  sorted.reserve(stages_.size());
  for (size_t i : order) sorted.push_back(std::move(stages_[i]));
  auto runtime =
      std::make_unique<internal::PipelineRuntime>(std::move(options_), std::move(sorted));
  return std::unique_ptr<Pipeline>(new Pipeline(std::move(runtime)));
}

}  // namespace sluice
