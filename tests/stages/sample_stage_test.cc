// `type: sample`: which events it keeps, that the rest are dropped (done,
// not lost), that its decisions are reproducible, and its config errors.
#include "stages/flow/sample_stage.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "xxhash.h"

#include "tests/support/stage_harness.h"

namespace sluice::stages {
namespace {

using ::sluice::testing::CheckStage;
using ::sluice::testing::ExpectEveryEventKeptOrDropped;
using ::sluice::testing::HarnessOptions;
using ::sluice::testing::RunStage;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TestEvent;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Event i: key "key-<i % keys>", value "event-<i>".
std::vector<TestEvent> Numbered(int count, int keys = 1000000) {
  std::vector<TestEvent> events;
  for (int i = 0; i < count; ++i) {
    events.push_back({.key = absl::StrCat("key-", i % keys), .value = absl::StrCat("event-", i)});
  }
  return events;
}

TEST(SampleStageTest, RateOneKeepsEveryEventUnchanged) {
  std::vector<TestEvent> inputs = Numbered(50);
  inputs[3].headers = {{"trace", "abc"}};
  StageRunResult result = RunStage("type: sample\nrate: 1\n", inputs);
  ExpectEveryEventKeptOrDropped(result, 50);
  EXPECT_EQ(result.emitted, inputs);
  EXPECT_EQ(result.report.events_dropped(), 0u);
}

TEST(SampleStageTest, RateZeroDropsEveryEventAndTheDropsAreDone) {
  StageRunResult result = RunStage("type: sample\nrate: 0\n", Numbered(50));
  ExpectEveryEventKeptOrDropped(result, 50);
  EXPECT_THAT(result.emitted, IsEmpty());
  EXPECT_EQ(result.report.events_dropped(), 50u);
  ASSERT_EQ(result.report.partitions.size(), 1u);
  EXPECT_EQ(result.report.partitions[0].commit_point, Offset(50));
}

TEST(SampleStageTest, RandomSampleKeepsAboutTheRate) {
  StageRunResult result = RunStage("type: sample\nrate: 0.3\nseed: 7\n", Numbered(2000));
  ExpectEveryEventKeptOrDropped(result, 2000);
  // 2000 * 0.3 = 600, standard deviation sqrt(2000 * 0.3 * 0.7) ~ 20.5: the
  // fixed seed gives one fixed count, which lies within 4 deviations.
  EXPECT_NEAR(static_cast<double>(result.emitted.size()), 600.0, 82.0);
  EXPECT_EQ(result.emitted.size() + result.report.events_dropped(), 2000u);
}

TEST(SampleStageTest, SameSeedKeepsTheSameEventsWhateverTheBatchSize) {
  const std::string yaml = "type: sample\nrate: 0.5\nseed: 11\n";
  StageRunResult whole = RunStage(yaml, Numbered(300));
  StageRunResult again = RunStage(yaml, Numbered(300));
  StageRunResult in_sevens = RunStage(yaml, Numbered(300), HarnessOptions{.batch_size = 7});
  ExpectEveryEventKeptOrDropped(whole, 300);
  ExpectEveryEventKeptOrDropped(in_sevens, 300);
  EXPECT_EQ(whole.values(), again.values());
  EXPECT_EQ(whole.values(), in_sevens.values());
}

TEST(SampleStageTest, DifferentSeedsKeepDifferentEvents) {
  StageRunResult one = RunStage("type: sample\nrate: 0.5\nseed: 1\n", Numbered(200));
  StageRunResult two = RunStage("type: sample\nrate: 0.5\nseed: 2\n", Numbered(200));
  ExpectEveryEventKeptOrDropped(one, 200);
  ExpectEveryEventKeptOrDropped(two, 200);
  EXPECT_NE(one.values(), two.values());
}

TEST(SampleStageTest, ByKeyKeepsExactlyTheKeysWhoseHashIsBelowTheRate) {
  // 40 keys, 5 events each. The documented rule, computed here on its own:
  // kept iff XXH3-64(key, seed) < rate * 2^64.
  const std::vector<TestEvent> inputs = Numbered(200, 40);
  StageRunResult result = RunStage("type: sample\nrate: 0.5\nby: key\nseed: 3\n", inputs);
  ExpectEveryEventKeptOrDropped(result, 200);
  std::vector<std::string> expected;
  for (const TestEvent& event : inputs) {
    const uint64_t hash = XXH3_64bits_withSeed(event.key.data(), event.key.size(), 3);
    if (hash < static_cast<uint64_t>(std::ldexp(0.5, 64))) expected.push_back(event.value);
  }
  EXPECT_EQ(result.values(), expected);
  // All or none of each key's 5 events.
  std::map<std::string, int> kept_per_key;
  for (const TestEvent& event : result.emitted) ++kept_per_key[event.key];
  for (const auto& [key, kept] : kept_per_key) EXPECT_EQ(kept, 5) << key;
  EXPECT_GT(kept_per_key.size(), 0u);
  EXPECT_LT(kept_per_key.size(), 40u);
}

TEST(SampleStageTest, ByKeyDecidesTheSameInEveryRunAndBatching) {
  const std::string yaml = "type: sample\nrate: 0.2\nby: key\n";
  StageRunResult first = RunStage(yaml, Numbered(500, 50));
  StageRunResult second = RunStage(yaml, Numbered(500, 50), HarnessOptions{.batch_size = 3});
  ExpectEveryEventKeptOrDropped(first, 500);
  ExpectEveryEventKeptOrDropped(second, 500);
  EXPECT_EQ(first.values(), second.values());
}

TEST(SampleStageTest, ByHeaderDecidesByTheHeaderValue) {
  // Same header, different keys: all kept or all dropped together.
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 30; ++i) {
    inputs.push_back({.key = absl::StrCat("k", i),
                      .value = absl::StrCat("event-", i),
                      .headers = {{"tenant", absl::StrCat("tenant-", i % 3)}}});
  }
  StageRunResult result = RunStage("type: sample\nrate: 0.5\nby: header:tenant\n", inputs);
  ExpectEveryEventKeptOrDropped(result, 30);
  std::map<std::string, int> kept_per_tenant;
  for (const TestEvent& event : result.emitted) ++kept_per_tenant[event.headers[0].second];
  for (const auto& [tenant, kept] : kept_per_tenant) EXPECT_EQ(kept, 10) << tenant;
}

TEST(SampleStageTest, RejectsARateOutsideZeroToOneAtItsPlace) {
  absl::Status status = CheckStage("type: sample\nrate: 1.5\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:2:7: "));
  EXPECT_THAT(status.message(), HasSubstr("rate: 1.5 is out of range [0, 1]"));
}

TEST(SampleStageTest, RequiresARate) {
  absl::Status status = CheckStage("type: sample\nby: key\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("rate: required"));
}

TEST(SampleStageTest, UnknownKeyGetsADidYouMean) {
  absl::Status status = CheckStage("type: sample\nrate: 0.1\nsed: 4\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:3:1: "));
  EXPECT_THAT(status.message(), HasSubstr("unknown key \"sed\"; did you mean \"seed\"?"));
}

TEST(SampleStageTest, RejectsAnUnknownBy) {
  absl::Status status = CheckStage("type: sample\nrate: 0.1\nby: \"header:\"\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:3:5: "));
  EXPECT_THAT(status.message(),
              HasSubstr("by: \"header:\" is not one of: key, value, header:<name>"));
}

TEST(SampleStageTest, ValidConfigChecksClean) {
  EXPECT_TRUE(CheckStage("type: sample\nrate: 0.25\nby: value\nseed: 9\n").ok());
}

}  // namespace
}  // namespace sluice::stages
