// `type: rate_limit`: passes at most `count` per `interval` after a burst,
// holds the excess (never drops it), keeps the order, releases on its own
// while the input is open; and its config errors.
#include "stages/flow/rate_limit_stage.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/stages/wave_pipeline.h"
#include "tests/support/stage_harness.h"

namespace sluice::stages {
namespace {

using ::sluice::testing::CheckStage;
using ::sluice::testing::EventNumber;
using ::sluice::testing::ExpectEveryEventKeptOrDropped;
using ::sluice::testing::RunStage;
using ::sluice::testing::RunWaves;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TestEvent;
using ::sluice::testing::WaveRun;
using ::testing::HasSubstr;

TEST(RateLimitStageTest, PassesABurstThenHoldsTheRestToTheRate) {
  // 10 per 100 ms, burst 10, 50 events at once: 10 go at once, then one
  // every 10 ms, so the 50th leaves at least 400 ms after the first came.
  WaveRun run = RunWaves(
      RateLimitStage::Factory({.count = 10, .interval = absl::Milliseconds(100), .burst = 10}), {},
      {50});
  ASSERT_TRUE(run.report.status.ok()) << run.report.status;
  // The source waits for all 50 before it ends: the stage let them through
  // on its own, not at the end of input.
  EXPECT_TRUE(run.every_wave_delivered_before_the_next);
  ASSERT_EQ(run.values.size(), 50u);
  for (size_t i = 0; i < run.values.size(); ++i) {
    EXPECT_EQ(EventNumber(run.values[i]), static_cast<int64_t>(i));
  }
  EXPECT_GE(run.arrived[49] - run.emitted[0], absl::Milliseconds(390));
  EXPECT_EQ(run.report.events_dropped(), 0u);
  EXPECT_EQ(run.report.partitions[0].commit_point, Offset(50));
}

TEST(RateLimitStageTest, TheExcessIsHeldNotDroppedAndLeavesAtTheEndOfInput) {
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 20; ++i) inputs.push_back({.value = absl::StrCat("v", i)});
  StageRunResult result = RunStage("type: rate_limit\ncount: 5\ninterval: 1h\n", inputs);
  ExpectEveryEventKeptOrDropped(result, 20);
  EXPECT_EQ(result.report.events_dropped(), 0u);
  ASSERT_EQ(result.values().size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(result.values()[i], absl::StrCat("v", i));
}

TEST(RateLimitStageTest, ConfigErrorsNameTheOption) {
  EXPECT_THAT(CheckStage("type: rate_limit\n").message(), HasSubstr("count: is required"));
  EXPECT_THAT(CheckStage("type: rate_limit\ncount: 0\n").message(), HasSubstr("count"));
  EXPECT_THAT(CheckStage("type: rate_limit\ncount: 5\ninterval: 0s\n").message(),
              HasSubstr("interval"));
  EXPECT_THAT(CheckStage("type: rate_limit\ncount: 5\nburst: -1\n").message(), HasSubstr("burst"));
  EXPECT_TRUE(CheckStage("type: rate_limit\ncount: 500\ninterval: 1s\nburst: 50\n").ok());
}

}  // namespace
}  // namespace sluice::stages
