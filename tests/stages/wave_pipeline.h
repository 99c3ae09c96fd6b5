// File: tests/stages/wave_pipeline.h
//
// For the flow stages that hold events over time (batch, delay, rate_limit):
// runs `source -> stage -> sink` where the source emits its events in waves
// and, before each next wave, waits until the sink has every event emitted so
// far (or a deadline passes). A stage that releases events on its own (a
// timeout, a delay, a rate) lets every wave through while the input is still
// open; one that only released at the end of input would not, and
// `every_wave_delivered_before_the_next` says which happened.
//
// The sink records each event's arrival time, and the source each event's
// emission time (in the value: "event-<i>").
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

#include "pipeline/mutex.h"
#include "pipeline/pipeline.h"
#include "tests/support/test_stages.h"

namespace sluice::testing {

struct WaveRun {
  RunReport report;
  std::vector<std::string> values;  // in arrival order
  std::vector<absl::Time> emitted;  // by event number
  std::vector<absl::Time> arrived;  // by event number (InfinitePast: never)
  bool every_wave_delivered_before_the_next = true;
};

namespace wave_internal {

struct Shared {
  Mutex mu;
  std::vector<absl::Time> emitted ABSL_GUARDED_BY(mu);
  std::vector<absl::Time> arrived ABSL_GUARDED_BY(mu);
  std::vector<std::string> values ABSL_GUARDED_BY(mu);
  size_t arrived_count ABSL_GUARDED_BY(mu) = 0;
  bool late ABSL_GUARDED_BY(mu) = false;
};

class WaveSource final : public Producer {
 public:
  WaveSource(std::shared_ptr<Shared> shared, std::vector<size_t> waves)
      : shared_(std::move(shared)), waves_(std::move(waves)) {}

  absl::Status Start(const StageContext& context) override {
    context_ = &context;
    return absl::OkStatus();
  }
  absl::Status HandleDemand(size_t demand, ProducerOutput& out) override {
    MutexLock lock(&shared_->mu);
    if (wave_ > 0 && shared_->arrived_count < next_) {
      // Waiting for the sink to have the last wave.
      if (absl::Now() < deadline_) {
        context_->WakeAfter(absl::Milliseconds(1));
        return absl::OkStatus();
      }
      shared_->late = true;
    }
    if (wave_ == waves_.size()) {
      out.Finish();
      return absl::OkStatus();
    }
    if (demand < waves_[wave_]) return absl::OkStatus();  // a wave goes in one piece
    for (size_t i = 0; i < waves_[wave_]; ++i) {
      out.batch().Append({.key = absl::StrCat("key-", next_ % 4), .value = EventValue(next_)});
      shared_->emitted.push_back(absl::Now());
      shared_->arrived.push_back(absl::InfinitePast());
      ++next_;
    }
    ++wave_;
    deadline_ = absl::Now() + absl::Seconds(5);
    context_->WakeAfter(absl::Milliseconds(1));
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<Shared> shared_;
  const std::vector<size_t> waves_;
  const StageContext* context_ = nullptr;
  size_t wave_ = 0;
  size_t next_ = 0;
  absl::Time deadline_;
};

class ArrivalSink final : public Consumer {
 public:
  explicit ArrivalSink(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks&) override {
    MutexLock lock(&shared_->mu);
    for (const Event& event : batch) {
      const int64_t n = EventNumber(event.value());
      shared_->arrived[static_cast<size_t>(n)] = absl::Now();
      shared_->values.emplace_back(event.value());
      ++shared_->arrived_count;
    }
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace wave_internal

// source (waves) -> `stage` (options: max_demand etc.) -> sink.
inline WaveRun RunWaves(ProducerConsumerFactory stage, StageOptions stage_options,
                        std::vector<size_t> waves) {
  auto shared = std::make_shared<wave_internal::Shared>();
  PipelineBuilder builder({.name = "waves", .workers = 2});
  builder.AddProducer(
      "source", [shared, waves](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
        return std::make_unique<wave_internal::WaveSource>(shared, waves);
      });
  stage_options.subscribe = {"source"};
  builder.AddProducerConsumer("stage", std::move(stage), stage_options);
  builder.AddConsumer("sink",
                      [shared](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
                        return std::make_unique<wave_internal::ArrivalSink>(shared);
                      },
                      {.subscribe = {"stage"}});
  WaveRun run;
  auto pipeline = std::move(builder).Build();
  EXPECT_TRUE(pipeline.ok()) << pipeline.status();
  if (!pipeline.ok()) return run;
  EXPECT_TRUE((*pipeline)->Start().ok());
  run.report = (*pipeline)->Wait();
  MutexLock lock(&shared->mu);
  run.values = shared->values;
  run.emitted = shared->emitted;
  run.arrived = shared->arrived;
  run.every_wave_delivered_before_the_next = !shared->late;
  return run;
}

}  // namespace sluice::testing
