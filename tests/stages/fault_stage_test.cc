// `type: fault`: which events it fails, how the failures reach the dead-letter
// queue (code, message, attempts), crashes and the restarts and escalation
// they cause, that no event is ever lost, and its config errors.
#include "stages/flow/fault_stage.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/dead_letter_queue.h"
#include "pipeline/pipeline.h"
#include "tests/support/stage_harness.h"

namespace sluice::stages {
namespace {

using ::sluice::testing::CheckStage;
using ::sluice::testing::HarnessOptions;
using ::sluice::testing::RunStage;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TestEvent;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Event i: key "key-<i>", value "event-<i>", or "poison-<i>" for i in `poison`.
std::vector<TestEvent> Numbered(int count, const std::set<int>& poison = {}) {
  std::vector<TestEvent> events;
  for (int i = 0; i < count; ++i) {
    events.push_back({.key = absl::StrCat("key-", i),
                      .value = absl::StrCat(poison.contains(i) ? "poison-" : "event-", i)});
  }
  return events;
}

std::vector<std::string> DeadValues(const StageRunResult& result) {
  std::vector<std::string> values;
  for (const DeadLetter& record : result.dead_letters) values.push_back(record.value);
  return values;
}

uint64_t RestartsOfStage(const RunReport& report) {
  for (const StageReport& stage : report.stages) {
    if (stage.name == "stage") return stage.totals.restarts;
  }
  return 0;
}

// Every input ended acknowledged (reached the output) or dead-lettered;
// nothing dropped, nothing left in flight.
void ExpectAllSettled(const StageRunResult& result, size_t inputs) {
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_emitted(), inputs);
  EXPECT_EQ(result.report.events_acknowledged(), result.emitted.size());
  EXPECT_EQ(result.report.events_dead_lettered(), result.dead_letters.size());
  EXPECT_EQ(result.report.events_dropped(), 0u);
  EXPECT_EQ(result.emitted.size() + result.dead_letters.size(), inputs);
  EXPECT_EQ(result.report.events_in_flight(), 0u);
}

TEST(FaultStageTest, FailRateZeroPassesEveryEventUnchanged) {
  std::vector<TestEvent> inputs = Numbered(20);
  inputs[4].headers = {{"trace", "t-4"}};
  inputs[4].timestamp_us = 1234;
  StageRunResult result = RunStage("type: fault\nfail_rate: 0\n", inputs);
  ExpectAllSettled(result, 20);
  EXPECT_EQ(result.emitted, inputs);
  EXPECT_THAT(result.dead_letters, IsEmpty());
}

TEST(FaultStageTest, MatchFailsExactlyTheMatchingEventsStraightToTheDeadLetterQueue) {
  StageRunResult result = RunStage(R"(
type: fault
match: poison
retry:
  max_attempts: 5
  initial_backoff: 1ms
)",
                                   Numbered(10, {2, 7}));
  ExpectAllSettled(result, 10);
  EXPECT_THAT(result.values(), ElementsAre("event-0", "event-1", "event-3", "event-4", "event-5",
                                           "event-6", "event-8", "event-9"));
  ASSERT_THAT(DeadValues(result), ElementsAre("poison-2", "poison-7"));
  for (const DeadLetter& record : result.dead_letters) {
    EXPECT_EQ(record.error, "INVALID_ARGUMENT: injected failure");
    EXPECT_EQ(record.code, absl::StatusCode::kInvalidArgument);
    // invalid_argument is not retried, whatever max_attempts says.
    EXPECT_EQ(record.attempts, 1u);
    EXPECT_EQ(record.stage, "stage");
  }
  ASSERT_EQ(result.report.partitions.size(), 1u);
  EXPECT_EQ(result.report.partitions[0].commit_point, Offset(10));
}

TEST(FaultStageTest, CarriesTheConfiguredMessageAndCode) {
  StageRunResult result = RunStage(R"(
type: fault
match: poison
error: "disk on fire"
code: internal
)",
                                   Numbered(4, {1}));
  ExpectAllSettled(result, 4);
  ASSERT_EQ(result.dead_letters.size(), 1u);
  EXPECT_EQ(result.dead_letters[0].error, "INTERNAL: disk on fire");
  EXPECT_EQ(result.dead_letters[0].code, absl::StatusCode::kInternal);
  EXPECT_EQ(result.dead_letters[0].key, "key-1");
}

TEST(FaultStageTest, UnavailableFailuresAreRetriedByPolicyThenDeadLettered) {
  StageRunResult result = RunStage(R"(
type: fault
match: poison
code: unavailable
retry:
  max_attempts: 3
  initial_backoff: 1ms
  max_backoff: 2ms
)",
                                   Numbered(6, {0, 5}));
  ExpectAllSettled(result, 6);
  EXPECT_THAT(result.values(), ElementsAre("event-1", "event-2", "event-3", "event-4"));
  // Retries are jittered: the two may finish in either order.
  ASSERT_THAT(DeadValues(result), UnorderedElementsAre("poison-0", "poison-5"));
  for (const DeadLetter& record : result.dead_letters) {
    EXPECT_EQ(record.error, "UNAVAILABLE: injected failure");
    EXPECT_EQ(record.attempts, 3u);
  }
  for (const StageReport& stage : result.report.stages) {
    if (stage.name == "stage") {
      EXPECT_EQ(stage.totals.events_retried, 4u);
    }
  }
}

TEST(FaultStageTest, FailRateFailsAboutThatShareReproduciblyForASeed) {
  const std::string yaml = "type: fault\nfail_rate: 0.25\nseed: 5\n";
  StageRunResult first = RunStage(yaml, Numbered(800));
  StageRunResult second = RunStage(yaml, Numbered(800), HarnessOptions{.batch_size = 9});
  ExpectAllSettled(first, 800);
  ExpectAllSettled(second, 800);
  // 800 * 0.25 = 200, standard deviation ~12.2; the seed fixes one count.
  EXPECT_NEAR(static_cast<double>(first.dead_letters.size()), 200.0, 49.0);
  EXPECT_EQ(DeadValues(first), DeadValues(second));
  EXPECT_EQ(first.values(), second.values());
}

TEST(FaultStageTest, CrashRateOneDeadLettersTheCallsEventsAsCrashedAndRestarts) {
  // One batch, one call, one crash: its 5 events are dead-lettered as
  // crashed (not retried), the instance restarts and the run ends cleanly.
  StageRunResult result = RunStage("type: fault\ncrash_rate: 1\n", Numbered(5));
  ExpectAllSettled(result, 5);
  EXPECT_THAT(result.emitted, IsEmpty());
  ASSERT_THAT(DeadValues(result),
              ElementsAre("event-0", "event-1", "event-2", "event-3", "event-4"));
  for (const DeadLetter& record : result.dead_letters) {
    EXPECT_THAT(record.error, HasSubstr("crashed: INTERNAL: injected crash"));
    EXPECT_EQ(record.code, absl::StatusCode::kInternal);
    EXPECT_EQ(record.attempts, 1u);
  }
  EXPECT_EQ(RestartsOfStage(result.report), 1u);
}

TEST(FaultStageTest, CrashOnAPoisonEventLosesOnlyItsOwnCall) {
  // One event per call: the poison events' calls crash; the events around
  // them are handled by the restarted instance and pass.
  StageRunResult result = RunStage("type: fault\nmatch: poison\ncrash_rate: 1\n",
                                   Numbered(8, {2, 5}), HarnessOptions{.batch_size = 1});
  ExpectAllSettled(result, 8);
  EXPECT_THAT(result.values(),
              ElementsAre("event-0", "event-1", "event-3", "event-4", "event-6", "event-7"));
  ASSERT_THAT(DeadValues(result), ElementsAre("poison-2", "poison-5"));
  for (const DeadLetter& record : result.dead_letters) {
    EXPECT_THAT(record.error, HasSubstr("crashed: INTERNAL: injected crash"));
    EXPECT_EQ(record.code, absl::StatusCode::kInternal);
  }
  EXPECT_EQ(RestartsOfStage(result.report), 2u);
}

TEST(FaultStageTest, CrashesPastTheRestartIntensityStopThePipelineAndLoseNothing) {
  // Stage supervisor: 1 restart allowed, the second crash escalates; the
  // pipeline allows none, so it stops. Two calls crashed (one event each,
  // dead-lettered). Whatever else the input had emitted by then is left in
  // flight and, with what it never emitted, uncommitted for the next run:
  // nothing is acknowledged, nothing lost.
  StageRunResult result = RunStage(R"(
type: fault
crash_rate: 1
supervision:
  max_restarts: 1
  max_seconds: 1h
)",
                                   Numbered(10),
                                   HarnessOptions{.batch_size = 1,
                                                  .pipeline_yaml = "supervision:\n"
                                                                   "  max_restarts: 0\n"
                                                                   "  max_seconds: 1h\n"});
  EXPECT_EQ(result.status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(result.status.message(), HasSubstr("reached max_restarts"));
  EXPECT_THAT(result.status.message(), HasSubstr("injected crash"));
  EXPECT_THAT(result.emitted, IsEmpty());
  ASSERT_THAT(DeadValues(result), ElementsAre("event-0", "event-1"));
  for (const DeadLetter& record : result.dead_letters) {
    EXPECT_THAT(record.error, HasSubstr("crashed: INTERNAL: injected crash"));
  }
  const RunReport& report = result.report;
  EXPECT_GE(report.events_emitted(), 2u);
  EXPECT_LE(report.events_emitted(), 10u);
  EXPECT_EQ(report.events_acknowledged(), 0u);
  EXPECT_EQ(report.events_dropped(), 0u);
  EXPECT_EQ(report.events_dead_lettered(), 2u);
  EXPECT_EQ(report.events_dead_lettered() + report.events_in_flight(), report.events_emitted());
  ASSERT_EQ(report.partitions.size(), 1u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(2));
}

TEST(FaultStageTest, RejectsARateOutsideZeroToOneAtItsPlace) {
  absl::Status status = CheckStage("type: fault\nfail_rate: 2\ncrash_rate: -0.5\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:2:12: "));
  EXPECT_THAT(status.message(), HasSubstr("fail_rate: 2 is out of range [0, 1]"));
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:3:13: "));
  EXPECT_THAT(status.message(), HasSubstr("crash_rate: -0.5 is out of range [0, 1]"));
}

TEST(FaultStageTest, RejectsAnUnknownCodeListingTheChoices) {
  absl::Status status = CheckStage("type: fault\ncode: not_found\n");
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:2:7: "));
  EXPECT_THAT(status.message(),
              HasSubstr("code: \"not_found\" is not one of: invalid_argument, unavailable, "
                        "internal"));
}

TEST(FaultStageTest, RejectsAnEmptyMatch) {
  absl::Status status = CheckStage("type: fault\nmatch: \"\"\n");
  EXPECT_THAT(status.message(), HasSubstr("match: must not be empty"));
}

TEST(FaultStageTest, UnknownKeyGetsADidYouMean) {
  absl::Status status = CheckStage("type: fault\nfail_rat: 0.1\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:2:1: "));
  EXPECT_THAT(status.message(), HasSubstr("unknown key \"fail_rat\"; did you mean \"fail_rate\"?"));
}

}  // namespace
}  // namespace sluice::stages
