// Whole pipelines from a YAML file: the file source and sink with paths
// relative to the config's directory, and the file dead-letter backend
// receiving what a sink could not write.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <unistd.h>

#include "connectors/file/dead_letter_file.h"
#include "pipeline/config/pipeline_config.h"
#include "tests/connectors/connector_test_util.h"
#include "tools/config/yaml_loader.h"

namespace sluice::connectors {
namespace {

using ::sluice::testing::ReadWholeFile;
using ::sluice::testing::TempDir;
using ::sluice::testing::WriteWholeFile;
using ::testing::HasSubstr;

// Loads `dir`/pipeline.yaml as `sluice run` does and runs it to the end.
RunReport RunPipelineFile(const TempDir& dir, std::string_view yaml) {
  const std::string path = dir.File("pipeline.yaml");
  WriteWholeFile(path, yaml);
  absl::StatusOr<ConfigNode> root = config::LoadYamlFile(path);
  EXPECT_TRUE(root.ok()) << root.status();
  if (!root.ok()) return {.status = root.status()};
  absl::StatusOr<PipelineConfig> config = BuildPipelineConfig(*root, {.config_dir = dir.path()});
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return {.status = config.status()};
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = MakePipeline(*std::move(config));
  EXPECT_TRUE(pipeline.ok()) << pipeline.status();
  if (!pipeline.ok()) return {.status = pipeline.status()};
  if (absl::Status started = (*pipeline)->Start(); !started.ok()) return {.status = started};
  return (*pipeline)->Wait();
}

TEST(FilePipelineTest, CopiesAFileLineForLineWithRelativePaths) {
  TempDir dir;
  std::string input;
  std::string expected;
  for (int i = 1; i <= 5000; ++i) {
    const std::string line = "{\"line\":" + std::to_string(i) + "}";
    input += line + "\n";
    expected += line + "\n";
  }
  WriteWholeFile(dir.File("in.ndjson"), input);
  RunReport report = RunPipelineFile(dir, R"(
name: copy
data_dir: state
stages:
  - name: in
    type: file
    path: in.ndjson
  - name: out
    type: file
    subscribe: [in]
    path: out/copy.ndjson
    flush: interval
    flush_interval: 50ms
)");
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(ReadWholeFile(dir.File("out/copy.ndjson")), expected);
  EXPECT_EQ(report.events_acknowledged(), 5000u);
  ASSERT_EQ(report.partitions.size(), 1u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(5001));  // after line 5000
}

TEST(FilePipelineTest, WhatTheSinkCannotWriteIsDeadLetteredToAFileNamingTheLine) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  TempDir dir;
  WriteWholeFile(dir.File("in.ndjson"), "{\"a\":1}\n\n{\"c\":3}\n");
  RunReport report = RunPipelineFile(dir, R"(
name: full-disk
data_dir: state
retry:
  max_attempts: 1
dead_letter:
  type: file
  path: dlq/dead.log
  fsync: every_write
stages:
  - name: in
    type: file
    path: in.ndjson
  - name: out
    type: file
    subscribe: [in]
    path: /dev/full
)");
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_dead_lettered(), 2u);
  EXPECT_EQ(report.partitions[0].commit_point, Offset(4));  // dead-lettered counts as done

  absl::StatusOr<DeadLetterFileContents> contents = ReadDeadLetterFile(dir.File("dlq/dead.log"));
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->entries.size(), 2u);
  EXPECT_EQ(contents->stats.torn_tail_bytes, 0u);
  std::vector<ParsedDeadLetter> letters;
  for (const DeadLetterFileEntry& entry : contents->entries) {
    absl::StatusOr<ParsedDeadLetter> parsed = ParseDeadLetterRecord(entry.record);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    letters.push_back(*parsed);
  }
  EXPECT_EQ(letters[0].letter.value, "{\"a\":1}");
  EXPECT_EQ(letters[0].letter.origin.offset, Offset(1));
  EXPECT_EQ(letters[1].letter.value, "{\"c\":3}");
  EXPECT_EQ(letters[1].letter.origin.offset, Offset(3));  // line 3: line 2 was empty
  for (const ParsedDeadLetter& parsed : letters) {
    EXPECT_EQ(parsed.letter.pipeline, "full-disk");
    EXPECT_EQ(parsed.letter.stage, "out");
    EXPECT_EQ(parsed.letter.source, "in");
    EXPECT_EQ(parsed.letter.code, absl::StatusCode::kUnavailable);
    EXPECT_THAT(parsed.letter.error, HasSubstr("No space left"));
    EXPECT_EQ(parsed.replay_count, 0u);
  }
}

TEST(FilePipelineTest, DefaultDeadLetterFileIsInTheDataDir) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  TempDir dir;
  RunReport report = RunPipelineFile(dir, R"(
name: defaults
data_dir: state
retry:
  max_attempts: 1
stages:
  - name: gen
    type: generator
    count: 3
    template: '{"n":{{seq}}}'
  - name: out
    type: file
    subscribe: [gen]
    path: /dev/full
)");
  ASSERT_TRUE(report.status.ok()) << report.status;
  absl::StatusOr<DeadLetterFileContents> contents =
      ReadDeadLetterFile(dir.File("state/dead-letters.log"));
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->entries.size(), 3u);
  EXPECT_EQ(contents->entries[2].record.value, "{\"n\":2}");
}

}  // namespace
}  // namespace sluice::connectors
