// `type: delay`: every event waits at least `duration` and leaves in order
// while the input is open; at the end of input the waiting ones leave at
// once; and its config errors.
#include "stages/flow/delay_stage.h"

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

TEST(DelayStageTest, EveryEventWaitsAtLeastTheDurationAndLeavesInOrder) {
  WaveRun run = RunWaves(DelayStage::Factory({.duration = absl::Milliseconds(30)}), {}, {5, 5});
  ASSERT_TRUE(run.report.status.ok()) << run.report.status;
  EXPECT_TRUE(run.every_wave_delivered_before_the_next);
  ASSERT_EQ(run.values.size(), 10u);
  for (size_t i = 0; i < run.values.size(); ++i) {
    EXPECT_EQ(EventNumber(run.values[i]), static_cast<int64_t>(i));
    EXPECT_GE(run.arrived[i] - run.emitted[i], absl::Milliseconds(30)) << "event " << i;
  }
  EXPECT_EQ(run.report.partitions[0].commit_point, Offset(10));
}

TEST(DelayStageTest, AtTheEndOfInputTheWaitingEventsLeaveAtOnce) {
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 20; ++i) inputs.push_back({.value = absl::StrCat("v", i)});
  StageRunResult result = RunStage("type: delay\nduration: 1h\n", inputs);
  ExpectEveryEventKeptOrDropped(result, 20);
  ASSERT_EQ(result.values().size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(result.values()[i], absl::StrCat("v", i));
}

TEST(DelayStageTest, ConfigErrorsNameTheOption) {
  EXPECT_THAT(CheckStage("type: delay\n").message(), HasSubstr("duration: is required"));
  EXPECT_THAT(CheckStage("type: delay\nduration: 0s\n").message(), HasSubstr("duration"));
  EXPECT_THAT(CheckStage("type: delay\nduration: 5\n").message(), HasSubstr("duration"));
  EXPECT_TRUE(CheckStage("type: delay\nduration: 250ms\n").ok());
}

}  // namespace
}  // namespace sluice::stages
