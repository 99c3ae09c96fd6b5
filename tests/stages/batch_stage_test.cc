// `type: batch`: groups leave when full, when their timeout passes (while the
// input is still open) or at the end of input; per key with `by:`; arrival
// order kept within a group; the stage never holds more than max_demand; and
// its config errors.
#include "stages/flow/batch_stage.h"

#include <string>
#include <vector>

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
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Events with these keys, valued "<key>#<position>".
std::vector<TestEvent> Keyed(const std::vector<std::string>& keys) {
  std::vector<TestEvent> events;
  for (size_t i = 0; i < keys.size(); ++i) {
    events.push_back({.key = keys[i], .value = absl::StrCat(keys[i], "#", i)});
  }
  return events;
}

TEST(BatchStageTest, GroupsPerKeyAndLeavesWhenAGroupIsFull) {
  // size 2 per key: a's group leaves at a#2, b's at b#4; c#3 and a#5 leave at
  // the end of input, oldest group first.
  StageRunResult result = RunStage("type: batch\nsize: 2\ntimeout: 1h\nby: key\n",
                                   Keyed({"a", "b", "a", "c", "b", "a"}));
  ExpectEveryEventKeptOrDropped(result, 6);
  EXPECT_THAT(result.values(), ElementsAre("a#0", "a#2", "b#1", "b#4", "c#3", "a#5"));
  EXPECT_EQ(result.report.partitions[0].commit_point, Offset(6));
}

TEST(BatchStageTest, WithoutByOneGroupKeepsTheInputOrder) {
  StageRunResult result =
      RunStage("type: batch\nsize: 3\ntimeout: 1h\n", Keyed({"a", "b", "a", "c", "b", "a", "d"}));
  ExpectEveryEventKeptOrDropped(result, 7);
  EXPECT_THAT(result.values(), ElementsAre("a#0", "b#1", "a#2", "c#3", "b#4", "a#5", "d#6"));
}

TEST(BatchStageTest, AtMaxDemandHeldTheOldestGroupLeavesEarly) {
  // 40 keys, groups of 5 that never fill; max_demand 8: the stage would
  // stop its input if it kept them all, so the oldest leaves instead.
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back(absl::StrCat("k", i));
  StageRunResult result =
      RunStage("type: batch\nsize: 5\ntimeout: 1h\nby: key\nmax_demand: 8\n", Keyed(keys));
  ExpectEveryEventKeptOrDropped(result, 40);
  std::vector<std::string> expected;
  for (size_t i = 0; i < keys.size(); ++i) expected.push_back(absl::StrCat(keys[i], "#", i));
  EXPECT_EQ(result.values(), expected);
}

TEST(BatchStageTest, AGroupLeavesWhenItsTimeoutPassesWhileTheInputIsOpen) {
  // Groups of up to 100, timeout 20 ms; the source sends 3 events and waits
  // for the sink to have them before it sends the next 3.
  WaveRun run = RunWaves(BatchStage::Factory({.size = 100, .timeout = absl::Milliseconds(20)}), {},
                         {3, 3, 3});
  ASSERT_TRUE(run.report.status.ok()) << run.report.status;
  EXPECT_TRUE(run.every_wave_delivered_before_the_next);
  ASSERT_EQ(run.values.size(), 9u);
  for (size_t i = 0; i < run.values.size(); ++i) {
    EXPECT_EQ(EventNumber(run.values[i]), static_cast<int64_t>(i));
    EXPECT_GE(run.arrived[i] - run.emitted[i], absl::Milliseconds(20)) << "event " << i;
  }
  EXPECT_EQ(run.report.partitions[0].commit_point, Offset(9));
}

TEST(BatchStageTest, AFullGroupLeavesWithoutWaitingForItsTimeout) {
  WaveRun run = RunWaves(BatchStage::Factory({.size = 3, .timeout = absl::Hours(1)}), {}, {3, 3});
  ASSERT_TRUE(run.report.status.ok()) << run.report.status;
  EXPECT_TRUE(run.every_wave_delivered_before_the_next);
  EXPECT_EQ(run.values.size(), 6u);
}

TEST(BatchStageTest, ConfigErrorsNameTheOption) {
  absl::Status too_big = CheckStage("type: batch\nsize: 5000\n");
  EXPECT_THAT(too_big.message(), HasSubstr("size: (5000) is above the stage's max_demand (1000)"));
  EXPECT_TRUE(CheckStage("type: batch\nsize: 5000\nmax_demand: 5000\n").ok());
  EXPECT_THAT(CheckStage("type: batch\ntimeout: 0s\n").message(), HasSubstr("timeout"));
  EXPECT_THAT(CheckStage("type: batch\nsize: 0\n").message(), HasSubstr("size"));
  EXPECT_THAT(CheckStage("type: batch\nby: colour\n").message(),
              HasSubstr("\"colour\" is not one of: key, value, header:<name>"));
  EXPECT_THAT(CheckStage("type: batch\nsise: 10\n").message(), HasSubstr("size"));
}

}  // namespace
}  // namespace sluice::stages
