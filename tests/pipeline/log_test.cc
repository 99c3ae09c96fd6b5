// pipeline/log.h: the line formats, secret masking and W3C trace ids.
#include "pipeline/log.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST(TraceIdTest, ReadsTheTraceIdOfAValidTraceparent) {
  EXPECT_EQ(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  // Upper case is read, reported in lower case; a future version may append.
  EXPECT_EQ(TraceIdOf("01-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01-extra"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(TraceIdTest, RejectsMalformedTraceparents) {
  EXPECT_EQ(TraceIdOf(""), "");
  EXPECT_EQ(TraceIdOf("abc"), "");
  // All-zero trace id, version ff, a non-hex digit, a wrong separator.
  EXPECT_EQ(TraceIdOf("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(TraceIdOf("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(TraceIdOf("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"), "");
}

TEST(LogOptionsTest, ParsesFormatsAndLevels) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_THAT(std::string(ParseLogFormat("xml").status().message()),
              HasSubstr("expected text or json"));
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("DEBUG"), spdlog::level::debug);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
}

TEST(RedactTest, MasksEveryRegisteredSecretLongestFirst) {
  AddSecret("p4ss-word-1");
  AddSecret("p4ss-word-1-longer");
  AddSecret("ab");  // too short to mask
  EXPECT_EQ(Redact("a p4ss-word-1 and p4ss-word-1-longer, ab"), "a ****** and ******, ab");
  EXPECT_EQ(Redact("nothing here"), "nothing here");
}

// Everything the logger writes in one test, captured from stderr.
std::string Logged(LogFormat format, void (*write)()) {
  ConfigureLogging({.format = format, .level = spdlog::level::info});
  ::testing::internal::CaptureStderr();
  write();
  spdlog::default_logger()->flush();
  std::string text = ::testing::internal::GetCapturedStderr();
  // The other tests of this binary: quiet, as if unconfigured.
  ConfigureLogging({.level = spdlog::level::warn});
  return text;
}

TEST(LogEventTest, JsonLinesCarryTimeLevelEventAndFieldsInOrder) {
  AddSecret("hunter2-secret");
  const std::string text = Logged(LogFormat::kJson, [] {
    LogEvent(spdlog::level::err, "stage_crashed")
        .Pipeline("orders")
        .Stage("parse")
        .Instance(2)
        .Field("reason", "crashed: \"quoted\" hunter2-secret\n")
        .Field("events", uint64_t{7});
    LogEvent(spdlog::level::debug, "offsets_committed").Field("offsets", "t/0@5");  // below info
    spdlog::warn("librdkafka says hunter2-secret");
  });
  EXPECT_THAT(
      text,
      MatchesRegex(
          R"(\{"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{15}Z","level":"error","event":"stage_crashed",)"
          R"("pipeline":"orders","stage":"parse","instance":2,"reason":"crashed: \\"quoted\\" \*\*\*\*\*\*\\n",)"
          R"("events":7\})"
          "\n"
          R"(\{"time":"[^"]+","level":"warn","event":"log","message":"librdkafka says \*\*\*\*\*\*"\})"
          "\n"));
}

TEST(LogEventTest, TextLinesAreKeyValueWithQuotedValuesWhereNeeded) {
  const std::string text = Logged(LogFormat::kText, [] {
    LogEvent(spdlog::level::info, "partitions_assigned")
        .Pipeline("orders")
        .Stage("in")
        .Instance(0)
        .Field("count", 2)
        .Field("partitions", "orders/0, orders/1")
        .Field("empty", "");
  });
  EXPECT_THAT(text, MatchesRegex(R"([0-9T:.Z-]+ info partitions_assigned pipeline=orders stage=in )"
                                 R"(instance=0 count=2 partitions="orders/0, orders/1" empty=""
)"));
  EXPECT_THAT(text, Not(HasSubstr("{")));
}

}  // namespace
}  // namespace sluice
