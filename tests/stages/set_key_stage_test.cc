// `type: set_key`: the key each event leaves with, what a missing, null or
// unusable field does (`on_missing`), and its config errors.
#include "stages/json/set_key_stage.h"

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

std::vector<std::string> Keys(const StageRunResult& result) {
  std::vector<std::string> keys;
  for (const TestEvent& event : result.emitted) keys.push_back(event.key);
  return keys;
}

TEST(SetKeyStageTest, SetsTheKeyFromAStringFieldAndKeepsTheRest) {
  const TestEvent input = {.key = "old",
                           .value = R"({"user": {"id": "u-42", "name": "ada"}})",
                           .headers = {{"trace", "t"}},
                           .timestamp_us = 7};
  StageRunResult result = RunStage("type: set_key\nfield: /user/id\n", {input});
  ASSERT_TRUE(result.status.ok()) << result.status;
  TestEvent expected = input;
  expected.key = "u-42";
  EXPECT_THAT(result.emitted, ElementsAre(expected));
}

TEST(SetKeyStageTest, UsesTheUnescapedTextOfAString) {
  StageRunResult result =
      RunStage("type: set_key\nfield: /id\n", {{.value = R"({"id": "a\"b\u00e9\n"})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(Keys(result), ElementsAre("a\"b\xc3\xa9\n"));
}

TEST(SetKeyStageTest, WritesNumbersAsJsonDoes) {
  StageRunResult result =
      RunStage("type: set_key\nfield: /n\n", {{.value = R"({"n": 42})"},
                                              {.value = R"({"n": -7})"},
                                              {.value = R"({"n": 18446744073709551615})"},
                                              {.value = R"({"n": 1.50})"},
                                              {.value = R"({"n": 2.0})"},
                                              {.value = R"({"n": 1e21})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(Keys(result), ElementsAre("42", "-7", "18446744073709551615", "1.5", "2.0", "1e+21"));
}

TEST(SetKeyStageTest, FailsAnEventWithoutTheFieldNamingIt) {
  StageRunResult result = RunStage("type: set_key\nfield: /user/id\n",
                                   {{.key = "k", .value = R"({"user": {}})"},
                                    {.key = "k", .value = R"({"user": {"id": null}})"},
                                    {.key = "k", .value = R"({"user": {"id": 5}})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(Keys(result), ElementsAre("5"));
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: field \"/user/id\": missing, so the key cannot be set "
                          "(on_missing: keep keeps the old key)",
                          "INVALID_ARGUMENT: field \"/user/id\": null, so the key cannot be set "
                          "(on_missing: keep keeps the old key)"));
  EXPECT_EQ(result.dead_letters[0].key, "k");
}

TEST(SetKeyStageTest, OnMissingKeepKeepsTheOldKey) {
  StageRunResult result = RunStage("type: set_key\nfield: /user/id\non_missing: keep\n",
                                   {{.key = "old-1", .value = R"({"user": {}})"},
                                    {.key = "old-2", .value = R"({"user": {"id": null}})"},
                                    {.key = "old-3", .value = R"({"user": {"id": "new"}})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(Keys(result), ElementsAre("old-1", "old-2", "new"));
  EXPECT_THAT(result.dead_letters, IsEmpty());
}

TEST(SetKeyStageTest, FailsAFieldThatIsNotAStringOrNumberEvenWithKeep) {
  StageRunResult result =
      RunStage("type: set_key\nfield: /id\non_missing: keep\n", {{.value = R"({"id": {"a": 1}})"},
                                                                 {.value = R"({"id": true})"},
                                                                 {.value = R"({"id": [1]})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.emitted, IsEmpty());
  EXPECT_THAT(
      result.dead_letter_errors(),
      ElementsAre(
          "INVALID_ARGUMENT: field \"/id\": expected string or number for the key, got object",
          "INVALID_ARGUMENT: field \"/id\": expected string or number for the key, got "
          "boolean",
          "INVALID_ARGUMENT: field \"/id\": expected string or number for the key, got "
          "array"));
}

TEST(SetKeyStageTest, DeadLettersInvalidJson) {
  StageRunResult result =
      RunStage("type: set_key\nfield: /id\non_missing: keep\n", {{.key = "k", .value = "{id: 1}"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: not valid JSON at byte 1: The JSON document has an "
                          "improper structure: missing or superfluous commas, braces, missing "
                          "keys, etc."));
}

TEST(SetKeyStageTest, KeysEveryBatchFromItsOwnEvents) {
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 30; ++i) {
    inputs.push_back({.value = R"({"id": "user-)" + std::to_string(i) + R"("})"});
  }
  StageRunResult result =
      RunStage("type: set_key\nfield: /id\n", inputs, HarnessOptions{.batch_size = 4});
  ASSERT_TRUE(result.status.ok()) << result.status;
  std::vector<std::string> keys = Keys(result);
  ASSERT_EQ(keys.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(keys[i], "user-" + std::to_string(i));
}

TEST(SetKeyStageTest, ReportsABadOnMissing) {
  absl::Status status = CheckStage("type: set_key\nfield: /id\non_missing: skip\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:3:13: stage \"stage\": on_missing: \"skip\" is not one of: "
                        "fail, keep"));
}

TEST(SetKeyStageTest, ReportsAMissingField) {
  EXPECT_THAT(CheckStage("type: set_key\n").ToString(),
              HasSubstr("field: required (a JSON Pointer such as /user/id)"));
  EXPECT_THAT(CheckStage("type: set_key\nfield: [/a, /b]\n").ToString(),
              HasSubstr("field: expected a single value, got a list"));
}

}  // namespace
}  // namespace sluice::stages
