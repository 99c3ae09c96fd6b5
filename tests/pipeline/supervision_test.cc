// Supervision: which instances each strategy restarts, escalation past the
// restart intensity, and that a crash loses no event.
#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/dead_letter_queue.h"
#include "pipeline/dispatcher.h"
#include "pipeline/pipeline.h"
#include "tests/support/test_stages.h"

namespace sluice {
namespace {

using ::sluice::testing::EventNumber;
using ::sluice::testing::GeneratorState;
using ::sluice::testing::MakeGenerator;
using ::sluice::testing::MakeMap;
using ::sluice::testing::MakeSink;
using ::sluice::testing::SinkLog;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A key whose stable partition among 3 is `instance`.
std::string KeyFor(uint32_t instance) {
  for (int i = 0;; ++i) {
    std::string key = absl::StrCat("key-", i);
    if (StablePartition(key, 3) == instance) return key;
  }
}

// Throws once for the event numbered `poison`.
testing::EventHook CrashOnceAt(int64_t poison, std::shared_ptr<std::atomic<int>> crashes) {
  return [poison, crashes](const Event& event, const StageContext&) -> absl::Status {
    if (EventNumber(event.value()) == poison && crashes->fetch_add(1) == 0) {
      throw std::runtime_error("poison pill");
    }
    return absl::OkStatus();
  };
}

std::vector<uint64_t> RestartsOf(const std::vector<StageReport>& stages, const std::string& name) {
  std::vector<uint64_t> restarts;
  for (const StageReport& stage : stages) {
    if (stage.name != name) continue;
    for (const StageMetricsSnapshot& instance : stage.instances)
      restarts.push_back(instance.restarts);
  }
  return restarts;
}

// gen (partitioned by key) -> work (3 instances) -> sink. Event 50 crashes the
// instance its key hashes to, once.
RunReport RunWithInstanceStrategy(RestartStrategy strategy, uint32_t crashing_instance,
                                  std::shared_ptr<SinkLog> log,
                                  std::shared_ptr<InMemoryDeadLetterQueue> dlq) {
  auto state = std::make_shared<GeneratorState>();
  auto crashes = std::make_shared<std::atomic<int>>(0);
  const std::string poison_key = KeyFor(crashing_instance);
  class KeyedGenerator final : public Producer {
   public:
    KeyedGenerator(std::shared_ptr<GeneratorState> state, std::string poison_key)
        : state_(std::move(state)), poison_key_(std::move(poison_key)) {}
    absl::Status HandleDemand(size_t demand, ProducerOutput& out) override {
      MutexLock lock(&state_->mu);
      for (size_t n = 0; n < demand && state_->next < 300; ++n) {
        const uint64_t i = state_->next++;
        const std::string key = i == 50 ? poison_key_ : absl::StrCat("key-", i % 7);
        const std::string value = testing::EventValue(i);
        out.batch().Append({.key = key, .value = value});
      }
      if (state_->next >= 300) out.Finish();
      return absl::OkStatus();
    }

   private:
    std::shared_ptr<GeneratorState> state_;
    std::string poison_key_;
  };
  PipelineBuilder builder({.name = "strategies", .dead_letter = dlq, .workers = 2});
  builder.AddProducer(
      "gen",
      [state, poison_key](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
        return std::make_unique<KeyedGenerator>(state, poison_key);
      },
      {.dispatch = DispatchMode::kPartition});
  builder.AddProducerConsumer(
      "work", MakeMap(CrashOnceAt(50, crashes)),
      {.subscribe = {"gen"}, .concurrency = 3, .supervision = {.strategy = strategy}});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"work"}});
  auto pipeline = std::move(builder).Build();
  EXPECT_TRUE(pipeline.ok()) << pipeline.status();
  EXPECT_TRUE((*pipeline)->Start().ok());
  return (*pipeline)->Wait();
}

TEST(SupervisionTest, OneForOneRestartsOnlyTheCrashedInstance) {
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  RunReport report = RunWithInstanceStrategy(RestartStrategy::kOneForOne, 1, log, dlq);
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_THAT(RestartsOf(report.stages, "work"), ElementsAre(0, 1, 0));
  EXPECT_THAT(RestartsOf(report.stages, "gen"), ElementsAre(0));
  EXPECT_THAT(RestartsOf(report.stages, "sink"), ElementsAre(0));
}

TEST(SupervisionTest, OneForAllRestartsEveryInstance) {
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  RunReport report = RunWithInstanceStrategy(RestartStrategy::kOneForAll, 1, log, dlq);
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_THAT(RestartsOf(report.stages, "work"), ElementsAre(1, 1, 1));
}

TEST(SupervisionTest, RestForOneRestartsTheCrashedInstanceAndThoseAfterIt) {
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  RunReport report = RunWithInstanceStrategy(RestartStrategy::kRestForOne, 1, log, dlq);
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_THAT(RestartsOf(report.stages, "work"), ElementsAre(0, 1, 1));
}

TEST(SupervisionTest, ACrashLosesNoEvent) {
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  RunReport report = RunWithInstanceStrategy(RestartStrategy::kOneForOne, 2, log, dlq);
  ASSERT_TRUE(report.status.ok()) << report.status;
  // The crashed call's events are dead-lettered as "crashed: ..."; all the
  // others reach the sink. Together: every event exactly once.
  std::multiset<int64_t> seen;
  for (const std::string& value : log->Values()) seen.insert(EventNumber(value));
  std::vector<DeadLetter> dead = dlq->records();
  ASSERT_FALSE(dead.empty());
  for (const DeadLetter& record : dead) {
    EXPECT_THAT(record.error, HasSubstr("crashed: INTERNAL: exception: poison pill"));
    EXPECT_EQ(record.stage, "work");
    seen.insert(EventNumber(record.value));
  }
  ASSERT_EQ(seen.size(), 300u);
  for (int64_t i = 0; i < 300; ++i) EXPECT_EQ(seen.count(i), 1u) << i;
  EXPECT_EQ(report.events_acknowledged() + report.events_dead_lettered(), 300u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(300));
}

// gen -> a -> b -> sink, where `a` escalates at once (max_restarts 0) so the
// pipeline's own strategy decides which stages restart.
std::vector<StageReport> RunWithStageStrategy(RestartStrategy strategy) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  auto crashes = std::make_shared<std::atomic<int>>(0);
  PipelineBuilder builder({.name = "stages", .supervision = {.strategy = strategy}, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 200}));
  builder.AddProducerConsumer(
      "a", MakeMap(CrashOnceAt(20, crashes)),
      {.subscribe = {"gen"}, .concurrency = 2, .supervision = {.max_restarts = 0}});
  builder.AddProducerConsumer("b", MakeMap(), {.subscribe = {"a"}});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"b"}});
  auto pipeline = std::move(builder).Build();
  EXPECT_TRUE(pipeline.ok());
  EXPECT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  EXPECT_TRUE(report.status.ok()) << report.status;
  return report.stages;
}

TEST(SupervisionTest, EscalatedStageIsRestartedWholeByThePipelineOneForOne) {
  std::vector<StageReport> stages = RunWithStageStrategy(RestartStrategy::kOneForOne);
  EXPECT_THAT(RestartsOf(stages, "gen"), ElementsAre(0));
  EXPECT_THAT(RestartsOf(stages, "a"), ElementsAre(1, 1));
  EXPECT_THAT(RestartsOf(stages, "b"), ElementsAre(0));
  EXPECT_THAT(RestartsOf(stages, "sink"), ElementsAre(0));
}

TEST(SupervisionTest, PipelineRestForOneRestartsTheStageAndEveryStageAfterIt) {
  std::vector<StageReport> stages = RunWithStageStrategy(RestartStrategy::kRestForOne);
  EXPECT_THAT(RestartsOf(stages, "gen"), ElementsAre(0));
  EXPECT_THAT(RestartsOf(stages, "a"), ElementsAre(1, 1));
  EXPECT_THAT(RestartsOf(stages, "b"), ElementsAre(1));
  EXPECT_THAT(RestartsOf(stages, "sink"), ElementsAre(1));
}

TEST(SupervisionTest, PipelineOneForAllRestartsEveryStage) {
  std::vector<StageReport> stages = RunWithStageStrategy(RestartStrategy::kOneForAll);
  EXPECT_THAT(RestartsOf(stages, "gen"), ElementsAre(1));
  EXPECT_THAT(RestartsOf(stages, "a"), ElementsAre(1, 1));
  EXPECT_THAT(RestartsOf(stages, "b"), ElementsAre(1));
  EXPECT_THAT(RestartsOf(stages, "sink"), ElementsAre(1));
}

TEST(SupervisionTest, IntensityEscalatesToThePipelineWhichStopsWithAClearError) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  testing::EventHook always_crash = [](const Event&, const StageContext&) -> absl::Status {
    throw std::runtime_error("broken lookup table");
  };
  PipelineBuilder builder({.name = "doomed",
                           .supervision = {.max_restarts = 1, .max_seconds = absl::Seconds(60)},
                           .dead_letter = dlq,
                           .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = UINT64_MAX}));
  builder.AddProducerConsumer(
      "bad", MakeMap(always_crash),
      {.subscribe = {"gen"},
       .max_demand = 10,
       .supervision = {.max_restarts = 2, .max_seconds = absl::Seconds(60)}});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"bad"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  EXPECT_EQ(report.status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(report.status.message(), HasSubstr("pipeline \"doomed\" stopped"));
  EXPECT_THAT(report.status.message(), HasSubstr("broken lookup table"));
  // Stage supervisor: 2 restarts, the third crash escalates; the pipeline
  // restarts the stage (its one allowed restart) with a fresh stage
  // supervisor: 2 more restarts, the next escalation makes it give up.
  EXPECT_EQ(RestartsOf(report.stages, "bad")[0], 2u + 1u + 2u);
  EXPECT_EQ(log->size(), 0u);
  // Nothing was acknowledged, so nothing past what was dead-lettered commits.
  ASSERT_EQ(report.partitions.size(), 1u);
  ASSERT_TRUE(report.partitions[0].commit_point.has_value());
  EXPECT_LE(report.partitions[0].commit_point->value(), static_cast<int64_t>(dlq->size()));
}

// A source whose first object's own thread fails (StageContext::Fail) while
// it has nothing to emit; the fresh object after the restart emits 10 events.
class FailingFromItsThreadSource final : public Producer {
 public:
  explicit FailingFromItsThreadSource(std::shared_ptr<std::atomic<int>> made)
      : first_(made->fetch_add(1) == 0) {}
  ~FailingFromItsThreadSource() override {
    if (thread_.joinable()) thread_.join();
  }
  absl::Status Start(const StageContext& context) override {
    if (first_) {
      thread_ = std::thread([&context] { context.Fail(absl::UnavailableError("fenced off")); });
    }
    return absl::OkStatus();
  }
  void Stop() override {
    if (thread_.joinable()) thread_.join();
  }
  absl::Status HandleDemand(size_t, ProducerOutput& out) override {
    if (first_) return absl::OkStatus();  // nothing to emit: no demand is used
    for (int i = 0; i < 10; ++i) out.batch().Append({.value = testing::EventValue(i)});
    out.Finish();
    return absl::OkStatus();
  }

 private:
  const bool first_;
  std::thread thread_;
};

TEST(SupervisionTest, AFailureReportedFromASourcesOwnThreadCrashesItAndItRestarts) {
  auto made = std::make_shared<std::atomic<int>>(0);
  auto log = std::make_shared<SinkLog>();
  PipelineBuilder builder({.name = "fenced", .workers = 2});
  builder.AddProducer("source",
                      [made](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
                        return std::make_unique<FailingFromItsThreadSource>(made);
                      });
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"source"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(made->load(), 2);
  EXPECT_THAT(RestartsOf(report.stages, "source"), ElementsAre(1));
  EXPECT_THAT(report.stages[0].instances[0].last_crash,
              HasSubstr("crashed: UNAVAILABLE: fenced off"));
  EXPECT_EQ(log->size(), 10u);
}

}  // namespace
}  // namespace sluice
