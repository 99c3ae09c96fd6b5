// Per-instance metrics tell a slow stage from the stages it holds up.
#include "pipeline/stage_metrics.h"

#include <chrono>

#include "gtest/gtest.h"

#include "pipeline/pipeline.h"
#include "tests/support/test_stages.h"

namespace sluice {
namespace {

using ::sluice::testing::GeneratorState;
using ::sluice::testing::MakeGenerator;
using ::sluice::testing::MakeMap;

// Spins (never sleeps: callbacks must not block) for `per_batch` per batch.
class SlowSink final : public Consumer {
 public:
  explicit SlowSink(std::chrono::microseconds per_batch) : per_batch_(per_batch) {}
  absl::Status HandleEvents(const EventBatch&, ConsumerAcks&) override {
    const auto until = std::chrono::steady_clock::now() + per_batch_;
    while (std::chrono::steady_clock::now() < until) {
    }
    return absl::OkStatus();
  }

 private:
  std::chrono::microseconds per_batch_;
};

TEST(StageMetricsTest, SlowSinkIsBusyAndTheSourceIsBackpressured) {
  auto state = std::make_shared<GeneratorState>();
  PipelineBuilder builder({.name = "slow", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 4000}));
  builder.AddProducerConsumer("map", MakeMap(),
                              {.subscribe = {"gen"}, .max_demand = 100, .buffer_size = 100});
  builder.AddConsumer("sink",
                      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
                        return std::make_unique<SlowSink>(std::chrono::microseconds(2000));
                      },
                      {.subscribe = {"map"}, .max_demand = 100});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok());

  const StageMetricsSnapshot& map = report.stages[1].totals;
  const StageMetricsSnapshot& sink = report.stages[2].totals;
  // 4000 events in chunks of at most 50: at least 80 calls of 2ms.
  EXPECT_GE(sink.busy_ns, 80u * 2'000'000u);
  // The source waits for demand most of the run; the map in between mostly
  // waits for input, which is idle, not backpressure.
  const StageMetricsSnapshot& gen = report.stages[0].totals;
  EXPECT_GT(gen.backpressured_ns, gen.busy_ns);
  EXPECT_GT(gen.backpressured_ns, 50'000'000u);
  EXPECT_GT(sink.busy_ns, 10 * map.busy_ns);
  // Counts add up: everything in came out, and was acknowledged at the sink.
  EXPECT_EQ(map.events_in, 4000u);
  EXPECT_EQ(map.events_out, 4000u);
  EXPECT_EQ(sink.events_in, 4000u);
  EXPECT_EQ(sink.events_acknowledged, 4000u);
  EXPECT_EQ(sink.mailbox_depth, 0);
}

}  // namespace
}  // namespace sluice
