// Per-event failures: retries back off without blocking other events, then
// end in the dead-letter queue with the real error; a dead-letter backend that
// is down keeps events in flight instead of losing them.
#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/dead_letter_queue.h"
#include "pipeline/pipeline.h"
#include "tests/support/test_stages.h"

namespace sluice {
namespace {

using ::sluice::testing::EventNumber;
using ::sluice::testing::EventValue;
using ::sluice::testing::GeneratorState;
using ::sluice::testing::MakeGenerator;
using ::sluice::testing::MakeMap;
using ::sluice::testing::MakeSink;
using ::sluice::testing::SinkLog;
using ::testing::HasSubstr;

TEST(RetryTest, RetriesBackOffThenDeadLetterWithoutBlockingOtherEvents) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  // Event 5 always fails with a retryable error; record when each attempt ran.
  auto attempts_seen = std::make_shared<std::vector<absl::Time>>();
  auto attempts_mu = std::make_shared<Mutex>();
  testing::EventHook flaky = [=](const Event& event, const StageContext&) -> absl::Status {
    if (EventNumber(event.value()) != 5) return absl::OkStatus();
    MutexLock lock(attempts_mu.get());
    attempts_seen->push_back(absl::Now());
    return absl::UnavailableError("enrichment service unreachable");
  };
  PipelineBuilder builder({.name = "retries", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 200}));
  builder.AddProducerConsumer(
      "enrich", MakeMap(flaky),
      {.subscribe = {"gen"},
       .max_demand = 10,
       .retry = {.max_attempts = 4, .initial_backoff = absl::Milliseconds(40), .jitter = 0}});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"enrich"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;

  // Every other event went through, all of them before the retries ended:
  // the failing event did not hold its stage up.
  EXPECT_EQ(log->size(), 199u);
  std::vector<DeadLetter> dead = dlq->records();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, EventValue(5));
  EXPECT_EQ(dead[0].attempts, 4u);
  EXPECT_EQ(dead[0].stage, "enrich");
  EXPECT_EQ(dead[0].pipeline, "retries");
  EXPECT_EQ(dead[0].source, "gen");
  EXPECT_EQ(dead[0].origin.offset, Offset(5));
  EXPECT_THAT(dead[0].error, HasSubstr("UNAVAILABLE: enrichment service unreachable"));

  // Backoff doubles: 40ms, 80ms, 160ms between the four attempts.
  MutexLock lock(attempts_mu.get());
  ASSERT_EQ(attempts_seen->size(), 4u);
  EXPECT_GE((*attempts_seen)[1] - (*attempts_seen)[0], absl::Milliseconds(40));
  EXPECT_GE((*attempts_seen)[2] - (*attempts_seen)[1], absl::Milliseconds(80));
  EXPECT_GE((*attempts_seen)[3] - (*attempts_seen)[2], absl::Milliseconds(160));

  const StageReport& enrich = report.stages[1];
  EXPECT_EQ(enrich.totals.events_failed, 4u);
  EXPECT_EQ(enrich.totals.events_retried, 3u);
  EXPECT_EQ(enrich.totals.events_dead_lettered, 1u);
  EXPECT_EQ(report.events_acknowledged() + report.events_dead_lettered(), 200u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(200));
}

TEST(RetryTest, NonRetryableErrorGoesStraightToTheDeadLetterQueue) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  testing::EventHook reject_odd = [](const Event& event, const StageContext&) -> absl::Status {
    if (EventNumber(event.value()) % 2 == 1)
      return absl::InvalidArgumentError("field \"amount\": not a number");
    return absl::OkStatus();
  };
  PipelineBuilder builder({.name = "invalid", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 100}));
  builder.AddConsumer("sink", MakeSink(log, reject_odd),
                      {.subscribe = {"gen"}, .retry = {.max_attempts = 5}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(log->size(), 50u);
  std::vector<DeadLetter> dead = dlq->records();
  ASSERT_EQ(dead.size(), 50u);
  for (const DeadLetter& record : dead) {
    EXPECT_EQ(record.attempts, 1u);
    EXPECT_EQ(record.code, absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(record.error, "INVALID_ARGUMENT: field \"amount\": not a number");
  }
  EXPECT_EQ(report.stages[1].totals.events_retried, 0u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(100));
}

TEST(DeadLetterTest, BackendDownKeepsEventsInFlightUntilItComesBack) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  dlq->set_failure(absl::UnavailableError("disk full"));
  testing::EventHook reject_first_ten = [](const Event& event,
                                           const StageContext&) -> absl::Status {
    if (EventNumber(event.value()) < 10) return absl::InvalidArgumentError("bad");
    return absl::OkStatus();
  };
  PipelineBuilder builder({.name = "dlq-down", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 100}));
  builder.AddConsumer("sink", MakeSink(log, reject_first_ten), {.subscribe = {"gen"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  // While the backend fails, the ten failed events are neither done nor lost.
  while (dlq->failed_writes() < 2) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(dlq->size(), 0u);
  dlq->set_failure(absl::OkStatus());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(dlq->size(), 10u);
  EXPECT_EQ(log->size(), 90u);
  EXPECT_EQ(report.events_dead_lettered(), 10u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(100));
}

TEST(DeadLetterTest, BackendDownStopsTheStageTakingInputSoTheSourcePauses) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  dlq->set_failure(absl::UnavailableError("dead-letter topic unreachable"));
  testing::EventHook reject_all = [](const Event&, const StageContext&) -> absl::Status {
    return absl::InvalidArgumentError("bad");
  };
  PipelineBuilder builder({.name = "dlq-backpressure", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = UINT64_MAX}));
  builder.AddConsumer("sink", MakeSink(log, reject_all),
                      {.subscribe = {"gen"}, .max_demand = 10, .min_demand = 5});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  // Three failed writes take ~0.35 s of backoff: time enough for an endless
  // source to emit millions, if nothing held it back.
  while (dlq->failed_writes() < 3) absl::SleepFor(absl::Milliseconds(5));
  const std::vector<StageReport> running = (*pipeline)->Snapshot();
  // At most max_demand held in the dead-letter path, plus what was asked for.
  EXPECT_LE(running[0].totals.events_in, 30u);
  dlq->set_failure(absl::OkStatus());
  (*pipeline)->Drain(absl::Seconds(30));
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_TRUE(report.drained);
  EXPECT_EQ(report.events_dead_lettered(), report.events_emitted());
  EXPECT_EQ(dlq->size(), report.events_emitted());
  EXPECT_EQ(report.partitions[0].commit_point,
            Offset(static_cast<int64_t>(report.events_emitted())));
}

TEST(DeadLetterTest, DrainWhileBackendIsDownLeavesTheFailedEventsUncommitted) {
  auto state = std::make_shared<GeneratorState>();
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  dlq->set_failure(absl::UnavailableError("broker down"));
  testing::EventHook reject_3 = [](const Event& event, const StageContext&) -> absl::Status {
    if (EventNumber(event.value()) == 3) return absl::InvalidArgumentError("bad");
    return absl::OkStatus();
  };
  PipelineBuilder builder({.name = "dlq-stuck", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 50}));
  builder.AddConsumer("sink", MakeSink(log, reject_3), {.subscribe = {"gen"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  while (log->size() < 49) absl::SleepFor(absl::Milliseconds(1));
  (*pipeline)->Drain(absl::Milliseconds(200));
  RunReport report = (*pipeline)->Wait();
  EXPECT_FALSE(report.drained);
  // Offsets 0-2 are done; 3 is not, so nothing from 3 on is committed.
  EXPECT_EQ(report.partitions[0].commit_point, Offset(3));
  EXPECT_EQ(report.partitions[0].in_flight, 1u);
  EXPECT_EQ(dlq->size(), 0u);
}

// Names its one partition as a Kafka source does; emits 10 events.
class NamingSource final : public Producer {
 public:
  absl::Status Start(const StageContext& context) override {
    context.NamePartition(Partition(0), {.topic = "orders", .partition = 3});
    return absl::OkStatus();
  }
  absl::Status HandleDemand(size_t, ProducerOutput& out) override {
    for (int i = 0; i < 10; ++i) out.batch().Append({.value = EventValue(i)});
    out.Finish();
    return absl::OkStatus();
  }
};

TEST(DeadLetterTest, ADeadLetterCarriesTheNameItsSourceGaveThePartition) {
  auto log = std::make_shared<SinkLog>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  testing::EventHook reject_6 = [](const Event& event, const StageContext&) -> absl::Status {
    if (EventNumber(event.value()) == 6) return absl::InvalidArgumentError("no");
    return absl::OkStatus();
  };
  PipelineBuilder builder({.name = "named", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("in", [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
    return std::make_unique<NamingSource>();
  });
  builder.AddProducerConsumer("check", MakeMap(reject_6), {.subscribe = {"in"}});
  builder.AddConsumer("sink", MakeSink(log), {.subscribe = {"check"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;
  std::vector<DeadLetter> dead = dlq->records();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].source, "in");
  EXPECT_EQ(dead[0].source_topic, "orders");
  EXPECT_EQ(dead[0].source_partition, 3);
  EXPECT_EQ(dead[0].origin.offset, Offset(6));
}

}  // namespace
}  // namespace sluice
