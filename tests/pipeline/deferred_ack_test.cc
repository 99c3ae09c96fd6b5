// A sink that writes in batches acknowledges on flush: its events stay in
// flight (uncommitted) until then, and acknowledgements it abandons fail the
// events into the dead-letter queue instead of losing them.
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/dead_letter_queue.h"
#include "pipeline/pipeline.h"
#include "tests/support/test_stages.h"

namespace sluice {
namespace {

using ::sluice::testing::GeneratorState;
using ::sluice::testing::MakeGenerator;
using ::testing::HasSubstr;

// Holds acknowledgements until `flush_every` events are held, and on Flush().
class BatchingSink final : public Consumer {
 public:
  explicit BatchingSink(size_t flush_every) : flush_every_(flush_every) {}

  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override {
    held_ += batch.size();
    pending_.push_back(acks.Defer());
    if (flush_every_ > 0 && held_ >= flush_every_) return Flush();
    return absl::OkStatus();
  }

  absl::Status Flush() override {
    for (PendingAcks& pending : pending_) pending.Ack();
    pending_.clear();
    held_ = 0;
    return absl::OkStatus();
  }

 private:
  const size_t flush_every_;
  size_t held_ = 0;
  std::vector<PendingAcks> pending_;
};

ConsumerFactory BatchingSinkFactory(size_t flush_every) {
  return [flush_every](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<BatchingSink>(flush_every);
  };
}

TEST(DeferredAckTest, BatchingSinkAcknowledgesOnFlush) {
  auto state = std::make_shared<GeneratorState>();
  PipelineBuilder builder({.name = "batching", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 1050}));
  builder.AddConsumer("sink", BatchingSinkFactory(100), {.subscribe = {"gen"}, .max_demand = 40});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(report.events_acknowledged(), 1050u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(1050));
}

TEST(DeferredAckTest, HeldAcknowledgementsAreNotCommittedAndBoundInput) {
  auto state = std::make_shared<GeneratorState>();
  PipelineBuilder builder({.name = "holding", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = UINT64_MAX}));
  // Never flushes by count: it holds everything until buffer_size stops it.
  builder.AddConsumer("sink", BatchingSinkFactory(0),
                      {.subscribe = {"gen"}, .max_demand = 40, .buffer_size = 500});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  // Wait until it has run into its bound: 500 held, and more received behind
  // them that it may not take. Then drain with a deadline it cannot meet (the
  // sink only completes on Flush(), which needs its inbox empty).
  std::vector<StageReport> running;
  for (;;) {
    running = (*pipeline)->Snapshot();
    if (running[1].totals.events_in > 500u) break;
    absl::SleepFor(absl::Milliseconds(1));
  }
  (*pipeline)->Drain(absl::Milliseconds(100));
  RunReport report = (*pipeline)->Wait();
  // Held input is bounded: at most buffer_size held plus the demand in flight.
  EXPECT_LE(running[1].totals.events_in, 500u + 40u);
  EXPECT_LE(report.events_emitted(), 500u + 40u);
  // The sink never flushed, so nothing was acknowledged or committed: every
  // emitted event is left in flight for redelivery.
  EXPECT_FALSE(report.drained);
  EXPECT_EQ(report.events_acknowledged(), 0u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(0));
  EXPECT_EQ(report.partitions[0].in_flight, report.events_emitted());
}

// Acknowledges nothing of the batch holding event 7: it drops that PendingAcks.
class AbandoningSink final : public Consumer {
 public:
  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override {
    PendingAcks pending = acks.Defer();
    for (const Event& event : batch) {
      if (testing::EventNumber(event.value()) == 7) return absl::OkStatus();  // `pending` dies here
    }
    pending.Ack();
    return absl::OkStatus();
  }
};

TEST(DeferredAckTest, AbandonedAcknowledgementsAreDeadLetteredNotLost) {
  auto state = std::make_shared<GeneratorState>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  PipelineBuilder builder({.name = "abandon", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 100}));
  builder.AddConsumer(
      "sink",
      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
        return std::make_unique<AbandoningSink>();
      },
      {.subscribe = {"gen"}, .max_demand = 20, .min_demand = 10, .retry = {.max_attempts = 1}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok());
  std::vector<DeadLetter> dead = dlq->records();
  ASSERT_EQ(dead.size(), 10u);  // the chunk of 10 that held event 7
  for (const DeadLetter& record : dead) EXPECT_THAT(record.error, HasSubstr("abandoned"));
  EXPECT_EQ(report.events_acknowledged(), 90u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(100));
}

// Defers every call and completes it from a thread of its own, failing
// alone the events whose number ends in 3 (a write that failed for them only).
class PartlyFailingSink final : public Consumer {
 public:
  ~PartlyFailingSink() override { Stop(); }
  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override {
    std::vector<std::pair<size_t, absl::Status>> failed;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (testing::EventNumber(batch[i].value()) % 10 == 3) {
        failed.emplace_back(i, absl::UnavailableError(absl::StrCat("write failed at ", i)));
      }
    }
    Stop();  // one completion thread at a time
    completer_ = std::thread([pending = acks.Defer(), failed = std::move(failed)]() mutable {
      pending.Complete(std::move(failed));
    });
    return absl::OkStatus();
  }
  void Stop() override {
    if (completer_.joinable()) completer_.join();
  }

 private:
  std::thread completer_;
};

TEST(DeferredAckTest, CompletingWithSomeFailuresFailsOnlyThoseEvents) {
  auto state = std::make_shared<GeneratorState>();
  auto dlq = std::make_shared<InMemoryDeadLetterQueue>();
  PipelineBuilder builder({.name = "partly", .dead_letter = dlq, .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 500}));
  builder.AddConsumer("sink",
                      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
                        return std::make_unique<PartlyFailingSink>();
                      },
                      {.subscribe = {"gen"}, .max_demand = 40});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_acknowledged(), 450u);
  std::vector<DeadLetter> dead = dlq->records();
  ASSERT_EQ(dead.size(), 50u);
  for (const DeadLetter& record : dead) {
    EXPECT_EQ(testing::EventNumber(record.value) % 10, 3) << record.value;
    EXPECT_THAT(record.error, HasSubstr("UNAVAILABLE: write failed at "));
  }
  EXPECT_EQ(report.partitions[0].commit_point, Offset(500));
}

}  // namespace
}  // namespace sluice
