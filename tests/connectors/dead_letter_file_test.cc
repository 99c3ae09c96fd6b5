// The file dead-letter backend writes checksummed, length-prefixed records
// and reads them back byte for byte; a torn tail or a damaged record is
// detected, reported and skipped, never a crash.
#include "connectors/file/dead_letter_file.h"

#include <future>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <unistd.h>

#include "pipeline/config/dead_letter_registry.h"
#include "tests/connectors/connector_test_util.h"

namespace sluice::connectors {
namespace {

using ::sluice::testing::ReadWholeFile;
using ::sluice::testing::TempDir;
using ::sluice::testing::WriteWholeFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

DeadLetter MakeLetter(int i) {
  DeadLetter letter;
  letter.key = "key-" + std::to_string(i);
  // Binary bytes, a NUL and the frame magic itself inside the value: the
  // format must not care.
  letter.value = std::string("{\"n\":") + std::to_string(i) + "}" + std::string(1, '\0') +
                 std::string(kDeadLetterFrameMagic) + std::string(i % 7, '\xff');
  letter.headers = {{"trace", "t-" + std::to_string(i)}, {"empty", ""}};
  letter.timestamp_us = 1'700'000'000'000'000 + i;
  letter.pipeline = "orders";
  letter.stage = "parse";
  letter.error = "INVALID_ARGUMENT: field \"amount\": not a number";
  letter.code = absl::StatusCode::kInvalidArgument;
  letter.attempts = 3;
  letter.failed_at = absl::FromUnixMicros(1'700'000'123'456'789 + i);
  letter.source = "orders-in";
  letter.origin.partition = Partition(2);
  letter.origin.offset = Offset(100 + i);
  return letter;
}

absl::Status WriteAndWait(DeadLetterQueue& queue, std::vector<DeadLetter> letters) {
  std::promise<absl::Status> written;
  std::future<absl::Status> result = written.get_future();
  queue.Write(std::make_shared<const std::vector<DeadLetter>>(std::move(letters)),
              [&written](absl::Status status) { written.set_value(std::move(status)); });
  return result.get();
}

std::string Frame(const DeadLetter& letter) {
  std::string frame;
  EXPECT_TRUE(AppendDeadLetterFrame(MakeDeadLetterRecord(letter), frame).ok());
  return frame;
}

TEST(DeadLetterRecordTest, AddsTheDlqHeadersAfterTheEventsOwn) {
  const DeadLetterRecord record = MakeDeadLetterRecord(MakeLetter(1));
  EXPECT_EQ(record.key, "key-1");
  EXPECT_THAT(
      record.headers,
      ElementsAre(Pair("trace", "t-1"), Pair("empty", ""), Pair(kDlqPipelineHeader, "orders"),
                  Pair(kDlqStageHeader, "parse"),
                  Pair(kDlqErrorHeader, "INVALID_ARGUMENT: field \"amount\": not a number"),
                  Pair(kDlqErrorCodeHeader, "INVALID_ARGUMENT"), Pair(kDlqAttemptsHeader, "3"),
                  Pair(kDlqFailedAtHeader, "2023-11-14T22:15:23.45679+00:00"),
                  Pair(kDlqSourceStageHeader, "orders-in"), Pair(kDlqSourcePartitionHeader, "2"),
                  Pair(kDlqSourceOffsetHeader, "101"), Pair(kDlqReplayCountHeader, "0")));
}

TEST(DeadLetterRecordTest, ParseInvertsMake) {
  const DeadLetter letter = MakeLetter(4);
  absl::StatusOr<ParsedDeadLetter> parsed = ParseDeadLetterRecord(MakeDeadLetterRecord(letter));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->letter.key, letter.key);
  EXPECT_EQ(parsed->letter.value, letter.value);
  EXPECT_EQ(parsed->letter.headers, letter.headers);
  EXPECT_EQ(parsed->letter.timestamp_us, letter.timestamp_us);
  EXPECT_EQ(parsed->letter.pipeline, letter.pipeline);
  EXPECT_EQ(parsed->letter.stage, letter.stage);
  EXPECT_EQ(parsed->letter.error, letter.error);
  EXPECT_EQ(parsed->letter.code, letter.code);
  EXPECT_EQ(parsed->letter.attempts, letter.attempts);
  EXPECT_EQ(parsed->letter.failed_at, letter.failed_at);
  EXPECT_EQ(parsed->letter.source, letter.source);
  EXPECT_EQ(parsed->letter.origin.partition, letter.origin.partition);
  EXPECT_EQ(parsed->letter.origin.offset, letter.origin.offset);
  EXPECT_EQ(parsed->replay_count, 0u);
  EXPECT_EQ(parsed->letter.source_topic, "");
  EXPECT_EQ(parsed->letter.source_partition, -1);
}

TEST(DeadLetterRecordTest, ANamedPartitionWritesTheTopicAndItsOwnPartitionNumber) {
  DeadLetter letter = MakeLetter(5);
  letter.source_topic = "orders";
  letter.source_partition = 7;  // origin.partition is the source-local 2
  const DeadLetterRecord record = MakeDeadLetterRecord(letter);
  EXPECT_THAT(record.headers, ::testing::Contains(Pair(kDlqSourceTopicHeader, "orders")));
  EXPECT_THAT(record.headers, ::testing::Contains(Pair(kDlqSourcePartitionHeader, "7")));
  absl::StatusOr<ParsedDeadLetter> parsed = ParseDeadLetterRecord(record);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->letter.source_topic, "orders");
  EXPECT_EQ(parsed->letter.source_partition, 7);
  EXPECT_EQ(parsed->letter.origin.offset, Offset(105));
}

TEST(DeadLetterRecordTest, ReplayedEventKeepsItsReplayCountAndLosesOldMetadata) {
  DeadLetter letter = MakeLetter(2);
  letter.headers.emplace_back(std::string(kDlqReplayCountHeader), "2");
  letter.headers.emplace_back(std::string(kDlqStageHeader), "an-older-stage");
  const DeadLetterRecord record = MakeDeadLetterRecord(letter);
  absl::StatusOr<ParsedDeadLetter> parsed = ParseDeadLetterRecord(record);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->replay_count, 2u);
  EXPECT_EQ(parsed->letter.stage, "parse");
  EXPECT_THAT(parsed->letter.headers, ElementsAre(Pair("trace", "t-2"), Pair("empty", "")));
}

TEST(DeadLetterRecordTest, MalformedMetadataIsDataLoss) {
  DeadLetterRecord record = MakeDeadLetterRecord(MakeLetter(1));
  for (auto& [name, value] : record.headers) {
    if (name == kDlqSourceOffsetHeader) value = "seven";
  }
  absl::StatusOr<ParsedDeadLetter> parsed = ParseDeadLetterRecord(record);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(parsed.status().message(), HasSubstr("seven"));
}

TEST(DeadLetterFileTest, WritesRecordsAndReadsThemBackByteExact) {
  TempDir dir;
  const std::string path = dir.File("dlq/dead-letters.log");  // parent made on first write
  std::vector<DeadLetter> letters;
  std::string expected_bytes;
  for (int i = 0; i < 50; ++i) {
    letters.push_back(MakeLetter(i));
    expected_bytes += Frame(letters.back());
  }
  {
    DeadLetterFileQueue queue({.path = path});
    // In three writes of uneven sizes.
    ASSERT_TRUE(WriteAndWait(queue, {letters.begin(), letters.begin() + 1}).ok());
    ASSERT_TRUE(WriteAndWait(queue, {letters.begin() + 1, letters.begin() + 30}).ok());
    ASSERT_TRUE(WriteAndWait(queue, {letters.begin() + 30, letters.end()}).ok());
  }
  EXPECT_EQ(ReadWholeFile(path), expected_bytes);

  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(path);
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->entries.size(), letters.size());
  uint64_t position = 0;
  for (size_t i = 0; i < letters.size(); ++i) {
    EXPECT_EQ(contents->entries[i].record, MakeDeadLetterRecord(letters[i])) << i;
    EXPECT_EQ(contents->entries[i].position, position);
    position += Frame(letters[i]).size();
  }
  EXPECT_EQ(contents->stats.records, 50u);
  EXPECT_EQ(contents->stats.corrupt_regions, 0u);
  EXPECT_EQ(contents->stats.skipped_bytes, 0u);
  EXPECT_EQ(contents->stats.torn_tail_bytes, 0u);
}

TEST(DeadLetterFileTest, ConcurrentWritersEachGetTheirDoneOnce) {
  TempDir dir;
  const std::string path = dir.File("dead-letters.log");
  constexpr int kThreads = 4;
  constexpr int kWritesPerThread = 25;
  {
    DeadLetterFileQueue queue({.path = path, .fsync = DeadLetterFsync::kNever});
    std::vector<std::thread> threads;
    std::vector<int> done_calls(kThreads * kWritesPerThread, 0);
    std::vector<std::future<absl::Status>> results;
    std::vector<std::promise<absl::Status>> promises(kThreads * kWritesPerThread);
    for (auto& promise : promises) results.push_back(promise.get_future());
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int w = 0; w < kWritesPerThread; ++w) {
          const int index = t * kWritesPerThread + w;
          queue.Write(std::make_shared<const std::vector<DeadLetter>>(
                          std::vector<DeadLetter>{MakeLetter(index)}),
                      [&, index](absl::Status status) {
                        ++done_calls[index];
                        promises[index].set_value(std::move(status));
                      });
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (auto& result : results) EXPECT_TRUE(result.get().ok());
    for (int calls : done_calls) EXPECT_EQ(calls, 1);
  }
  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->entries.size(), static_cast<size_t>(kThreads * kWritesPerThread));
}

class DamagedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 5; ++i) {
      letters_.push_back(MakeLetter(i));
      frames_.push_back(Frame(letters_.back()));
      starts_.push_back(bytes_.size());
      bytes_ += frames_.back();
    }
  }

  std::vector<std::string> Keys(const DeadLetterFileContents& contents) {
    std::vector<std::string> keys;
    for (const DeadLetterFileEntry& entry : contents.entries) keys.push_back(entry.record.key);
    return keys;
  }

  TempDir dir_;
  const std::string path_ = dir_.File("dead-letters.log");
  std::vector<DeadLetter> letters_;
  std::vector<std::string> frames_;
  std::vector<size_t> starts_;
  std::string bytes_;
};

TEST_F(DamagedFileTest, TruncatedMidRecordReturnsCompleteRecordsAndReportsTornTail) {
  const size_t cut = bytes_.size() - 7;
  WriteWholeFile(path_, std::string_view(bytes_).substr(0, cut));
  auto reader = DeadLetterFileReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  std::vector<std::string> keys;
  DeadLetterFileEntry entry;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(entry);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    keys.push_back(entry.record.key);
  }
  EXPECT_THAT(keys, ElementsAre("key-0", "key-1", "key-2", "key-3"));
  EXPECT_EQ((*reader)->stats().torn_tail_bytes, frames_[4].size() - 7);
  EXPECT_EQ((*reader)->stats().corrupt_regions, 0u);
  // A resumed read starts where the torn record starts.
  EXPECT_EQ((*reader)->position(), starts_[4]);
}

TEST_F(DamagedFileTest, TruncatedInsideTheFrameHeaderIsATornTail) {
  WriteWholeFile(path_, std::string_view(bytes_).substr(0, starts_[4] + 5));
  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(path_);
  ASSERT_TRUE(contents.ok());
  EXPECT_THAT(Keys(*contents), ElementsAre("key-0", "key-1", "key-2", "key-3"));
  EXPECT_EQ(contents->stats.torn_tail_bytes, 5u);
}

TEST_F(DamagedFileTest, FlippedPayloadByteFailsTheChecksumAndIsSkipped) {
  std::string damaged = bytes_;
  damaged[starts_[2] + kDeadLetterFrameHeaderBytes + 20] ^= 0x01;
  WriteWholeFile(path_, damaged);
  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(path_);
  ASSERT_TRUE(contents.ok());
  EXPECT_THAT(Keys(*contents), ElementsAre("key-0", "key-1", "key-3", "key-4"));
  EXPECT_EQ(contents->stats.corrupt_regions, 1u);
  EXPECT_EQ(contents->stats.skipped_bytes, frames_[2].size());
  EXPECT_EQ(contents->stats.torn_tail_bytes, 0u);
  EXPECT_EQ(contents->entries[2].position, starts_[3]);
}

TEST_F(DamagedFileTest, DamagedLengthIsCorruptionNotATornTail) {
  std::string damaged = bytes_;
  // Claims a payload running past the end of the file.
  damaged[starts_[1] + 6] = '\x7f';
  WriteWholeFile(path_, damaged);
  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(path_);
  ASSERT_TRUE(contents.ok());
  EXPECT_THAT(Keys(*contents), ElementsAre("key-0", "key-2", "key-3", "key-4"));
  EXPECT_EQ(contents->stats.corrupt_regions, 1u);
  EXPECT_EQ(contents->stats.torn_tail_bytes, 0u);
}

TEST_F(DamagedFileTest, DamagedMagicIsSkipped) {
  std::string damaged = bytes_;
  damaged[starts_[0]] = 'X';
  WriteWholeFile(path_, damaged);
  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(path_);
  ASSERT_TRUE(contents.ok());
  EXPECT_THAT(Keys(*contents), ElementsAre("key-1", "key-2", "key-3", "key-4"));
  EXPECT_EQ(contents->stats.skipped_bytes, frames_[0].size());
}

TEST_F(DamagedFileTest, WriterAppendsAfterATornTailAndTheReaderResyncs) {
  WriteWholeFile(path_, std::string_view(bytes_).substr(0, bytes_.size() - 3));
  {
    DeadLetterFileQueue queue({.path = path_});
    ASSERT_TRUE(WriteAndWait(queue, {MakeLetter(9)}).ok());
  }
  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(path_);
  ASSERT_TRUE(contents.ok());
  EXPECT_THAT(Keys(*contents), ElementsAre("key-0", "key-1", "key-2", "key-3", "key-9"));
  EXPECT_EQ(contents->stats.corrupt_regions, 1u);
  EXPECT_EQ(contents->stats.skipped_bytes, frames_[4].size() - 3);
}

TEST_F(DamagedFileTest, ResumesFromAPosition) {
  WriteWholeFile(path_, bytes_);
  auto reader = DeadLetterFileReader::Open(path_, starts_[3]);
  ASSERT_TRUE(reader.ok());
  DeadLetterFileEntry entry;
  ASSERT_TRUE(*(*reader)->Next(entry));
  EXPECT_EQ(entry.record.key, "key-3");
  EXPECT_EQ(entry.position, starts_[3]);
}

TEST(DeadLetterFileTest, GarbageNeverCrashesTheReader) {
  TempDir dir;
  std::mt19937 random(20240601);  // fixed seed: reproducible
  for (int round = 0; round < 20; ++round) {
    std::string bytes(1 + random() % 5000, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    // Sprinkle magics and plausible lengths to reach the deeper branches.
    for (int m = 0; m < 5; ++m) {
      const size_t at = random() % bytes.size();
      bytes.replace(at, std::min(bytes.size() - at, size_t{4}), kDeadLetterFrameMagic);
    }
    const std::string path = dir.File("garbage-" + std::to_string(round));
    WriteWholeFile(path, bytes);
    absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(path);
    ASSERT_TRUE(contents.ok()) << contents.status();
    EXPECT_EQ(contents->stats.skipped_bytes + contents->stats.torn_tail_bytes, bytes.size());
  }
}

TEST(DeadLetterFileTest, EmptyFileHasNoRecords) {
  TempDir dir;
  WriteWholeFile(dir.File("empty.log"), "");
  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(dir.File("empty.log"));
  ASSERT_TRUE(contents.ok());
  EXPECT_TRUE(contents->entries.empty());
  EXPECT_EQ(contents->stats.torn_tail_bytes, 0u);
}

TEST(DeadLetterFileTest, MissingFileIsNotFound) {
  TempDir dir;
  EXPECT_EQ(ReadDeadLetterFile(dir.File("nope.log")).status().code(), absl::StatusCode::kNotFound);
}

TEST(DeadLetterFileTest, UnwritablePathFailsTheWriteAsUnavailable) {
  TempDir dir;
  WriteWholeFile(dir.File("a-file"), "x");
  DeadLetterFileQueue queue({.path = dir.File("a-file/dead-letters.log")});
  absl::Status status = WriteAndWait(queue, {MakeLetter(1)});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("a-file"));
}

TEST(DeadLetterFileTest, FullDiskFailsTheWriteAsUnavailable) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  DeadLetterFileQueue queue({.path = "/dev/full"});
  absl::Status status = WriteAndWait(queue, {MakeLetter(1)});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("No space left"));
}

// The `dead_letter: {type: file}` maker, called as the config loader does.
std::shared_ptr<DeadLetterQueue> MakeFromConfig(const ConfigNode& node, ConfigErrors& errors,
                                                std::string_view config_dir,
                                                std::string_view data_dir) {
  const DeadLetterMaker* maker = DeadLetterRegistry::Global().Find("file");
  EXPECT_NE(maker, nullptr);
  if (maker == nullptr) return nullptr;
  OptionReader options(&node, "dead_letter", errors);
  options.Known("type");
  DeadLetterTypeContext context{
      .pipeline_name = "p", .config_dir = config_dir, .data_dir = data_dir, .options = options};
  std::shared_ptr<DeadLetterQueue> queue = (*maker)(context);
  options.Finish();
  return queue;
}

TEST(DeadLetterFileRegistryTest, DefaultsToDeadLettersLogInTheDataDir) {
  ConfigNode node = ConfigNode::Map({});
  node.Set("type", {}, ConfigNode::Scalar("file", {}));
  ConfigErrors errors;
  std::shared_ptr<DeadLetterQueue> queue =
      MakeFromConfig(node, errors, "/etc/sluice", "/var/lib/x");
  ASSERT_TRUE(errors.empty()) << errors.ToStatus();
  auto* file_queue = dynamic_cast<DeadLetterFileQueue*>(queue.get());
  ASSERT_NE(file_queue, nullptr);
  EXPECT_EQ(file_queue->path(), "/var/lib/x/dead-letters.log");
}

TEST(DeadLetterFileRegistryTest, RelativePathResolvesAgainstTheConfigDir) {
  ConfigNode node = ConfigNode::Map({});
  node.Set("type", {}, ConfigNode::Scalar("file", {}));
  node.Set("path", {}, ConfigNode::Scalar("dlq/failed.log", {}));
  node.Set("fsync", {}, ConfigNode::Scalar("never", {}));
  ConfigErrors errors;
  std::shared_ptr<DeadLetterQueue> queue = MakeFromConfig(node, errors, "/etc/sluice", "/var/x");
  ASSERT_TRUE(errors.empty()) << errors.ToStatus();
  auto* file_queue = dynamic_cast<DeadLetterFileQueue*>(queue.get());
  ASSERT_NE(file_queue, nullptr);
  EXPECT_EQ(file_queue->path(), "/etc/sluice/dlq/failed.log");
}

TEST(DeadLetterFileRegistryTest, BadFsyncAndUnknownKeysAreConfigErrors) {
  ConfigNode node = ConfigNode::Map({});
  node.Set("type", {}, ConfigNode::Scalar("file", {}));
  node.Set("fsync", {}, ConfigNode::Scalar("sometimes", {}));
  node.Set("pth", {}, ConfigNode::Scalar("x.log", {}));
  ConfigErrors errors;
  EXPECT_EQ(MakeFromConfig(node, errors, "", "/tmp"), nullptr);
  const std::string message(errors.ToStatus().message());
  EXPECT_THAT(message, HasSubstr("every_write, never"));
  EXPECT_THAT(message, HasSubstr("pth"));
}

}  // namespace
}  // namespace sluice::connectors
