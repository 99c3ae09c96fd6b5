#include "stages/flow/batch_stage.h"

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#include "pipeline/clock.h"

namespace sluice::stages {

BatchStage::BatchStage(const BatchOptions& options, const StageContext& context)
    : size_(options.size),
      timeout_(options.timeout),
      by_(options.by),
      max_held_(static_cast<size_t>(context.max_demand())),
      clock_(context.clock()),
      timer_(context) {}

ProducerConsumerFactory BatchStage::Factory(BatchOptions options) {
  return [options = std::move(options)](
             const StageContext& context) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<BatchStage>(options, context);
  };
}

std::string BatchStage::GroupOf(const Event& event) const {
  if (!by_.has_value()) return "=";
  std::optional<std::string_view> bytes = by_->Of(event);
  if (!bytes.has_value()) return "";
  std::string group = "=";
  group.append(*bytes);
  return group;
}

absl::Status BatchStage::HandleEvents(const EventBatch& batch, Output& out) {
  const absl::Time now = clock_.Now();
  for (const Event& event : batch) {
    std::string key = GroupOf(event);
    Group& group = groups_[key];
    if (group.events.empty()) {
      group.serial = next_serial_++;
      group.opened = now;
      openings_.push_back({group.serial, key});
    }
    group.events.push_back(out.Hold(event));
    ++held_;
    if (group.events.size() >= size_) Release(key, out);
    // Full: the oldest group leaves early rather than the input stopping.
    while (held_ >= max_held_) Release(Oldest()->group, out);
  }
  ScheduleOldest(now);
  return absl::OkStatus();
}

absl::Status BatchStage::HandleWake(Output& out) {
  const absl::Time now = clock_.Now();
  while (const Opening* oldest = Oldest()) {
    if (groups_.at(oldest->group).opened + timeout_ > now) break;
    Release(oldest->group, out);
  }
  ScheduleOldest(now);
  return absl::OkStatus();
}

absl::Status BatchStage::Flush(Output& out) {
  while (const Opening* oldest = Oldest()) Release(oldest->group, out);
  return absl::OkStatus();
}

void BatchStage::Release(const std::string& key, Output& out) {
  auto it = groups_.find(key);
  for (HeldId id : it->second.events) out.Release(id);
  held_ -= it->second.events.size();
  groups_.erase(it);
}

const BatchStage::Opening* BatchStage::Oldest() {
  while (!openings_.empty()) {
    const Opening& front = openings_.front();
    auto it = groups_.find(front.group);
    if (it != groups_.end() && it->second.serial == front.serial) return &front;
    openings_.pop_front();
  }
  return nullptr;
}

void BatchStage::ScheduleOldest(absl::Time now) {
  if (const Opening* oldest = Oldest()) timer_.At(groups_.at(oldest->group).opened + timeout_, now);
}

ProducerConsumerFactory MakeBatch(StageTypeContext& context) {
  OptionReader& options = context.options;
  BatchOptions batch;
  if (std::optional<int64_t> size = options.Int("size", 1)) {
    if (*size > context.max_demand) {
      options.Error("size", absl::StrCat("(", *size, ") is above the stage's max_demand (",
                                         context.max_demand,
                                         "): a stage holds at most max_demand events; raise "
                                         "max_demand to at least the batch size"));
    } else {
      batch.size = static_cast<size_t>(*size);
    }
  } else if (!options.has("size") && static_cast<int64_t>(batch.size) > context.max_demand) {
    batch.size = static_cast<size_t>(context.max_demand);
  }
  batch.timeout = options.Duration("timeout", absl::Nanoseconds(1)).value_or(batch.timeout);
  batch.by = ReadEventKeySource(options);
  if (options.failed()) return nullptr;
  return BatchStage::Factory(std::move(batch));
}

SLUICE_REGISTER_PRODUCER_CONSUMER("batch", MakeBatch);

}  // namespace sluice::stages
