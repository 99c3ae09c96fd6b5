// `type: json_parse`: valid objects pass unchanged; invalid JSON, non-objects,
// oversized values, missing required fields and fields of the wrong type are
// dead-lettered with a message naming the problem; its config errors.
#include "stages/json/json_parse_stage.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "stages/json/json_syntax.h"
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

TEST(JsonParseStageTest, PassesValidObjectsOnUnchanged) {
  const std::vector<TestEvent> inputs = {
      {.key = "k1", .value = R"({"id": 1, "user": {"name": "ada"}})", .headers = {{"trace", "t1"}}},
      {.key = "k2", .value = "  {\"id\":2}\n", .timestamp_us = 1234},
  };
  StageRunResult result = RunStage("type: json_parse\n", inputs);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.emitted, inputs);
  EXPECT_THAT(result.dead_letters, IsEmpty());
  EXPECT_EQ(result.report.events_acknowledged(), 2u);
}

TEST(JsonParseStageTest, DeadLettersValuesThatAreNotJsonWithTheByteOfTheError) {
  StageRunResult result = RunStage("type: json_parse\n", {{.key = "a", .value = "{\"id\": 1,"},
                                                          {.value = "not json"},
                                                          {.value = ""},
                                                          {.value = "{\"n\": 01}"},
                                                          {.value = "{\"s\": \"\xff\"}"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.emitted, IsEmpty());
  EXPECT_THAT(
      result.dead_letter_errors(),
      ElementsAre("INVALID_ARGUMENT: not valid JSON at byte 9: The JSON document has an improper "
                  "structure: missing or superfluous commas, braces, missing keys, etc.",
                  "INVALID_ARGUMENT: not valid JSON at byte 0: Problem while parsing an atom "
                  "starting with the letter 'n'",
                  "INVALID_ARGUMENT: not valid JSON: Empty: no JSON found",
                  "INVALID_ARGUMENT: not valid JSON at byte 7: Problem while parsing a number",
                  "INVALID_ARGUMENT: not valid JSON at byte 7: The input is not valid UTF-8"));
  // The dead letter keeps the original event, and InvalidArgument is not retried.
  EXPECT_EQ(result.dead_letters[0].key, "a");
  EXPECT_EQ(result.dead_letters[0].value, "{\"id\": 1,");
  EXPECT_EQ(result.dead_letters[0].code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.dead_letters[0].attempts, 1u);
  EXPECT_EQ(result.report.events_dead_lettered(), 5u);
}

TEST(JsonParseStageTest, DeadLettersJsonThatIsNotAnObject) {
  StageRunResult result =
      RunStage("type: json_parse\n", {{.value = "[1, 2]"}, {.value = "\"text\""}, {.value = "7"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: expected a JSON object, got array",
                          "INVALID_ARGUMENT: expected a JSON object, got string",
                          "INVALID_ARGUMENT: expected a JSON object, got integer"));
}

TEST(JsonParseStageTest, NamesTheFirstMissingRequiredField) {
  StageRunResult result = RunStage("type: json_parse\nrequired: [/id, /user/name]\n",
                                   {{.value = R"({"id": 1, "user": {"name": "ada"}})"},
                                    {.value = R"({"id": 2, "user": {}})"},
                                    {.value = R"({"user": {"name": "bob"}})"},
                                    {.value = R"({"id": null, "user": {"name": null}})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  // A field that is there with value null is present.
  EXPECT_THAT(result.values(), ElementsAre(R"({"id": 1, "user": {"name": "ada"}})",
                                           R"({"id": null, "user": {"name": null}})"));
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: field \"/user/name\": required but missing",
                          "INVALID_ARGUMENT: field \"/id\": required but missing"));
}

TEST(JsonParseStageTest, NamesTheFieldWhoseTypeIsWrong) {
  StageRunResult result = RunStage(R"(
type: json_parse
types:
  /id: integer
  /amount: number
  /name: string
  /tags: array
  /meta: object
  /ok: boolean
)",
                                   {{.value = R"({"id": 1, "amount": 9.5, "name": "a", "tags": [],
                                                  "meta": {}, "ok": true})"},
                                    {.value = R"({"id": 1, "amount": "12.00"})"},
                                    {.value = R"({"id": 1.5})"},
                                    {.value = R"({"amount": 12, "tags": {}})"},
                                    {.value = R"({"ok": "true"})"},
                                    {.value = R"({"meta": null})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.emitted.size(), 1u);
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: field \"/amount\": expected number, got string",
                          "INVALID_ARGUMENT: field \"/id\": expected integer, got number",
                          "INVALID_ARGUMENT: field \"/tags\": expected array, got object",
                          "INVALID_ARGUMENT: field \"/ok\": expected boolean, got string",
                          "INVALID_ARGUMENT: field \"/meta\": expected object, got null"));
}

TEST(JsonParseStageTest, ChecksTheTypeOfAFieldOnlyWhenItIsThere) {
  StageRunResult result = RunStage("type: json_parse\ntypes: {/id: integer}\n",
                                   {{.value = R"({"name": "no id"})"}, {.value = R"({"id": 7})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.values(), ElementsAre(R"({"name": "no id"})", R"({"id": 7})"));
}

TEST(JsonParseStageTest, AcceptsAnyTypeOfAList) {
  StageRunResult result = RunStage(
      "type: json_parse\ntypes: {/id: [integer, string]}\n",
      {{.value = R"({"id": 7})"}, {.value = R"({"id": "u-7"})"}, {.value = R"({"id": [7]})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.values(), ElementsAre(R"({"id": 7})", R"({"id": "u-7"})"));
  EXPECT_THAT(
      result.dead_letter_errors(),
      ElementsAre("INVALID_ARGUMENT: field \"/id\": expected integer or string, got array"));
}

TEST(JsonParseStageTest, FollowsEscapedKeysAndArrayIndexes) {
  StageRunResult result =
      RunStage("type: json_parse\nrequired: [/a~1b, /m~0n, /tags/1]\ntypes: {/tags/0: string}\n",
               {{.value = R"({"a/b": 1, "m~n": 2, "tags": ["x", "y"]})"},
                {.value = R"({"a/b": 1, "m~n": 2, "tags": ["x"]})"},
                {.value = R"({"a/b": 1, "m~n": 2, "tags": [0, 1]})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.emitted.size(), 1u);
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: field \"/tags/1\": required but missing",
                          "INVALID_ARGUMENT: field \"/tags/0\": expected string, got integer"));
}

TEST(JsonParseStageTest, DeadLettersValuesOverMaxBytesBeforeParsing) {
  const std::string big = R"({"pad": ")" + std::string(100, 'x') + R"("})";
  StageRunResult result = RunStage("type: json_parse\nmax_bytes: 64\n",
                                   {{.value = R"({"id": 1})"}, {.value = big}, {.value = "[oops"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.values(), ElementsAre(R"({"id": 1})"));
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: value is 111 bytes, over max_bytes 64",
                          "INVALID_ARGUMENT: not valid JSON at byte 1: The JSON document has an "
                          "improper structure: missing or superfluous commas, braces, missing "
                          "keys, etc."));
}

TEST(JsonParseStageTest, MaxBytesTakesAUnit) {
  const std::string big = R"({"pad": ")" + std::string(70000, 'x') + R"("})";
  StageRunResult result =
      RunStage("type: json_parse\nmax_bytes: 64KiB\n", {{.value = R"({"id": 1})"}, {.value = big}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: value is 70011 bytes, over max_bytes 65536"));
}

TEST(JsonParseStageTest, ReusesItsParserAcrossBatchesOfGrowingAndShrinkingValues) {
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 40; ++i) {
    const size_t pad = (i % 7) * 900;
    inputs.push_back({.value = R"({"id": )" + std::to_string(i) + R"(, "pad": ")" +
                               std::string(pad, 'p') + R"("})"});
  }
  inputs[13].value = R"({"id": "thirteen"})";
  StageRunResult result = RunStage("type: json_parse\ntypes: {/id: integer}\n", inputs,
                                   HarnessOptions{.batch_size = 3});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.emitted.size(), 39u);
  EXPECT_THAT(result.dead_letter_errors(),
              ElementsAre("INVALID_ARGUMENT: field \"/id\": expected integer, got string"));
  EXPECT_EQ(result.report.events_acknowledged() + result.report.events_dead_lettered(), 40u);
}

// The byte an error message points at comes from a validator of our own
// (json_syntax.h), run only after simdjson refused a value. On randomly
// mutated documents the stage must refuse exactly what that validator finds
// invalid, and point at the byte it finds.
TEST(JsonParseStageTest, LocatesAnErrorInEveryValueSimdjsonRefuses) {
  constexpr uint32_t kSeed = 42;
  std::mt19937 random(kSeed);
  const std::string seeds[] = {
      R"({"a": [1, 2.5, -3e2, true, false, null, "x\"y\u00e9"], "b": {"c": {}}, "d": []})",
      "{\"n\": [0, -0.0, 1E+2, \"\\\\\", \"\\u20ac\"], \"s\": \"caf\xc3\xa9\"}",
  };
  const std::string alphabet = "{}[],:\"\\ 0123456789.eE+-tfnrulsa\x01\xc3\xa9\xff\xed\t\n";
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 5000; ++i) {
    std::string json = seeds[i % 2];
    for (int edits = 1 + static_cast<int>(random() % 3); edits > 0; --edits) {
      const size_t position = random() % (json.size() + 1);
      const char c = alphabet[random() % alphabet.size()];
      switch (random() % 3) {
        case 0:
          if (position < json.size()) json.erase(position, 1);
          break;
        case 1:
          json.insert(position, 1, c);
          break;
        default:
          if (position < json.size()) json[position] = c;
          break;
      }
    }
    inputs.push_back({.key = std::to_string(i), .value = std::move(json)});
  }
  StageRunResult result = RunStage("type: json_parse\n", inputs);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.emitted.size() + result.dead_letters.size(), inputs.size());
  for (const TestEvent& event : result.emitted) {
    EXPECT_EQ(FindJsonErrorOffset(event.value), std::nullopt)
        << "seed " << kSeed << ", event " << event.key << ": " << event.value;
  }
  size_t syntax_errors = 0;
  for (const DeadLetter& letter : result.dead_letters) {
    const std::optional<size_t> offset = FindJsonErrorOffset(letter.value);
    if (letter.error.find("not valid JSON") == std::string::npos) {
      // Valid JSON, not an object ("1", "[]" after the edits).
      EXPECT_EQ(offset, std::nullopt) << "seed " << kSeed << ", event " << letter.key;
      continue;
    }
    ++syntax_errors;
    ASSERT_NE(offset, std::nullopt) << "seed " << kSeed << ", event " << letter.key << ": "
                                    << letter.value << " refused with " << letter.error;
    // A UTF-8 error points at the first bad byte anywhere in the value.
    const size_t byte = letter.error.find("UTF-8") != std::string::npos
                            ? FindInvalidUtf8(letter.value).value_or(SIZE_MAX)
                            : *offset;
    EXPECT_THAT(letter.error, HasSubstr("at byte " + std::to_string(byte) + ": "))
        << "seed " << kSeed << ", event " << letter.key << ": " << letter.value;
  }
  EXPECT_GT(syntax_errors, 2500u);
}

TEST(JsonParseStageTest, ReportsAMisspelledOptionWithASuggestion) {
  absl::Status status = CheckStage("type: json_parse\nrequird: [/id]\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.ToString(), HasSubstr("stage.yaml:2:1: "));
  EXPECT_THAT(status.ToString(), HasSubstr("unknown key \"requird\"; did you mean \"required\"?"));
}

TEST(JsonParseStageTest, ReportsFieldsThatAreNotJsonPointers) {
  absl::Status status =
      CheckStage("type: json_parse\nrequired: [id, /ok]\ntypes: {amount: number}\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:2:12: stage \"stage\": required: \"id\" is not a JSON Pointer: "
                        "it must start with \"/\" (did you mean \"/id\"?)"));
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:3:9: stage \"stage\": types: \"amount\" is not a JSON "
                        "Pointer: it must start with \"/\" (did you mean \"/amount\"?)"));
}

TEST(JsonParseStageTest, ReportsABadEscapeInAPointer) {
  absl::Status status = CheckStage("type: json_parse\nrequired: /a~2b\n");
  EXPECT_THAT(status.ToString(),
              HasSubstr("required: \"/a~2b\" is not a valid JSON Pointer: \"~\" at byte 2 must "
                        "be followed by 0 or 1 (~0 is \"~\", ~1 is \"/\")"));
}

TEST(JsonParseStageTest, ReportsAnUnknownTypeName) {
  absl::Status status = CheckStage("type: json_parse\ntypes: {/id: int}\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.ToString(),
              HasSubstr("types: /id: \"int\" is not a type; use one of: null, boolean, integer, "
                        "number, string, array, object"));
}

TEST(JsonParseStageTest, ReportsABadMaxBytes) {
  EXPECT_THAT(CheckStage("type: json_parse\nmax_bytes: lots\n").ToString(),
              HasSubstr("max_bytes: expected a size (512, 64KiB, 1MiB), got \"lots\""));
  EXPECT_THAT(CheckStage("type: json_parse\nmax_bytes: 0\n").ToString(),
              HasSubstr("max_bytes: must be at least 1"));
}

}  // namespace
}  // namespace sluice::stages
