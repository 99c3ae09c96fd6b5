#include "tests/support/test_stages.h"

#include <charconv>

#include "absl/strings/str_cat.h"

namespace sluice::testing {

std::string EventValue(uint64_t i) { return absl::StrCat("event-", i); }

int64_t EventNumber(std::string_view value) {
  constexpr std::string_view kPrefix = "event-";
  if (value.substr(0, kPrefix.size()) != kPrefix) return -1;
  int64_t number = -1;
  const char* begin = value.data() + kPrefix.size();
  auto [end, error] = std::from_chars(begin, value.data() + value.size(), number);
  if (error != std::errc() || end != value.data() + value.size()) return -1;
  return number;
}

namespace {

class Generator final : public Producer {
 public:
  Generator(std::shared_ptr<GeneratorState> state, GeneratorOptions options)
      : state_(std::move(state)), options_(options) {}

  absl::Status HandleDemand(size_t demand, ProducerOutput& out) override {
    MutexLock lock(&state_->mu);
    state_->demands.push_back(demand);
    const size_t count = options_.emit_per_call > 0 ? options_.emit_per_call : demand;
    for (size_t n = 0; n < count && state_->next < options_.total; ++n) {
      const uint64_t i = state_->next++;
      const std::string key = absl::StrCat("key-", i % options_.keys);
      const std::string value = EventValue(i);
      out.batch().Append({.key = key, .value = value, .timestamp_us = static_cast<int64_t>(i)});
    }
    if (state_->next >= options_.total) out.Finish();
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<GeneratorState> state_;
  GeneratorOptions options_;
};

class Map final : public ProducerConsumer {
 public:
  Map(EventHook hook, const StageContext& context) : hook_(std::move(hook)), context_(context) {}

  absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
    for (const Event& event : batch) {
      if (hook_) {
        if (absl::Status status = hook_(event, context_); !status.ok()) {
          out.Fail(event, std::move(status));
          continue;
        }
      }
      out.Emit(event);
    }
    return absl::OkStatus();
  }

 private:
  EventHook hook_;
  const StageContext& context_;
};

class Sink final : public Consumer {
 public:
  Sink(std::shared_ptr<SinkLog> log, EventHook hook, const StageContext& context)
      : log_(std::move(log)), hook_(std::move(hook)), context_(context) {}

  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override {
    std::vector<const Event*> good;
    for (const Event& event : batch) {
      if (hook_) {
        if (absl::Status status = hook_(event, context_); !status.ok()) {
          acks.Fail(event, std::move(status));
          continue;
        }
      }
      good.push_back(&event);
    }
    MutexLock lock(&log_->mu);
    log_->batch_sizes.push_back(batch.size());
    for (const Event* event : good) {
      log_->values.emplace_back(event->value());
      log_->keys.emplace_back(event->key());
      log_->instances.push_back(context_.instance());
    }
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<SinkLog> log_;
  EventHook hook_;
  const StageContext& context_;
};

}  // namespace

ProducerFactory MakeGenerator(std::shared_ptr<GeneratorState> state, GeneratorOptions options) {
  return [state, options](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
    return std::make_unique<Generator>(state, options);
  };
}

ProducerConsumerFactory MakeMap(EventHook on_event) {
  return
      [on_event](const StageContext& context) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
        return std::make_unique<Map>(on_event, context);
      };
}

ConsumerFactory MakeSink(std::shared_ptr<SinkLog> log, EventHook on_event) {
  return [log, on_event](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<Sink>(log, on_event, context);
  };
}

}  // namespace sluice::testing
