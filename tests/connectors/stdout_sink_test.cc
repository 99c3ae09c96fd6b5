// The stdout sink prints one line per event, as the value or as a JSON
// object, from a writer thread, and acknowledges after the write.
#include "connectors/stdout/stdout_sink.h"

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <fcntl.h>
#include <unistd.h>

#include "pipeline/pipeline.h"
#include "tests/connectors/connector_test_util.h"
#include "tests/support/stage_harness.h"
#include "tests/support/test_stages.h"

namespace sluice::connectors {
namespace {

using ::sluice::testing::GeneratorState;
using ::sluice::testing::MakeGenerator;
using ::sluice::testing::ReadWholeFile;
using ::sluice::testing::RunSink;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TempDir;
using ::sluice::testing::TestEvent;
using ::testing::HasSubstr;

std::string Line(const EventFields& fields, StdoutFormat format) {
  EventBatch batch;
  const Event& event = batch.Append(fields);
  std::string out;
  AppendEventLine(event, format, out);
  return out;
}

TEST(StdoutFormatTest, ValueFormatIsTheValueAndANewline) {
  EXPECT_EQ(Line({.key = "k", .value = R"({"a":1})"}, StdoutFormat::kValue), "{\"a\":1}\n");
}

TEST(StdoutFormatTest, JsonFormatHasKeyValueHeadersTimestampAndOrigin) {
  const Header headers[] = {{"trace", "abc"}, {"route", "eu"}};
  EventFields fields{.key = "user-7",
                     .value = R"({"a":1})",
                     .headers = headers,
                     .timestamp_us = 1'700'000'000'000'000};
  fields.origin.partition = Partition(3);
  fields.origin.offset = Offset(42);
  EXPECT_EQ(Line(fields, StdoutFormat::kJson),
            R"({"key":"user-7","value":"{\"a\":1}","headers":{"trace":"abc","route":"eu"},)"
            R"("timestamp_us":1700000000000000,"origin":{"partition":3,"offset":42}})"
            "\n");
}

TEST(StdoutFormatTest, JsonStringsEscapeControlsAndReplaceInvalidUtf8) {
  std::string out;
  AppendJsonString(std::string("q\"b\\n\nt\tc\x01\x7f", 11), out);
  EXPECT_EQ(out, R"("q\"b\\n\nt\tc\u0001\u007f")");
  out.clear();
  AppendJsonString("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", out);  // é € 😀 pass through
  EXPECT_EQ(out, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  out.clear();
  // A lone continuation byte, a truncated sequence, an overlong encoding and
  // a surrogate each become U+FFFD.
  AppendJsonString("a\x80z \xe2\x82 \xc0\xaf \xed\xa0\x80", out);
  EXPECT_EQ(out, R"("a\ufffdz \ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd")");
}

TEST(StdoutSinkTest, WritesEveryEventThroughItsWriterThread) {
  TempDir dir;
  const std::string path = dir.File("stdout.txt");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  auto state = std::make_shared<GeneratorState>();
  PipelineBuilder builder({.name = "stdout", .workers = 2});
  builder.AddProducer("gen", MakeGenerator(state, {.total = 500}));
  builder.AddConsumer("print", StdoutSink::Factory({}, fd), {.subscribe = {"gen"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_acknowledged(), 500u);
  ::close(fd);
  std::string expected;
  for (uint64_t i = 0; i < 500; ++i) expected += sluice::testing::EventValue(i) + "\n";
  EXPECT_EQ(ReadWholeFile(path), expected);
}

// Points file descriptor 1 at a file for the life of the object.
class CaptureStdout {
 public:
  explicit CaptureStdout(const std::string& path) {
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(fd, STDOUT_FILENO);
    ::close(fd);
  }
  ~CaptureStdout() {
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
};

TEST(StdoutSinkConfigTest, RunsFromYamlAndPrintsJsonLines) {
  TempDir dir;
  const std::string path = dir.File("captured.txt");
  StageRunResult result;
  {
    CaptureStdout capture(path);
    result = RunSink("type: stdout\nformat: json\n",
                     {{.key = "k1", .value = "v1"}, {.key = "k2", .value = "v\"2"}});
  }
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 2u);
  const std::string printed = ReadWholeFile(path);
  EXPECT_THAT(printed, HasSubstr(R"({"key":"k1","value":"v1","headers":{},)"));
  EXPECT_THAT(printed, HasSubstr(R"({"key":"k2","value":"v\"2","headers":{},)"));
  EXPECT_THAT(printed, HasSubstr(R"("origin":{"partition":0,"offset":1}})"));
}

TEST(StdoutSinkConfigTest, ValueFormatIsTheDefault) {
  TempDir dir;
  const std::string path = dir.File("captured.txt");
  StageRunResult result;
  {
    CaptureStdout capture(path);
    result = RunSink("type: stdout\n", {{.value = "first"}, {.value = "second"}});
  }
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(ReadWholeFile(path), "first\nsecond\n");
}

TEST(StdoutSinkConfigTest, UnknownFormatIsAConfigError) {
  StageRunResult result = RunSink("type: stdout\nformat: yaml\n", {});
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status.message(), HasSubstr("value, json"));
}

// `null` is YAML's null: the type name must be quoted.
TEST(NullSinkConfigTest, AcknowledgesEverything) {
  std::vector<TestEvent> inputs(100, TestEvent{.value = "x"});
  StageRunResult result = RunSink("type: \"null\"\n", inputs, {.batch_size = 9});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 100u);
}

}  // namespace
}  // namespace sluice::connectors
