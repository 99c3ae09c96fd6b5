// Held events (Output::Hold / Release): a stage may keep events past the call
// that received them; the runtime owns them, bounds them by max_demand, passes
// on what is left at the end of input, dead-letters them when the stage
// crashes and hands them to the fresh object when a sibling's crash restarts
// it. docs/decisions/0006-held-events.md.
#include <algorithm>
#include <atomic>
#include <deque>
#include <set>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/dead_letter_queue.h"
#include "pipeline/dispatcher.h"
#include "pipeline/mutex.h"
#include "pipeline/pipeline.h"
#include "tests/support/test_stages.h"

namespace sluice {
namespace {

using ::sluice::testing::EventNumber;
using ::sluice::testing::GeneratorState;
using ::sluice::testing::MakeGenerator;
using ::sluice::testing::MakeSink;
using ::sluice::testing::SinkLog;
using ::testing::HasSubstr;

// What a Holder saw, shared with the test.
struct HolderLog {
  std::atomic<int64_t> received{0};
  // The most events the instance held when the runtime handed it input.
  std::atomic<int64_t> most_held_at_input{0};
  std::atomic<int64_t> wakes{0};
};

// Holds every event. Once it holds `release_at`, it asks to be woken after
// `wake_delay` and releases everything then. `crash_at`: throws when handed
// the event with that number (-1: never).
class Holder final : public ProducerConsumer {
 public:
  Holder(std::shared_ptr<HolderLog> log, size_t release_at, absl::Duration wake_delay,
         int64_t crash_at)
      : log_(std::move(log)),
        release_at_(release_at),
        wake_delay_(wake_delay),
        crash_at_(crash_at) {}

  absl::Status Start(const StageContext& context) override {
    context_ = &context;
    return absl::OkStatus();
  }
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
    int64_t seen = log_->most_held_at_input.load();
    const auto held = static_cast<int64_t>(held_.size());
    while (held > seen && !log_->most_held_at_input.compare_exchange_weak(seen, held)) {
    }
    for (const Event& event : batch) {
      if (EventNumber(event.value()) == crash_at_) throw std::runtime_error("poison pill");
      held_.push_back(out.Hold(event));
    }
    log_->received += static_cast<int64_t>(batch.size());
    if (held_.size() >= release_at_ && !wake_asked_) {
      wake_asked_ = true;
      context_->WakeAfter(wake_delay_);
    }
    return absl::OkStatus();
  }
  absl::Status HandleWake(Output& out) override {
    ++log_->wakes;
    if (!wake_asked_) return absl::OkStatus();
    wake_asked_ = false;
    for (HeldId id : held_) out.Release(id);
    held_.clear();
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<HolderLog> log_;
  const size_t release_at_;
  const absl::Duration wake_delay_;
  const int64_t crash_at_;
  const StageContext* context_ = nullptr;
  std::deque<HeldId> held_;
  bool wake_asked_ = false;
};

ProducerConsumerFactory MakeHolder(std::shared_ptr<HolderLog> log, size_t release_at,
                                   absl::Duration wake_delay, int64_t crash_at = -1) {
  return [=](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<Holder>(log, release_at, wake_delay, crash_at);
  };
}

std::set<int64_t> Numbers(const std::vector<std::string>& values) {
  std::set<int64_t> numbers;
  for (const std::string& value : values) numbers.insert(EventNumber(value));
  return numbers;
}

TEST(HeldEventsTest, HeldEventsReleasedOnWakeArriveInOrderAndCommit) {
  auto state = std::make_shared<GeneratorState>();
  auto holder = std::make_shared<HolderLog>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "held", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 1000}));
  builder.AddProducerConsumer("hold", MakeHolder(holder, 50, absl::Milliseconds(1)),
                              {.subscribe = {"gen"}, .max_demand = 100});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"hold"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;

  // Released by HandleWake (timers) and, for the last partial group, by the
  // runtime after Flush(); all in the order they were held.
  std::vector<std::string> values = log->Values();
  ASSERT_EQ(values.size(), 1000u);
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(EventNumber(values[i]), int64_t(i));
  EXPECT_GE(holder->wakes.load(), 1);
  EXPECT_EQ(report.events_acknowledged(), 1000u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(1000));
}

TEST(HeldEventsTest, AStageHoldingMaxDemandTakesNoMoreInput) {
  // The holder asks to release only 20 ms after it holds 10; the generator
  // could fill it many times over meanwhile. max_demand 10: the runtime must
  // not hand it input while it holds 10.
  auto state = std::make_shared<GeneratorState>();
  auto holder = std::make_shared<HolderLog>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "bounded", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 200}));
  builder.AddProducerConsumer("hold", MakeHolder(holder, 10, absl::Milliseconds(20)),
                              {.subscribe = {"gen"}, .max_demand = 10, .min_demand = 5});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"hold"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;

  EXPECT_EQ(log->size(), 200u);
  EXPECT_LT(holder->most_held_at_input.load(), 10);
  EXPECT_GE(holder->wakes.load(), 200 / 10 - 1);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(200));
}

TEST(HeldEventsTest, ACrashDeadLettersTheHeldEventsAndLosesNone) {
  // Event 57 crashes the holder while it holds those before it (it releases
  // only at the end of input). The crashed call's batch and every held event
  // go to the dead-letter queue; the restarted stage takes the rest.
  auto state = std::make_shared<GeneratorState>();
  auto holder = std::make_shared<HolderLog>();
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  PipelineBuilder builder({.name = "crash", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 300}));
  // max_demand above the total: this holder releases nothing before the end.
  builder.AddProducerConsumer("hold", MakeHolder(holder, 1'000'000, absl::Hours(1), 57),
                              {.subscribe = {"gen"}, .max_demand = 1000});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"hold"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;

  std::vector<DeadLetter> dead = dlq->records();
  std::set<int64_t> dead_numbers;
  for (const DeadLetter& record : dead) {
    EXPECT_THAT(record.error, HasSubstr("crashed: INTERNAL: exception: poison pill"));
    dead_numbers.insert(EventNumber(record.value));
  }
  // Everything before 57 was held when it crashed: all of it is dead-lettered.
  for (int64_t i = 0; i < 57; ++i) EXPECT_TRUE(dead_numbers.contains(i)) << i;
  std::set<int64_t> delivered = Numbers(log->Values());
  EXPECT_EQ(delivered.size() + dead_numbers.size(), 300u);
  for (int64_t i = 0; i < 300; ++i) {
    EXPECT_NE(delivered.contains(i), dead_numbers.contains(i)) << "event " << i;
  }
  EXPECT_EQ(report.partitions[0].commit_point, Offset(300));
}

// Two instances that hold what they get and release all but the newest once
// they hold 50 (a stage must release on its own: held events count against
// max_demand).
// Instance 0 crashes once, from HandleWake(), as soon as instance 1 holds
// something: instance 1 is then restarted for its sibling's crash
// (one_for_all) while it holds events.
struct SiblingLog {
  std::atomic<int64_t> held_by_1{0};
  std::atomic<bool> crashed{false};
  Mutex mu;
  // The number of every event handed to HandleEvents(), in order.
  std::vector<int64_t> handed ABSL_GUARDED_BY(mu);
};

class SiblingHolder final : public ProducerConsumer {
 public:
  explicit SiblingHolder(std::shared_ptr<SiblingLog> log) : log_(std::move(log)) {}

  absl::Status Start(const StageContext& context) override {
    context_ = &context;
    if (context.instance() == 0 && !log_->crashed) context.WakeAfter(absl::Milliseconds(1));
    return absl::OkStatus();
  }
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
    MutexLock lock(&log_->mu);
    for (const Event& event : batch) {
      log_->handed.push_back(EventNumber(event.value()));
      held_.push_back(out.Hold(event));
    }
    if (context_->instance() == 1) log_->held_by_1 += static_cast<int64_t>(batch.size());
    if (held_.size() >= 50) {
      // All but the newest: once it has had input, an instance always
      // holds something.
      for (size_t i = 0; i + 1 < held_.size(); ++i) out.Release(held_[i]);
      held_.erase(held_.begin(), held_.end() - 1);
    }
    return absl::OkStatus();
  }
  absl::Status HandleWake(Output&) override {
    if (context_->instance() != 0 || log_->crashed) return absl::OkStatus();
    if (log_->held_by_1 == 0) {
      context_->WakeAfter(absl::Milliseconds(1));
      return absl::OkStatus();
    }
    log_->crashed = true;
    return absl::InternalError("crash on purpose");
  }

 private:
  std::shared_ptr<SiblingLog> log_;
  const StageContext* context_ = nullptr;
  std::vector<HeldId> held_;
};

TEST(HeldEventsTest, ARestartForASiblingsCrashHandsTheHeldEventsToTheFreshStage) {
  auto state = std::make_shared<GeneratorState>();
  auto sibling = std::make_shared<SiblingLog>();
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  PipelineBuilder builder({.name = "siblings", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = UINT64_MAX, .keys = 16}),
                      {.dispatch = DispatchMode::kPartition});
  builder.AddProducerConsumer(
      "hold",
      [sibling](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
        return std::make_unique<SiblingHolder>(sibling);
      },
      {.subscribe = {"gen"},
       .concurrency = 2,
       .max_demand = 100,
       .supervision = {.strategy = RestartStrategy::kOneForAll}});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"hold"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());

  // Instance 1's held events are handed to its fresh object: some number
  // of its keys comes to HandleEvents() twice. Then drain (the holders
  // release everything at the end of input).
  auto handed_twice_by_1 = [&] {
    MutexLock lock(&sibling->mu);
    std::multiset<int64_t> handed(sibling->handed.begin(), sibling->handed.end());
    for (int64_t n : handed) {
      if (handed.count(n) == 2) return true;
    }
    return false;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!handed_twice_by_1() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  (*pipeline)->Drain();
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;
  ASSERT_TRUE(sibling->crashed);
  EXPECT_TRUE(handed_twice_by_1());

  // Instance 0's held events are dead-lettered with its crash; instance 1's
  // reach the sink; every generated event ends one way, once.
  uint64_t generated = 0;
  {
    MutexLock lock(&state->mu);
    generated = state->next;
  }
  std::set<int64_t> dead_numbers;
  for (const DeadLetter& record : dlq->records()) {
    EXPECT_THAT(record.error, HasSubstr("crash on purpose"));
    EXPECT_EQ(StablePartition(record.key, 2), 0u) << record.key;
    dead_numbers.insert(EventNumber(record.value));
  }
  EXPECT_FALSE(dead_numbers.empty());
  std::vector<std::string> values = log->Values();
  std::set<int64_t> delivered = Numbers(values);
  EXPECT_EQ(values.size(), delivered.size()) << "no duplicates";
  EXPECT_EQ(delivered.size() + dead_numbers.size(), generated)
      << "delivered " << delivered.size() << " dead " << dead_numbers.size() << " acked "
      << report.events_acknowledged() << " dead-lettered " << report.events_dead_lettered();
  for (int64_t i = 0; i < static_cast<int64_t>(generated); ++i) {
    EXPECT_NE(delivered.contains(i), dead_numbers.contains(i)) << "event " << i;
  }
  EXPECT_EQ(report.partitions[0].commit_point, Offset(static_cast<int64_t>(generated)));
}

}  // namespace
}  // namespace sluice
