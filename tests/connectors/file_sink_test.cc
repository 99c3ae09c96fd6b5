// The file sink appends each event's value and a newline, in arrival order,
// acknowledges only what was written, and fails (never loses) what it could
// not write.
#include "connectors/file/file_sink.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <unistd.h>

#include "connectors/internal/batch_writer.h"
#include "tests/connectors/connector_test_util.h"
#include "tests/support/stage_harness.h"

namespace sluice::connectors {
namespace {

using ::sluice::testing::ReadWholeFile;
using ::sluice::testing::RunSink;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TempDir;
using ::sluice::testing::TestEvent;
using ::sluice::testing::WriteWholeFile;
using ::testing::HasSubstr;

std::vector<TestEvent> NumberedEvents(int count) {
  std::vector<TestEvent> events;
  for (int i = 0; i < count; ++i) events.push_back({.value = "{\"n\":" + std::to_string(i) + "}"});
  return events;
}

std::string ExpectedLines(const std::vector<TestEvent>& events) {
  std::string text;
  for (const TestEvent& event : events) text += event.value + "\n";
  return text;
}

TEST(FileSinkTest, WritesEveryValueAsALineInArrivalOrder) {
  TempDir dir;
  const std::string path = dir.File("x/out.ndjson");  // the directory is created
  const std::vector<TestEvent> inputs = NumberedEvents(2500);
  StageRunResult result = RunSink("type: file\npath: " + path + "\n", inputs, {.batch_size = 7});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(ReadWholeFile(path), ExpectedLines(inputs));
  EXPECT_EQ(result.report.events_acknowledged(), inputs.size());
  EXPECT_TRUE(result.dead_letters.empty());
}

TEST(FileSinkTest, AppendsToAnExistingFile) {
  TempDir dir;
  const std::string path = dir.File("out.ndjson");
  WriteWholeFile(path, "{\"earlier\":true}\n");
  const std::vector<TestEvent> inputs = NumberedEvents(3);
  ASSERT_TRUE(RunSink("type: file\npath: " + path + "\n", inputs).status.ok());
  EXPECT_EQ(ReadWholeFile(path), "{\"earlier\":true}\n" + ExpectedLines(inputs));
}

TEST(FileSinkTest, IntervalFlushAndFsyncWriteEverythingByTheEnd) {
  TempDir dir;
  const std::string path = dir.File("out.ndjson");
  const std::vector<TestEvent> inputs = NumberedEvents(1000);
  // An hour-long interval: only flush_events and the final flush write.
  StageRunResult result = RunSink("type: file\npath: " + path +
                                      "\nflush: interval\nflush_interval: 1h\nflush_events: 100"
                                      "\nfsync: every_flush\n",
                                  inputs, {.batch_size = 30});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(ReadWholeFile(path), ExpectedLines(inputs));
  EXPECT_EQ(result.report.events_acknowledged(), inputs.size());
}

TEST(FileSinkTest, FsyncIntervalWritesEverything) {
  TempDir dir;
  const std::string path = dir.File("out.ndjson");
  const std::vector<TestEvent> inputs = NumberedEvents(200);
  StageRunResult result =
      RunSink("type: file\npath: " + path + "\nfsync: interval\nfsync_interval: 10ms\n", inputs,
              {.batch_size = 10});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(ReadWholeFile(path), ExpectedLines(inputs));
}

TEST(FileSinkTest, ValueWithANewlineIsDeadLetteredNotSplit) {
  TempDir dir;
  const std::string path = dir.File("out.ndjson");
  StageRunResult result = RunSink("type: file\npath: " + path + "\n",
                                  {{.value = "a"}, {.value = "b\nc"}, {.value = "d"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(ReadWholeFile(path), "a\nd\n");
  ASSERT_EQ(result.dead_letters.size(), 1u);
  EXPECT_EQ(result.dead_letters[0].value, "b\nc");
  EXPECT_THAT(result.dead_letters[0].error, HasSubstr("newline"));
}

TEST(FileSinkTest, WriteErrorFailsTheEventsForRetryInsteadOfAcknowledging) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  StageRunResult result =
      RunSink("type: file\npath: /dev/full\n", NumberedEvents(20), {.batch_size = 5});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 0u);
  ASSERT_EQ(result.dead_letters.size(), 20u);
  EXPECT_THAT(result.dead_letters[0].error, HasSubstr("No space left"));
  EXPECT_EQ(result.dead_letters[0].code, absl::StatusCode::kUnavailable);
}

TEST(FileSinkTest, UnopenablePathFailsTheStartNamingIt) {
  TempDir dir;
  WriteWholeFile(dir.File("plain-file"), "x");
  const std::string path = dir.File("plain-file/out.ndjson");
  StageRunResult result = RunSink("type: file\npath: " + path + "\n", NumberedEvents(1));
  EXPECT_FALSE(result.status.ok());
  EXPECT_THAT(result.status.message(), HasSubstr("plain-file"));
}

TEST(FileSinkConfigTest, ConcurrencyAboveOneIsAConfigError) {
  StageRunResult result =
      RunSink("type: file\npath: out.ndjson\nconcurrency: 2\n", NumberedEvents(1));
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status.message(), HasSubstr("concurrency must be 1"));
}

TEST(FileSinkConfigTest, BadPoliciesAreConfigErrors) {
  StageRunResult result =
      RunSink("type: file\npath: out.ndjson\nflush: sometimes\nfsync: always\n", {});
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status.message(), HasSubstr("every_batch, interval"));
  EXPECT_THAT(result.status.message(), HasSubstr("never, every_flush, interval"));
}

// The writer thread alone: default PendingAcks complete nothing, so it can
// be driven without a pipeline.
TEST(BatchWriterTest, IntervalModeWritesWhenFlushEventsAreHeldAndOnStop) {
  TempDir dir;
  const std::string path = dir.File("direct.ndjson");
  absl::StatusOr<internal::FileDescriptor> fd = internal::OpenForAppend(path);
  ASSERT_TRUE(fd.ok());
  internal::BatchWriter writer(fd->get(),
                               {.what = "test",
                                .path = path,
                                .flush = internal::FlushMode::kInterval,
                                .flush_interval = absl::Hours(1),
                                .flush_events = 1'000'000,
                                .fsync = internal::FsyncMode::kEveryFlush},
                               [](const EventBatch& events, std::string& out) {
                                 for (const Event& event : events)
                                   out.append(std::string(event.value()) + "\n");
                               });
  EventBatch batch;
  batch.Append({.value = "one"});
  batch.Append({.value = "two"});
  writer.Submit(std::move(batch), PendingAcks());
  writer.Stop();
  EXPECT_EQ(ReadWholeFile(path), "one\ntwo\n");
  EXPECT_EQ(writer.flushes(), 1u);
  EXPECT_EQ(writer.syncs(), 1u);
}

}  // namespace
}  // namespace sluice::connectors
