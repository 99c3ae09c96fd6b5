// `type: json_transform`: set, rename and delete, their order, what is
// created on the way, how values are written back, the events it fails, and
// its config errors.
#include "stages/json/json_transform_stage.h"

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

// The values `yaml` makes of `values`, checking that none failed.
std::vector<std::string> Transformed(const std::string& yaml,
                                     const std::vector<std::string>& values) {
  std::vector<TestEvent> inputs;
  for (const std::string& value : values) inputs.push_back({.value = value});
  StageRunResult result = RunStage(yaml, inputs);
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.dead_letters, IsEmpty());
  return result.values();
}

TEST(JsonTransformStageTest, SetsFieldsToStringsLiteralsMapsAndLists) {
  EXPECT_THAT(
      Transformed(R"(
type: json_transform
set:
  /source: sluice
  /version: 2
  /ratio: 0.5
  /tag: "2"
  /ok: true
  /none: null
  /meta: {team: payments, tier: 1}
  /tags: [a, 1, "b"]
)",
                  {R"({"id": 1})"}),
      ElementsAre(R"({"id":1,"source":"sluice","version":2,"ratio":0.5,"tag":"2","ok":true,)"
                  R"("none":null,"meta":{"team":"payments","tier":1},"tags":["a",1,"b"]})"));
}

TEST(JsonTransformStageTest, SetReplacesAFieldWhereItStands) {
  EXPECT_THAT(Transformed("type: json_transform\nset: {/b: new}\n",
                          {R"({"a": 1, "b": {"deep": true}, "c": 3})"}),
              ElementsAre(R"({"a":1,"b":"new","c":3})"));
}

TEST(JsonTransformStageTest, SetCreatesTheObjectsMissingOnTheWay) {
  EXPECT_THAT(Transformed("type: json_transform\nset: {/meta/origin/dc: eu-1}\n",
                          {R"({"id": 1})", R"({"meta": {"v": 2}})"}),
              ElementsAre(R"({"id":1,"meta":{"origin":{"dc":"eu-1"}}})",
                          R"({"meta":{"v":2,"origin":{"dc":"eu-1"}}})"));
}

TEST(JsonTransformStageTest, SetReplacesAnArrayElementOrAppendsWithDash) {
  EXPECT_THAT(Transformed("type: json_transform\nset: {/tags/0: first, /tags/-: last}\n",
                          {R"({"tags": ["a", "b"]})"}),
              ElementsAre(R"({"tags":["first","b","last"]})"));
}

TEST(JsonTransformStageTest, RenameMovesTheValueAndCreatesTheTarget) {
  EXPECT_THAT(Transformed("type: json_transform\nrename: {/user_id: /user/id, /ts: /time}\n",
                          {R"({"user_id": 42, "ts": 1700000000, "x": [1, {"y": 2}]})"}),
              ElementsAre(R"({"x":[1,{"y":2}],"user":{"id":42},"time":1700000000})"));
}

TEST(JsonTransformStageTest, RenameIntoItsOwnPathNestsTheValue) {
  EXPECT_THAT(Transformed("type: json_transform\nrename: {/a: /a/b}\n", {R"({"a": [1, 2]})"}),
              ElementsAre(R"({"a":{"b":[1,2]}})"));
}

TEST(JsonTransformStageTest, DeleteRemovesFieldsAndEveryCopyOfARepeatedKey) {
  EXPECT_THAT(Transformed("type: json_transform\ndelete: [/password, /user/token, /list/1]\n",
                          {R"({"password": "a", "user": {"token": "t", "id": 1}, "password": "b",)"
                           R"( "list": [1, 2, 3]})"}),
              ElementsAre(R"({"user":{"id":1},"list":[1,3]})"));
}

TEST(JsonTransformStageTest, PassesAnEventNoOperationChangesOnAsItCame) {
  const std::string value = "{ \"keep\" :  \"me\" }";
  EXPECT_THAT(Transformed("type: json_transform\ndelete: /missing\nrename: {/absent: /x}\n",
                          {value, R"({"missing": 1})"}),
              ElementsAre(value, "{}"));
}

TEST(JsonTransformStageTest, RunsRenamesThenDeletesThenSets) {
  // The rename moves /a to /b, the delete then removes /b, and the sets come
  // last.
  EXPECT_THAT(Transformed(R"(
type: json_transform
set: {/a: set, /b/c: 3}
delete: [/a, /b]
rename: {/a: /b}
)",
                          {R"({"a": {"x": 1}})"}),
              ElementsAre(R"({"a":"set","b":{"c":3}})"));
}

TEST(JsonTransformStageTest, WritesStringsAndNumbersBackExactly) {
  EXPECT_THAT(
      Transformed("type: json_transform\nset: {/new: 1}\n",
                  {R"({"s": "q\"b\\s\/\u0001\u00e9\ud83d\ude00\t", "f": 1.50, "g": 2.0, "h": -0,)"
                   R"( "i": 1e3, "j": 18446744073709551615, "k": -9223372036854775808})"}),
      ElementsAre("{\"s\":\"q\\\"b\\\\s/\\u0001\xc3\xa9\xf0\x9f\x98\x80\\t\",\"f\":1.5,\"g\":2.0,"
                  "\"h\":0,\"i\":1000.0,\"j\":18446744073709551615,\"k\":-9223372036854775808,"
                  "\"new\":1}"));
}

TEST(JsonTransformStageTest, KeepsKeyHeadersAndTimestamp) {
  const TestEvent input = {
      .key = "k", .value = R"({"a": 1})", .headers = {{"trace", "t"}}, .timestamp_us = 5};
  StageRunResult result = RunStage("type: json_transform\nset: {/b: 2}\n", {input});
  ASSERT_TRUE(result.status.ok()) << result.status;
  TestEvent expected = input;
  expected.value = R"({"a":1,"b":2})";
  EXPECT_THAT(result.emitted, ElementsAre(expected));
}

TEST(JsonTransformStageTest, FailsWhenAStepOnTheWayIsNotAnObjectOrArray) {
  StageRunResult result = RunStage("type: json_transform\nset: {/user/id: 1}\n",
                                   {{.value = R"({"user": "ada"})"}, {.value = R"({"user": 3})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.emitted, IsEmpty());
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: field \"/user/id\": cannot set: \"/user\" is a "
                          "string, not an object or array",
                          "INVALID_ARGUMENT: field \"/user/id\": cannot set: \"/user\" is an "
                          "integer, not an object or array"));
}

TEST(JsonTransformStageTest, FailsABadArrayStep) {
  StageRunResult result =
      RunStage("type: json_transform\nset: {/tags/5: x}\nrename: {/a: /tags/x}\n",
               {{.value = R"({"tags": [1, 2, 3]})"}, {.value = R"({"a": 1, "tags": []})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: field \"/tags/5\": cannot set: \"/tags\" has no "
                          "index 5 (it has 3 elements)",
                          "INVALID_ARGUMENT: field \"/tags/x\": cannot rename \"/a\" to it: "
                          "\"/tags\" is an array and \"x\" is not an index or \"-\""));
}

TEST(JsonTransformStageTest, FailsValuesThatAreNotJsonObjects) {
  StageRunResult result =
      RunStage("type: json_transform\nset: {/a: 1}\n", {{.value = "[1]"}, {.value = "{\"a\":"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(
      result.dead_letter_errors(),
      ElementsAre("INVALID_ARGUMENT: expected a JSON object, got array",
                  "INVALID_ARGUMENT: not valid JSON at byte 5: The JSON document has an improper "
                  "structure: missing or superfluous commas, braces, missing keys, etc."));
}

TEST(JsonTransformStageTest, TransformsEveryBatchAlike) {
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 25; ++i) {
    inputs.push_back({.value = R"({"n": )" + std::to_string(i) + R"(, "secret": "s"})"});
  }
  StageRunResult result = RunStage("type: json_transform\ndelete: /secret\nset: {/seen: true}\n",
                                   inputs, HarnessOptions{.batch_size = 4});
  ASSERT_TRUE(result.status.ok()) << result.status;
  std::vector<std::string> values = result.values();
  ASSERT_EQ(values.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(values[i], R"({"n":)" + std::to_string(i) + R"(,"seen":true})");
  }
}

TEST(JsonTransformStageTest, ReportsATransformWithNothingToDo) {
  absl::Status status = CheckStage("type: json_transform\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.ToString(), HasSubstr("nothing to do: give set, rename or delete"));
}

TEST(JsonTransformStageTest, ReportsPathsThatAreNotJsonPointers) {
  absl::Status status =
      CheckStage("type: json_transform\nset: {source: x}\nrename: {/a: b}\ndelete: [c]\n");
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:2:7: stage \"stage\": set: \"source\" is not a JSON Pointer"));
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:3:14: stage \"stage\": rename: \"b\" is not a JSON Pointer"));
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:4:10: stage \"stage\": delete: \"c\" is not a JSON Pointer"));
}

TEST(JsonTransformStageTest, ReportsOptionsOfTheWrongShape) {
  EXPECT_THAT(CheckStage("type: json_transform\nset: [/a]\n").ToString(),
              HasSubstr("set: expected a map of field to value (/source: sluice), got a list"));
  EXPECT_THAT(CheckStage("type: json_transform\nrename: /a\n").ToString(),
              HasSubstr("rename: expected a map of field to new field (/old: /new), got a "
                        "scalar"));
  EXPECT_THAT(CheckStage("type: json_transform\ndelte: [/a]\n").ToString(),
              HasSubstr("unknown key \"delte\"; did you mean \"delete\"?"));
}

}  // namespace
}  // namespace sluice::stages
