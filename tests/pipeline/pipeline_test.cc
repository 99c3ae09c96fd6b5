// End-to-end behaviour of the runtime: events flow, every event ends done,
// and the run reports what happened to each.
#include "pipeline/pipeline.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/dead_letter_queue.h"
#include "pipeline/dispatcher.h"
#include "tests/support/test_stages.h"

namespace sluice {
namespace {

using ::sluice::testing::EventNumber;
using ::sluice::testing::EventValue;
using ::sluice::testing::GeneratorOptions;
using ::sluice::testing::GeneratorState;
using ::sluice::testing::MakeGenerator;
using ::sluice::testing::MakeMap;
using ::sluice::testing::MakeSink;
using ::sluice::testing::SinkLog;
using ::testing::HasSubstr;

std::unique_ptr<Pipeline> BuildOrDie(PipelineBuilder builder) {
  auto pipeline = std::move(builder).Build();
  EXPECT_TRUE(pipeline.ok()) << pipeline.status();
  return std::move(pipeline).value();
}

TEST(PipelineTest, DeliversEveryEventOnceAndCommitsAll) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "basic", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 5000}));
  builder.AddProducerConsumer("map", MakeMap(), {.subscribe = {"gen"}, .concurrency = 3});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"map"}, .concurrency = 2});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();

  ASSERT_TRUE(report.status.ok()) << report.status;
  std::vector<std::string> values = log->Values();
  ASSERT_EQ(values.size(), 5000u);
  std::set<int64_t> numbers;
  for (const std::string& value : values) numbers.insert(EventNumber(value));
  EXPECT_EQ(numbers.size(), 5000u);
  EXPECT_EQ(*numbers.begin(), 0);
  EXPECT_EQ(*numbers.rbegin(), 4999);

  EXPECT_EQ(report.events_emitted(), 5000u);
  EXPECT_EQ(report.events_acknowledged(), 5000u);
  EXPECT_EQ(report.events_in_flight(), 0u);
  ASSERT_EQ(report.partitions.size(), 1u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(5000));
}

TEST(PipelineTest, ConsumerChunksNeverExceedMaxMinusMinDemand) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "chunks", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 1000}));
  builder.AddConsumer("sink", MakeSink(log),
                      {.subscribe = {"gen"}, .max_demand = 40, .min_demand = 30});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(log->size(), 1000u);
  MutexLock lock(&log->mu);
  EXPECT_LE(*std::max_element(log->batch_sizes.begin(), log->batch_sizes.end()), 10u);
}

TEST(PipelineTest, ProducerIsAskedForNoMoreThanSubscribersDemand) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "asks", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 500}));
  builder.AddConsumer("sink", MakeSink(log),
                      {.subscribe = {"gen"}, .max_demand = 40, .min_demand = 30});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  ASSERT_TRUE(pipeline->Wait().status.ok());
  MutexLock lock(&state->mu);
  ASSERT_FALSE(state->demands.empty());
  // One subscriber with max_demand 40: never more than 40 outstanding.
  EXPECT_EQ(state->demands.front(), 40u);
  for (size_t demand : state->demands) EXPECT_LE(demand, 40u);
}

TEST(PipelineTest, BufferKeepFirstDiscardsNewestAndCountsThem) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "keep-first", .workers = 1});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 100, .emit_per_call = 100}),
                      {.buffer_size = 20, .buffer_keep = BufferKeep::kFirst});
  builder.AddConsumer("sink", MakeSink(log),
                      {.subscribe = {"gen"}, .max_demand = 10, .min_demand = 5});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  // 100 emitted against a demand of 10: 10 go at once, 20 fit the buffer,
  // the 70 newest are discarded.
  std::vector<std::string> values = log->Values();
  ASSERT_EQ(values.size(), 30u);
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(values[i], EventValue(i));
  EXPECT_EQ(report.events_discarded(), 70u);
  EXPECT_EQ(report.events_emitted(), report.events_acknowledged() + report.events_discarded());
}

TEST(PipelineTest, BufferKeepLastDiscardsOldestAndCountsThem) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "keep-last", .workers = 1});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 100, .emit_per_call = 100}),
                      {.buffer_size = 20, .buffer_keep = BufferKeep::kLast});
  builder.AddConsumer("sink", MakeSink(log),
                      {.subscribe = {"gen"}, .max_demand = 10, .min_demand = 5});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  // 100 emitted against a demand of 10: 10 go at once, the 70 oldest of the
  // other 90 are discarded, the 20 newest wait in the buffer.
  std::vector<std::string> values = log->Values();
  ASSERT_EQ(values.size(), 30u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(values[i], EventValue(i));
  for (size_t i = 10; i < values.size(); ++i) EXPECT_EQ(values[i], EventValue(70 + i));
  EXPECT_EQ(report.events_discarded(), 70u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(100));
}

TEST(PipelineTest, PartitionDispatchKeepsPerKeyOrder) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "partition", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 20000, .keys = 13}),
                      {.dispatch = DispatchMode::kPartition});
  builder.AddConsumer("sink", MakeSink(log),
                      {.subscribe = {"gen"}, .concurrency = 4, .max_demand = 50});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  ASSERT_TRUE(pipeline->Wait().status.ok());
  MutexLock lock(&log->mu);
  ASSERT_EQ(log->values.size(), 20000u);
  std::map<std::string, int64_t> last_of_key;
  for (size_t i = 0; i < log->values.size(); ++i) {
    const std::string& key = log->keys[i];
    const int64_t number = EventNumber(log->values[i]);
    // Every key lands on the instance its stable hash names...
    EXPECT_EQ(log->instances[i], StablePartition(key, 4)) << key;
    // ...and arrives in the order it was produced.
    auto [it, inserted] = last_of_key.emplace(key, number);
    if (!inserted) {
      EXPECT_LT(it->second, number) << key;
      it->second = number;
    }
  }
}

TEST(PipelineTest, BroadcastDeliversToEveryGroupHonouringSelectorsAndCommitsWhenAllAreDone) {
  auto state = std::make_shared<GeneratorState>();
  auto all = std::make_shared<SinkLog>();
  auto even = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "broadcast", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 3000}),
                      {.dispatch = DispatchMode::kBroadcast});
  builder.AddConsumer("all", MakeSink(all), {.subscribe = {"gen"}, .concurrency = 2});
  builder.AddConsumer("even", MakeSink(even),
                      {.subscribe = {"gen"}, .selector = [](const Event& event) {
                         return EventNumber(event.value()) % 2 == 0;
                       }});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(all->size(), 3000u);
  std::vector<std::string> evens = even->Values();
  EXPECT_EQ(evens.size(), 1500u);
  for (const std::string& value : evens) EXPECT_EQ(EventNumber(value) % 2, 0);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(3000));
  EXPECT_EQ(report.events_in_flight(), 0u);
}

TEST(PipelineTest, ChainOfAThousandStagesKeepsEveryEvent) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "chain", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 2000}));
  std::string previous = "gen";
  for (int i = 0; i < 998; ++i) {
    std::string name = absl::StrCat("map-", i);
    builder.AddProducerConsumer(name, MakeMap(), {.subscribe = {previous}, .max_demand = 100});
    previous = name;
  }
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {previous}});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(log->size(), 2000u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(2000));
}

TEST(PipelineTest, TenThousandInstancesRunOnTwoWorkersAndKeepEveryEvent) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "wide", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 100000}));
  builder.AddProducerConsumer("map", MakeMap(),
                              {.subscribe = {"gen"}, .concurrency = 9998, .max_demand = 10});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"map"}, .max_demand = 10});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(log->size(), 100000u);
  EXPECT_EQ(report.events_acknowledged(), 100000u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(100000));
}

TEST(PipelineTest, UnsettledEventIsDeadLetteredNotLost) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  class Forgetful final : public ProducerConsumer {
   public:
    absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
      for (const Event& event : batch) {
        if (EventNumber(event.value()) != 7) out.Emit(event);
      }
      return absl::OkStatus();
    }
  };
  PipelineBuilder builder({.name = "forgetful", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 100}));
  builder.AddProducerConsumer(
      "forget",
      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
        return std::make_unique<Forgetful>();
      },
      {.subscribe = {"gen"}, .retry = {.max_attempts = 1}});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"forget"}});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(log->size(), 99u);
  std::vector<DeadLetter> dead = pipeline->dead_letters()->records();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, EventValue(7));
  EXPECT_THAT(dead[0].error, HasSubstr("neither emitted, dropped nor failed"));
  EXPECT_EQ(report.partitions[0].commit_point, Offset(100));
}

TEST(PipelineTest, DroppedEventsAreDoneAndCommittedButNotDelivered) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  class DropOdd final : public ProducerConsumer {
   public:
    absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
      for (const Event& event : batch) {
        if (EventNumber(event.value()) % 2 == 1) {
          out.Drop(event);
        } else {
          out.Emit(event);
        }
      }
      return absl::OkStatus();
    }
  };
  PipelineBuilder builder({.name = "filter", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 1001}));
  builder.AddProducerConsumer(
      "filter",
      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
        return std::make_unique<DropOdd>();
      },
      {.subscribe = {"gen"}, .max_demand = 64});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"filter"}});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  for (const std::string& value : log->Values()) EXPECT_EQ(EventNumber(value) % 2, 0);
  EXPECT_EQ(log->size(), 501u);
  EXPECT_EQ(report.events_dropped(), 500u);
  EXPECT_EQ(report.events_acknowledged(), 501u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(1001));
}

TEST(PipelineTest, DrainStopsAnEndlessSourceAndCommitsWhatWasDone) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "drain", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = UINT64_MAX}));
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"gen"}});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  while (log->size() < 10000) absl::SleepFor(absl::Milliseconds(1));
  pipeline->Drain(absl::Seconds(10));
  RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_TRUE(report.drained);
  EXPECT_EQ(report.events_in_flight(), 0u);
  EXPECT_EQ(report.events_emitted(), log->size());
  EXPECT_EQ(report.partitions[0].commit_point, Offset(static_cast<int64_t>(log->size())));
}

// A source that paces itself emits nothing, asks to be woken a little later
// (StageContext::WakeAfter), and emits when the timer fires. Nothing else
// would call it again: no new demand comes while it emits nothing.
class PacedSource final : public Producer {
 public:
  absl::Status Start(const StageContext& context) override {
    context_ = &context;
    return absl::OkStatus();
  }
  absl::Status HandleDemand(size_t demand, ProducerOutput& out) override {
    (void)demand;
    if (!due_) {
      due_ = true;
      context_->WakeAfter(absl::Milliseconds(1));
      return absl::OkStatus();
    }
    due_ = false;
    out.batch().Append({.value = EventValue(emitted_++)});
    if (emitted_ == kEvents) out.Finish();
    return absl::OkStatus();
  }
  static constexpr uint64_t kEvents = 5;

 private:
  const StageContext* context_ = nullptr;
  bool due_ = false;
  uint64_t emitted_ = 0;
};

TEST(PipelineTest, WakeAfterCallsASourceAgainWhenTheTimerFires) {
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "paced", .workers = 2});
  builder.AddProducer("paced",
                      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
                        return std::make_unique<PacedSource>();
                      });
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"paced"}});
  auto pipeline = BuildOrDie(std::move(builder));
  ASSERT_TRUE(pipeline->Start().ok());
  // A stalled source would block Wait() for ever: after 30s, drain it so that
  // the test fails on its counts instead of hanging.
  std::mutex mu;
  std::condition_variable finished;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!finished.wait_for(lock, std::chrono::seconds(30), [&] { return done; })) {
      pipeline->Drain(absl::ZeroDuration());
    }
  });
  RunReport report = pipeline->Wait();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  finished.notify_all();
  watchdog.join();
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_emitted(), PacedSource::kEvents);
  EXPECT_EQ(log->size(), PacedSource::kEvents);
}

TEST(PipelineBuilderTest, ReportsEveryTopologyErrorAtOnce) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "broken"});
  builder.AddProducer("gen", MakeGenerator(state, {}), {.subscribe = {"sink"}});
  builder.AddProducerConsumer("a", MakeMap(), {.subscribe = {"b"}});
  builder.AddProducerConsumer("b", MakeMap(), {.subscribe = {"a"}});
  builder.AddProducerConsumer("self", MakeMap(), {.subscribe = {"self", "nowhere"}});
  builder.AddConsumer("sink", MakeSink(log),
                      {.subscribe = {"gen"}, .max_demand = 10, .min_demand = 10});
  auto built = std::move(builder).Build();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(built.status().message());
  EXPECT_THAT(message, HasSubstr("stage \"gen\": is a producer and cannot subscribe"));
  EXPECT_THAT(message, HasSubstr("stage \"self\": subscribes to itself"));
  EXPECT_THAT(message, HasSubstr("subscribes to unknown stage \"nowhere\""));
  EXPECT_THAT(message, HasSubstr("max_demand (10) must exceed min_demand (10)"));
  EXPECT_THAT(message, HasSubstr("cycle through \"a\", \"b\""));
  EXPECT_THAT(message, HasSubstr("stage \"self\" has no subscribers"));
}

}  // namespace
}  // namespace sluice
