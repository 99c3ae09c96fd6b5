// `type: filter`: which events each test keeps, that the others are dropped
// (done, not lost), that invalid JSON is dead-lettered instead of dropped, and
// its config errors.
#include "stages/json/filter_stage.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

std::vector<TestEvent> Values(const std::vector<std::string>& values) {
  std::vector<TestEvent> events;
  for (const std::string& value : values) events.push_back({.value = value});
  return events;
}

// Runs `yaml` over `values` and returns the values kept, checking that every
// other event was dropped (acknowledged) and none failed.
std::vector<std::string> Kept(const std::string& yaml, const std::vector<std::string>& values) {
  StageRunResult result = RunStage(yaml, Values(values));
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.dead_letters, IsEmpty());
  EXPECT_EQ(result.report.events_dropped(), values.size() - result.emitted.size());
  EXPECT_EQ(result.report.events_in_flight(), 0u);
  return result.values();
}

TEST(FilterStageTest, KeepsEventsWhoseFieldEqualsTheValueAndDropsTheRest) {
  std::vector<TestEvent> inputs = {
      {.key = "a", .value = R"({"level": "error", "msg": "disk"})", .headers = {{"h", "1"}}},
      {.key = "b", .value = R"({"level": "info"})"},
      {.key = "c", .value = R"({"msg": "no level"})"},
      {.key = "d", .value = R"({"level": "error"})", .timestamp_us = 99},
  };
  StageRunResult result = RunStage("type: filter\nfield: /level\nequals: error\n", inputs);
  ASSERT_TRUE(result.status.ok()) << result.status;
  // Kept events pass unchanged: key, value, headers and timestamp.
  EXPECT_THAT(result.emitted, ElementsAre(inputs[0], inputs[3]));
  EXPECT_EQ(result.report.events_dropped(), 2u);
  EXPECT_EQ(result.report.events_acknowledged(), 2u);
  EXPECT_THAT(result.dead_letters, IsEmpty());
  // Dropped events are done: the whole partition is committable.
  ASSERT_EQ(result.report.partitions.size(), 1u);
  EXPECT_EQ(result.report.partitions[0].commit_point, Offset(4));
}

TEST(FilterStageTest, EqualsAListKeepsAnyOfItsValues) {
  EXPECT_THAT(Kept("type: filter\nfield: /level\nequals: [error, fatal]\n",
                   {R"({"level": "error"})", R"({"level": "warn"})", R"({"level": "fatal"})"}),
              ElementsAre(R"({"level": "error"})", R"({"level": "fatal"})"));
}

TEST(FilterStageTest, EqualsComparesByJsonType) {
  const std::vector<std::string> values = {R"({"status": 200})", R"({"status": 200.0})",
                                           R"({"status": "200"})", R"({"status": 201})"};
  EXPECT_THAT(Kept("type: filter\nfield: /status\nequals: 200\n", values),
              ElementsAre(R"({"status": 200})", R"({"status": 200.0})"));
  EXPECT_THAT(Kept("type: filter\nfield: /status\nequals: \"200\"\n", values),
              ElementsAre(R"({"status": "200"})"));
  EXPECT_THAT(Kept("type: filter\nfield: /ok\nequals: true\n",
                   {R"({"ok": true})", R"({"ok": "true"})", R"({"ok": false})"}),
              ElementsAre(R"({"ok": true})"));
  EXPECT_THAT(Kept("type: filter\nfield: /parent\nequals: null\n",
                   {R"({"parent": null})", R"({"parent": "null"})", R"({})"}),
              ElementsAre(R"({"parent": null})"));
}

TEST(FilterStageTest, NotEqualsKeepsEventsWithoutTheField) {
  EXPECT_THAT(Kept("type: filter\nfield: /level\nnot_equals: [debug, trace]\n",
                   {R"({"level": "debug"})", R"({"level": "info"})", R"({"msg": "x"})",
                    R"({"level": "trace"})"}),
              ElementsAre(R"({"level": "info"})", R"({"msg": "x"})"));
}

TEST(FilterStageTest, ComparesNumbersAtTheBound) {
  const std::vector<std::string> values = {R"({"n": 99})", R"({"n": 100})", R"({"n": 100.5})",
                                           R"({"n": -3e2})"};
  EXPECT_THAT(Kept("type: filter\nfield: /n\ngt: 100\n", values), ElementsAre(R"({"n": 100.5})"));
  EXPECT_THAT(Kept("type: filter\nfield: /n\ngte: 100\n", values),
              ElementsAre(R"({"n": 100})", R"({"n": 100.5})"));
  EXPECT_THAT(Kept("type: filter\nfield: /n\nlt: 100\n", values),
              ElementsAre(R"({"n": 99})", R"({"n": -3e2})"));
  EXPECT_THAT(Kept("type: filter\nfield: /n\nlte: 99.5\n", values),
              ElementsAre(R"({"n": 99})", R"({"n": -3e2})"));
}

TEST(FilterStageTest, ComparesLargeIntegersExactly) {
  // 2^53 + 1 and 2^53 are the same double; compared exactly they differ.
  EXPECT_THAT(Kept("type: filter\nfield: /id\ngt: 9007199254740992\n",
                   {R"({"id": 9007199254740993})", R"({"id": 9007199254740992})",
                    R"({"id": 18446744073709551615})"}),
              ElementsAre(R"({"id": 9007199254740993})", R"({"id": 18446744073709551615})"));
}

TEST(FilterStageTest, DropsFieldsThatAreNotNumbersFromComparisons) {
  EXPECT_THAT(Kept("type: filter\nfield: /amount\ngte: 100\n",
                   {R"({"amount": "150"})", R"({"amount": null})", R"({})", R"({"amount": 150})"}),
              ElementsAre(R"({"amount": 150})"));
}

TEST(FilterStageTest, ExistsCountsNullAsPresent) {
  const std::vector<std::string> values = {R"({"user": {"id": 1}})", R"({"user": {"id": null}})",
                                           R"({"user": {}})", R"({"user": "id"})"};
  EXPECT_THAT(Kept("type: filter\nfield: /user/id\nexists: true\n", values),
              ElementsAre(R"({"user": {"id": 1}})", R"({"user": {"id": null}})"));
  EXPECT_THAT(Kept("type: filter\nfield: /user/id\nexists: false\n", values),
              ElementsAre(R"({"user": {}})", R"({"user": "id"})"));
}

TEST(FilterStageTest, DropsEventsWhoseFieldDoesNotMatchTheRegex) {
  EXPECT_THAT(Kept("type: filter\nfield: /path\nmatches: \"^/api/v[0-9]+/\"\n",
                   {R"({"path": "/api/v2/orders"})", R"({"path": "/static/app.js"})",
                    R"({"path": "/v1/api/v2/"})", R"({"path": 2})", R"({})"}),
              ElementsAre(R"({"path": "/api/v2/orders"})"));
}

TEST(FilterStageTest, RegexMatchesAnywhereInTheStringUnlessAnchored) {
  EXPECT_THAT(Kept("type: filter\nfield: /msg\nmatches: \"time(d)?out\"\n",
                   {R"({"msg": "upstream timed out"})", R"({"msg": "request timeout"})",
                    R"({"msg": "ok"})", R"({"msg": "caf\u00e9 timeout"})"}),
              ElementsAre(R"({"msg": "request timeout"})", R"({"msg": "caf\u00e9 timeout"})"));
}

TEST(FilterStageTest, InvertKeepsWhatTheTestWouldDrop) {
  EXPECT_THAT(Kept("type: filter\nfield: /level\nequals: debug\ninvert: true\n",
                   {R"({"level": "debug"})", R"({"level": "info"})", R"({})"}),
              ElementsAre(R"({"level": "info"})", R"({})"));
  EXPECT_THAT(Kept("type: filter\nfield: /n\ngt: 5\ninvert: true\n",
                   {R"({"n": 6})", R"({"n": 5})", R"({"n": "x"})"}),
              ElementsAre(R"({"n": 5})", R"({"n": "x"})"));
}

TEST(FilterStageTest, LooksUpNestedFieldsAndArrayIndexes) {
  EXPECT_THAT(Kept("type: filter\nfield: /items/1/sku\nequals: B-2\n",
                   {R"({"items": [{"sku": "A-1"}, {"sku": "B-2"}]})",
                    R"({"items": [{"sku": "B-2"}]})", R"({"items": {"1": {"sku": "B-2"}}})"}),
              ElementsAre(R"({"items": [{"sku": "A-1"}, {"sku": "B-2"}]})",
                          R"({"items": {"1": {"sku": "B-2"}}})"));
}

TEST(FilterStageTest, DeadLettersInvalidJsonInsteadOfDroppingIt) {
  StageRunResult result =
      RunStage("type: filter\nfield: /level\nequals: error\n",
               Values({R"({"level": "error"})", R"({"level": "error")", R"({"level": "info"})"}));
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.values(), ElementsAre(R"({"level": "error"})"));
  EXPECT_EQ(result.report.events_dropped(), 1u);
  EXPECT_EQ(result.report.events_dead_lettered(), 1u);
  ASSERT_EQ(result.dead_letters.size(), 1u);
  EXPECT_EQ(result.dead_letters[0].value, R"({"level": "error")");
  EXPECT_EQ(result.dead_letters[0].error,
            "INVALID_ARGUMENT: not valid JSON at byte 17: The JSON document has an improper "
            "structure: missing or superfluous commas, braces, missing keys, etc.");
}

TEST(FilterStageTest, TreatsADocumentThatIsNotAnObjectAsHavingNoField) {
  EXPECT_THAT(Kept("type: filter\nfield: /level\nexists: false\n",
                   {R"(["level"])", R"("level")", R"({"level": 1})"}),
              ElementsAre(R"(["level"])", R"("level")"));
}

TEST(FilterStageTest, KeepsTheSameEventsWhateverTheBatchSize) {
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 50; ++i) {
    inputs.push_back({.value = R"({"n": )" + std::to_string(i) + "}"});
  }
  StageRunResult result =
      RunStage("type: filter\nfield: /n\nlt: 10\n", inputs, HarnessOptions{.batch_size = 4});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.emitted.size(), 10u);
  EXPECT_EQ(result.report.events_dropped(), 40u);
  EXPECT_EQ(result.emitted.back().value, R"({"n": 9})");
}

TEST(FilterStageTest, ReportsARegexThatDoesNotCompile) {
  absl::Status status = CheckStage("type: filter\nfield: /msg\nmatches: \"(unclosed\"\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:3:10: stage \"stage\": matches: not a valid RE2 regex: "
                        "missing ): (unclosed"));
}

TEST(FilterStageTest, ReportsAMissingOrDoubledTest) {
  EXPECT_THAT(CheckStage("type: filter\nfield: /msg\n").ToString(),
              HasSubstr("a test is required: one of equals, not_equals, gt, gte, lt, lte, exists, "
                        "matches"));
  EXPECT_THAT(CheckStage("type: filter\nfield: /msg\nequals: a\nmatches: b\n").ToString(),
              HasSubstr("stage.yaml:4:10: stage \"stage\": matches: a filter has one test, and "
                        "\"equals\" is given already (use a second filter stage)"));
}

TEST(FilterStageTest, ReportsAMissingOrBadField) {
  EXPECT_THAT(CheckStage("type: filter\nequals: a\n").ToString(),
              HasSubstr("field: required (a JSON Pointer such as /user/id)"));
  EXPECT_THAT(CheckStage("type: filter\nfield: level\nequals: a\n").ToString(),
              HasSubstr("stage.yaml:2:8: stage \"stage\": field: \"level\" is not a JSON Pointer: "
                        "it must start with \"/\" (did you mean \"/level\"?)"));
}

TEST(FilterStageTest, ReportsABoundThatIsNotANumber) {
  EXPECT_THAT(CheckStage("type: filter\nfield: /n\ngt: ten\n").ToString(),
              HasSubstr("gt: expected a number, got \"ten\""));
  EXPECT_THAT(CheckStage("type: filter\nfield: /n\nlte: \"5\"\n").ToString(),
              HasSubstr("lte: expected a number, got \"5\""));
  EXPECT_THAT(CheckStage("type: filter\nfield: /n\nexists: maybe\n").ToString(),
              HasSubstr("exists: expected true or false, got \"maybe\""));
}

TEST(FilterStageTest, ReportsAMisspelledOption) {
  absl::Status status = CheckStage("type: filter\nfield: /n\nequals: 1\ninvrt: true\n");
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:4:1: stage \"stage\": unknown key \"invrt\"; did you mean "
                        "\"invert\"?"));
}

}  // namespace
}  // namespace sluice::stages
