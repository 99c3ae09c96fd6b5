// The file source emits one event per line of an NDJSON file, with the line
// number as the event's offset, reads on a thread of its own, and finishes
// at the end of the file (or follows it).
#include "connectors/file/file_source.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/dead_letter_queue.h"
#include "pipeline/pipeline.h"
#include "tests/connectors/connector_test_util.h"
#include "tests/support/stage_harness.h"
#include "tests/support/test_stages.h"

namespace sluice::connectors {
namespace {

using ::sluice::testing::MakeMap;
using ::sluice::testing::MakeOriginSink;
using ::sluice::testing::OriginLog;
using ::sluice::testing::RecordedEvent;
using ::sluice::testing::RunSource;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TempDir;
using ::sluice::testing::WriteWholeFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Runs file source -> recording sink and returns what the sink saw.
std::vector<RecordedEvent> ReadThroughPipeline(FileSourceOptions options,
                                               RunReport* report = nullptr) {
  auto log = std::make_shared<OriginLog>();
  PipelineBuilder builder({.name = "file-source-test", .workers = 2});
  builder.AddProducer("lines", FileSource::Factory(std::move(options)));
  builder.AddConsumer("sink", MakeOriginSink(log), {.subscribe = {"lines"}, .max_demand = 64});
  auto pipeline = std::move(builder).Build();
  EXPECT_TRUE(pipeline.ok()) << pipeline.status();
  if (!pipeline.ok()) return {};
  absl::Status started = (*pipeline)->Start();
  EXPECT_TRUE(started.ok()) << started;
  if (!started.ok()) return {};
  RunReport run = (*pipeline)->Wait();
  EXPECT_TRUE(run.status.ok()) << run.status;
  if (report != nullptr) *report = run;
  return log->events();
}

TEST(FileSourceTest, EmitsEachLineWithItsLineNumberAsOffset) {
  TempDir dir;
  // Line 3 is empty (skipped), line 4 ends in CRLF, line 5 has no final newline.
  WriteWholeFile(dir.File("in.ndjson"), "{\"a\":1}\n{\"b\":2}\n\n{\"d\":4}\r\n{\"e\":5}");
  RunReport report;
  std::vector<RecordedEvent> events = ReadThroughPipeline({.path = dir.File("in.ndjson")}, &report);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].value, "{\"a\":1}");
  EXPECT_EQ(events[0].offset, 1);
  EXPECT_EQ(events[1].value, "{\"b\":2}");
  EXPECT_EQ(events[1].offset, 2);
  EXPECT_EQ(events[2].value, "{\"d\":4}");
  EXPECT_EQ(events[2].offset, 4);
  EXPECT_EQ(events[3].value, "{\"e\":5}");
  EXPECT_EQ(events[3].offset, 5);
  for (const RecordedEvent& event : events) {
    EXPECT_EQ(event.partition, 0);
    EXPECT_EQ(event.key, "");
  }
  EXPECT_EQ(report.events_acknowledged(), 4u);
  ASSERT_EQ(report.partitions.size(), 1u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(6));
}

TEST(FileSourceTest, ManyBlocksKeepEveryLineInOrder) {
  TempDir dir;
  // ~1.3 MB: several 256 KiB reads, lines cut across read boundaries, and
  // one line longer than a read.
  std::string text;
  std::vector<std::string> lines;
  for (int i = 0; i < 60'000; ++i) {
    lines.push_back("{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(i % 17, 'x') +
                    "\"}");
    if (i == 30'000) lines.back() = std::string(600'000, 'L');
    text += lines.back() + "\n";
  }
  WriteWholeFile(dir.File("big.ndjson"), text);
  std::vector<RecordedEvent> events = ReadThroughPipeline({.path = dir.File("big.ndjson")});
  ASSERT_EQ(events.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(events[i].value, lines[i]) << "line " << i + 1;
    ASSERT_EQ(events[i].offset, static_cast<int64_t>(i + 1));
  }
}

TEST(FileSourceTest, EmptyFileFinishesAtOnce) {
  TempDir dir;
  WriteWholeFile(dir.File("empty.ndjson"), "");
  EXPECT_TRUE(ReadThroughPipeline({.path = dir.File("empty.ndjson")}).empty());
}

TEST(FileSourceTest, DeadLetterNamesTheLine) {
  TempDir dir;
  WriteWholeFile(dir.File("in.ndjson"), "ok\nok\nok\nok\nok\nok\nbad\nok\n");
  auto log = std::make_shared<OriginLog>();
  PipelineBuilder builder({.name = "dlq-lines", .workers = 2});
  builder.AddProducer("lines", FileSource::Factory({.path = dir.File("in.ndjson")}));
  builder.AddProducerConsumer(
      "check", MakeMap([](const Event& event, const StageContext&) {
        return event.value() == "bad" ? absl::InvalidArgumentError("bad line") : absl::OkStatus();
      }),
      {.subscribe = {"lines"}, .retry = {.max_attempts = 1}});
  builder.AddConsumer("sink", MakeOriginSink(log), {.subscribe = {"check"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(log->events().size(), 7u);
  std::vector<DeadLetter> dead = (*pipeline)->dead_letters()->records();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, "bad");
  EXPECT_EQ(dead[0].origin.offset, Offset(7));  // line 7
  EXPECT_EQ(dead[0].source, "lines");
}

TEST(FileSourceTest, FollowEmitsLinesAppendedWhileRunning) {
  TempDir dir;
  const std::string path = dir.File("growing.ndjson");
  WriteWholeFile(path, "one\ntwo\nthr");  // the third line is still being written
  auto log = std::make_shared<OriginLog>();
  PipelineBuilder builder({.name = "follow", .workers = 2});
  builder.AddProducer(
      "lines",
      FileSource::Factory({.path = path, .follow = true, .poll_interval = absl::Milliseconds(5)}));
  builder.AddConsumer("sink", MakeOriginSink(log), {.subscribe = {"lines"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->Start().ok());
  ASSERT_TRUE(log->WaitFor(2));
  WriteWholeFile(path, "ee\nfour\n", /*append=*/true);
  ASSERT_TRUE(log->WaitFor(4));
  (*pipeline)->Drain();
  RunReport report = (*pipeline)->Wait();
  EXPECT_TRUE(report.status.ok()) << report.status;
  std::vector<RecordedEvent> events = log->events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2].value, "three");
  EXPECT_EQ(events[2].offset, 3);
  EXPECT_EQ(events[3].value, "four");
  EXPECT_EQ(events[3].offset, 4);
}

// Through the config loader and the runtime, as a pipeline file names it.

TEST(FileSourceConfigTest, RunSourceEmitsExactlyTheLines) {
  TempDir dir;
  WriteWholeFile(dir.File("orders.ndjson"), "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
  StageRunResult result = RunSource("type: file\npath: " + dir.File("orders.ndjson") + "\n");
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.values(), ElementsAre("{\"id\":1}", "{\"id\":2}", "{\"id\":3}"));
  EXPECT_EQ(result.report.events_acknowledged(), 3u);
  ASSERT_FALSE(result.report.partitions.empty());
  EXPECT_EQ(result.report.partitions[0].commit_point, Offset(4));  // after line 3
}

TEST(FileSourceConfigTest, MissingFileFailsTheStartNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("missing.ndjson");
  StageRunResult result = RunSource("type: file\npath: " + path + "\n");
  EXPECT_FALSE(result.status.ok());
  EXPECT_THAT(result.status.message(), HasSubstr(path));
  EXPECT_THAT(result.status.message(), HasSubstr("No such file"));
}

TEST(FileSourceConfigTest, LineLongerThanMaxLineBytesStopsThePipelineNamingTheLine) {
  TempDir dir;
  WriteWholeFile(dir.File("long.ndjson"), "short\n0123456789abcdef\n");
  StageRunResult result =
      RunSource("type: file\nmax_line_bytes: 10\npath: " + dir.File("long.ndjson") + "\n");
  EXPECT_FALSE(result.status.ok());
  EXPECT_THAT(result.status.message(), HasSubstr("long.ndjson:2"));
  EXPECT_THAT(result.status.message(), HasSubstr("max_line_bytes"));
}

TEST(FileSourceConfigTest, PathIsRequired) {
  StageRunResult result = RunSource("type: file\nfollow: true\n");
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status.message(), HasSubstr("path"));
}

TEST(FileSourceConfigTest, ConcurrencyAboveOneIsAConfigError) {
  StageRunResult result = RunSource("type: file\npath: x.ndjson\nconcurrency: 2\n");
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status.message(), HasSubstr("concurrency must be 1"));
}

}  // namespace
}  // namespace sluice::connectors
