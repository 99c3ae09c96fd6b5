// `sluice dlq inspect` and `sluice dlq replay` as a user runs them: on the
// file DLQ a real `sluice run` wrote, on damaged files, and on a Kafka DLQ
// topic of an embedded broker (in this process, reached over TCP by the
// child `sluice`), including the issue's round trip: a rejecting pipeline
// dead-letters to Kafka, replay re-publishes to the source topic, a fixed
// pipeline delivers every original event, and a second replay sends nothing.
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connectors/file/dead_letter_file.h"
#include "connectors/kafka/embedded_broker.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"

#include "simdjson.h"

namespace sluice {
namespace {

using connectors::DeadLetterRecord;
using testing::CommandResult;
using ::testing::HasSubstr;
using testing::KafkaMessage;
using testing::MakeTempDir;
using ::testing::Not;
using testing::ReadFile;
using testing::ReadTopic;
using testing::RunCommand;
using testing::WriteFile;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";
const std::string kConfigs = std::string(SLUICE_SOURCE_DIR) + "/configs";

std::map<std::string, std::string> HeaderMap(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::map<std::string, std::string> map;
  for (const auto& [name, value] : headers) map[name] = value;
  return map;
}

// configs/file-json.yaml run for real: its DLQ holds lines 4, 5, 7 and 12.
std::string FileJsonDeadLetters() {
  const std::string dir = MakeTempDir("dlq-file-json");
  CommandResult run = RunCommand({kSluice, "run", kConfigs + "/file-json.yaml", "--quiet", "--set",
                                  "data_dir=" + dir, "--set", "stages.out.path=" + dir + "/out"});
  EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
  return dir + "/dead-letters.log";
}

TEST(DlqInspectTest, SummarisesTheFileARealRunDeadLettered) {
  const std::string dlq = FileJsonDeadLetters();
  CommandResult result = RunCommand({kSluice, "dlq", "inspect", dlq, "--samples", "1"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  const std::string& out = result.stdout_text;
  EXPECT_THAT(out, HasSubstr("dead-letter queue: file " + dlq + "\n"));
  EXPECT_THAT(out, HasSubstr("records: 4\n"));
  EXPECT_THAT(out, HasSubstr("damage: none\n"));
  EXPECT_THAT(out, HasSubstr("failed_at: "));
  EXPECT_THAT(out, HasSubstr("       4  parse\n"));
  EXPECT_THAT(
      out, HasSubstr("       1  parse  INVALID_ARGUMENT: field \"/amount\": expected number, got "
                     "string\n"));
  EXPECT_THAT(out, HasSubstr("       1  parse  INVALID_ARGUMENT: field \"/amount\": required but "
                             "missing\n"));
  EXPECT_THAT(out, HasSubstr("samples (1 of 4):\n  record 0 (byte 0)\n"));
  EXPECT_THAT(out, HasSubstr("      sluice.dlq.pipeline: file-json\n"));
  EXPECT_THAT(out, HasSubstr("      sluice.dlq.source.offset: "));
  EXPECT_EQ(result.stderr_text, "");
}

TEST(DlqInspectTest, JsonHasTheCountsTimeRangeAndSamplesWithHeaders) {
  const std::string dlq = FileJsonDeadLetters();
  CommandResult result = RunCommand({kSluice, "dlq", "inspect", dlq, "--json", "--samples", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(result.stdout_text).get(root), simdjson::SUCCESS) << result.stdout_text;
  EXPECT_EQ(std::string_view(root["backend"]), "file");
  EXPECT_EQ(int64_t(root["records"]), 4);
  EXPECT_EQ(int64_t(root["unreadable"]), 0);
  simdjson::dom::array stages = root["by_stage"];
  ASSERT_EQ(stages.size(), 1u);
  EXPECT_EQ(std::string_view(stages.at(0)["stage"]), "parse");
  EXPECT_EQ(int64_t(stages.at(0)["records"]), 4);
  int64_t errors = 0;
  for (simdjson::dom::element row : simdjson::dom::array(root["by_error"])) {
    errors += int64_t(row["records"]);
  }
  EXPECT_EQ(errors, 4);
  EXPECT_LE(std::string_view(root["failed_at"]["first"]),
            std::string_view(root["failed_at"]["last"]));
  EXPECT_EQ(int64_t(root["damage"]["torn_tail_bytes"]), 0);
  simdjson::dom::array samples = root["samples"];
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(std::string_view(samples.at(0)["value"]),
            R"({"id": 4, "status": "paid", "amount": "lots", "user": "dee"})");
  std::map<std::string, std::string> headers;
  for (simdjson::dom::element header : simdjson::dom::array(samples.at(0)["headers"])) {
    headers[std::string(std::string_view(header["name"]))] =
        std::string(std::string_view(header["value"]));
  }
  EXPECT_EQ(headers["sluice.dlq.stage"], "parse");
  EXPECT_EQ(headers["sluice.dlq.source.offset"], "4");
  EXPECT_EQ(headers["sluice.dlq.replay_count"], "0");
}

TEST(DlqInspectTest, ACorruptRecordAndATornTailAreReportedNotFatal) {
  const std::string dlq = FileJsonDeadLetters();
  std::string bytes = ReadFile(dlq);
  absl::StatusOr<connectors::DeadLetterFileContents> contents = connectors::ReadDeadLetterFile(dlq);
  ASSERT_TRUE(contents.ok());
  ASSERT_EQ(contents->entries.size(), 4u);
  // Flip a payload byte of the second record, and cut a copy of the first
  // record short at the end (a crash mid-write).
  bytes[contents->entries[1].position + 20] ^= 0x5A;
  bytes += bytes.substr(0, 30);
  const std::string damaged = MakeTempDir("dlq-damaged") + "/dead-letters.log";
  WriteFile(damaged, bytes);
  CommandResult result = RunCommand({kSluice, "dlq", "inspect", damaged});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("records: 3\n"));
  EXPECT_THAT(result.stdout_text, HasSubstr("damage: 1 corrupt region(s), "));
  EXPECT_THAT(result.stdout_text, HasSubstr("torn tail 30 bytes"));
  EXPECT_THAT(result.stderr_text, HasSubstr("warning: " + damaged + " is damaged"));

  CommandResult json = RunCommand({kSluice, "dlq", "inspect", damaged, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.stderr_text;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(json.stdout_text).get(root), simdjson::SUCCESS);
  EXPECT_EQ(int64_t(root["records"]), 3);
  EXPECT_EQ(int64_t(root["damage"]["corrupt_regions"]), 1);
  EXPECT_EQ(int64_t(root["damage"]["torn_tail_bytes"]), 30);
}

TEST(DlqInspectTest, BadArgumentsExitTwoAndAMissingFileExitsOne) {
  CommandResult missing = RunCommand({kSluice, "dlq", "inspect", "/nonexistent/dlq.log"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.stderr_text, HasSubstr("/nonexistent/dlq.log"));
  CommandResult no_brokers = RunCommand({kSluice, "dlq", "inspect", "kafka://x"});
  EXPECT_EQ(no_brokers.exit_code, 2);
  EXPECT_THAT(no_brokers.stderr_text, HasSubstr("--brokers"));
  CommandResult embedded =
      RunCommand({kSluice, "dlq", "inspect", "kafka://x", "--brokers", "embedded"});
  EXPECT_EQ(embedded.exit_code, 2);
  EXPECT_THAT(embedded.stderr_text, HasSubstr("sluice broker"));
  CommandResult help = RunCommand({kSluice, "dlq", "replay", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.stdout_text, HasSubstr("Examples:"));
  EXPECT_THAT(help.stdout_text, HasSubstr("sluice dlq replay"));
}

TEST(DlqReplayTest, FiltersSelectInADryRunThatSendsAndCommitsNothing) {
  const std::string dlq = FileJsonDeadLetters();
  CommandResult all = RunCommand({kSluice, "dlq", "replay", dlq, "--dry-run", "--to", "orders"});
  ASSERT_EQ(all.exit_code, 0) << all.stderr_text;
  EXPECT_THAT(all.stdout_text, HasSubstr("replay record 0 -> orders (key \"\", "));
  EXPECT_THAT(all.stdout_text,
              HasSubstr("summary (dry run, nothing sent or committed): read 4, filtered out 0, "
                        "selected 4: would replay 4, would park 0, skipped 0"));
  CommandResult json_errors = RunCommand(
      {kSluice, "dlq", "replay", dlq, "--dry-run", "--to", "o", "--error", "not valid JSON"});
  ASSERT_EQ(json_errors.exit_code, 0) << json_errors.stderr_text;
  EXPECT_THAT(json_errors.stdout_text, HasSubstr("read 4, filtered out 2, selected 2:"));
  CommandResult offsets = RunCommand({kSluice, "dlq", "replay", dlq, "--dry-run", "--to", "o",
                                      "--offsets", "1-2", "--stage", "parse"});
  ASSERT_EQ(offsets.exit_code, 0) << offsets.stderr_text;
  EXPECT_THAT(offsets.stdout_text, HasSubstr("read 4, filtered out 2, selected 2:"));
  EXPECT_THAT(offsets.stdout_text, HasSubstr("replay record 1 -> o"));
  EXPECT_THAT(offsets.stdout_text, HasSubstr("replay record 2 -> o"));
  CommandResult other_stage =
      RunCommand({kSluice, "dlq", "replay", dlq, "--dry-run", "--stage", "tidy", "--since", "1h"});
  EXPECT_THAT(other_stage.stdout_text, HasSubstr("read 4, filtered out 4, selected 0:"));
  // No source topic (a file source) and no --to: skipped, and said why.
  CommandResult no_topic = RunCommand({kSluice, "dlq", "replay", dlq, "--dry-run"});
  EXPECT_THAT(no_topic.stdout_text, HasSubstr("skip record 0: no sluice.dlq.source.topic header"));
  EXPECT_THAT(no_topic.stdout_text, HasSubstr("skipped 4 (no source topic 4, unreadable 0)"));
  // Nothing was committed.
  EXPECT_FALSE(std::filesystem::exists(dlq + ".replay-position"));

  CommandResult bad_regex =
      RunCommand({kSluice, "dlq", "replay", dlq, "--dry-run", "--error", "(unclosed"});
  EXPECT_EQ(bad_regex.exit_code, 2);
  EXPECT_THAT(bad_regex.stderr_text, HasSubstr("--error \"(unclosed\": missing )"));
  CommandResult bad_offsets = RunCommand({kSluice, "dlq", "replay", dlq, "--offsets", "5-2"});
  EXPECT_EQ(bad_offsets.exit_code, 2);
  EXPECT_THAT(bad_offsets.stderr_text, HasSubstr("--offsets \"5-2\""));
}

class DlqKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<connectors::kafka::EmbeddedBroker>> started =
        connectors::kafka::EmbeddedBroker::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    broker_ = std::move(*started);
  }
  const std::string& brokers() const { return broker_->bootstrap_servers(); }

  std::unique_ptr<connectors::kafka::EmbeddedBroker> broker_;
};

// A DLQ file whose records came from topic "orders", the last one already
// replayed `replay_count_of_last` times.
std::string WriteFileDlq(int records, int replay_count_of_last) {
  const std::string path = MakeTempDir("dlq-written") + "/dead-letters.log";
  std::string bytes;
  for (int i = 0; i < records; ++i) {
    DeadLetter letter;
    letter.key = absl::StrCat("k-", i);
    letter.value = absl::StrCat("{\"n\":", i, "}");
    letter.headers = {{"trace", absl::StrCat("t-", i)}};
    if (i == records - 1 && replay_count_of_last > 0) {
      letter.headers.emplace_back("sluice.dlq.replay_count", absl::StrCat(replay_count_of_last));
    }
    letter.pipeline = "p";
    letter.stage = "parse";
    letter.error = "INVALID_ARGUMENT: bad";
    letter.code = absl::StatusCode::kInvalidArgument;
    letter.failed_at = absl::Now();
    letter.source = "in";
    letter.source_topic = "orders";
    letter.source_partition = 0;
    letter.origin.offset = Offset(i);
    EXPECT_TRUE(
        connectors::AppendDeadLetterFrame(connectors::MakeDeadLetterRecord(letter), bytes).ok());
  }
  WriteFile(path, bytes);
  return path;
}

TEST_F(DlqKafkaTest, FileReplayResumesFromItsPositionAndParksPastMaxReplays) {
  ASSERT_TRUE(broker_->CreateTopic("orders", 1).ok());
  const std::string dlq = WriteFileDlq(10, 3);
  // --max 4: four sent, position after them.
  CommandResult first =
      RunCommand({kSluice, "dlq", "replay", dlq, "--brokers", brokers(), "--max", "4"});
  ASSERT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_THAT(first.stdout_text, HasSubstr("read 4, filtered out 0, selected 4: replay 4, park 0"));
  EXPECT_THAT(first.stdout_text, HasSubstr(".replay-position at record 4 (byte "));
  EXPECT_EQ(ReadTopic(brokers(), "orders", 4).size(), 4u);
  // The rest: five replayed, the last parked (replay_count 3 = --max-replays).
  CommandResult second = RunCommand({kSluice, "dlq", "replay", dlq, "--brokers", brokers()});
  ASSERT_EQ(second.exit_code, 0) << second.stderr_text;
  EXPECT_THAT(second.stdout_text,
              HasSubstr("read 6, filtered out 0, selected 6: replay 5, park 1"));
  EXPECT_THAT(second.stdout_text, HasSubstr("parked to: " + dlq + ".parked"));
  // A third run finds nothing new.
  CommandResult third = RunCommand({kSluice, "dlq", "replay", dlq, "--brokers", brokers()});
  ASSERT_EQ(third.exit_code, 0) << third.stderr_text;
  EXPECT_THAT(third.stdout_text, HasSubstr("read 0, filtered out 0, selected 0: replay 0, park 0"));

  const std::vector<KafkaMessage> read = ReadTopic(brokers(), "orders", 9);
  ASSERT_EQ(read.size(), 9u);  // nothing twice
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(read[i].key, absl::StrCat("k-", i));
    EXPECT_EQ(read[i].value, absl::StrCat("{\"n\":", i, "}"));
    // The original headers, the DLQ's stripped, replay_count one more.
    EXPECT_EQ(read[i].headers,
              (std::vector<std::pair<std::string, std::string>>{{"trace", absl::StrCat("t-", i)},
                                                                {"sluice.dlq.replay_count", "1"}}));
  }
  absl::StatusOr<connectors::DeadLetterFileContents> parked =
      connectors::ReadDeadLetterFile(dlq + ".parked");
  ASSERT_TRUE(parked.ok()) << parked.status();
  ASSERT_EQ(parked->entries.size(), 1u);
  EXPECT_EQ(parked->entries[0].record.key, "k-9");
  EXPECT_EQ(HeaderMap(parked->entries[0].record.headers)["sluice.dlq.replay_count"], "3");
}

// `sluice ...` as a child process with its output discarded; its pid.
pid_t SpawnSluice(std::vector<std::string> args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// The record index a file DLQ's replay position has committed; 0 if none yet.
int64_t CommittedIndex(const std::string& dlq) {
  std::error_code error;
  if (!std::filesystem::exists(dlq + ".replay-position", error)) return 0;
  std::istringstream lines(ReadFile(dlq + ".replay-position"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("index ")) return std::stoll(line.substr(6));
  }
  return 0;
}

TEST_F(DlqKafkaTest, AReplayKilledMidWayAndRunAgainSkipsNothingAndResendsAtMostItsInFlight) {
  ASSERT_TRUE(broker_->CreateTopic("orders", 1).ok());
  const std::string dlq = WriteFileDlq(200, 0);
  // Slowly (100 records/s), one in flight; SIGKILL once 30 are committed.
  const pid_t replay = SpawnSluice(
      {kSluice, "dlq", "replay", dlq, "--brokers", brokers(), "--rate", "100", "--in-flight", "1"});
  ASSERT_GT(replay, 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (CommittedIndex(dlq) < 30 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));  // polling the position file, with a deadline
  }
  ::kill(replay, SIGKILL);
  int status = 0;
  ::waitpid(replay, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "it ended before the kill";
  const int64_t committed_at_kill = CommittedIndex(dlq);
  ASSERT_GE(committed_at_kill, 30);
  ASSERT_LT(committed_at_kill, 200) << "too fast to interrupt";

  CommandResult rest = RunCommand({kSluice, "dlq", "replay", dlq, "--brokers", brokers()});
  ASSERT_EQ(rest.exit_code, 0) << rest.stderr_text;
  EXPECT_THAT(rest.stdout_text,
              HasSubstr(absl::StrCat("read ", 200 - committed_at_kill, ", filtered out 0")));

  // Every record is on the topic; any twice is one of the few the killed run
  // had sent past its last commit (one in flight, one confirmed uncommitted).
  const std::vector<KafkaMessage> read = ReadTopic(brokers(), "orders", 200);
  std::map<std::string, int> sent;
  for (const KafkaMessage& message : read) ++sent[message.key.value_or("")];
  EXPECT_EQ(sent.size(), 200u) << "records skipped";
  int duplicates = 0;
  for (const auto& [key, times] : sent) {
    EXPECT_LE(times, 2) << key;
    duplicates += times - 1;
    if (times > 1) {
      const int64_t index = std::stoll(key.substr(2));
      EXPECT_GE(index, committed_at_kill) << "a committed record was sent again: " << key;
    }
  }
  EXPECT_LE(duplicates, 2);
}

TEST_F(DlqKafkaTest, InspectReadsAKafkaDlqTopic) {
  ASSERT_TRUE(broker_->CreateTopic("dlq", 2).ok());
  std::vector<KafkaMessage> messages;
  for (int i = 0; i < 6; ++i) {
    DeadLetter letter;
    letter.key = absl::StrCat("k-", i);
    letter.value = i == 5 ? std::string("\xff\xfe", 2) : absl::StrCat("v-", i);
    letter.stage = i < 4 ? "parse" : "enrich";
    letter.error = i < 4 ? "INVALID_ARGUMENT: bad" : "UNAVAILABLE: lookup down";
    letter.failed_at = absl::FromUnixSeconds(1'700'000'000 + i);
    const DeadLetterRecord record = connectors::MakeDeadLetterRecord(letter);
    messages.push_back({.key = record.key, .value = record.value, .headers = record.headers});
  }
  ASSERT_TRUE(testing::ProduceMessages(brokers(), "dlq", messages).ok());
  CommandResult text =
      RunCommand({kSluice, "dlq", "inspect", "kafka://dlq", "--brokers", brokers()});
  ASSERT_EQ(text.exit_code, 0) << text.stderr_text;
  EXPECT_THAT(text.stdout_text, HasSubstr("dead-letter queue: kafka://dlq\nrecords: 6\n"));
  EXPECT_THAT(text.stdout_text,
              HasSubstr("failed_at: 2023-11-14T22:13:20+00:00 .. 2023-11-14T22:13:25+00:00\n"));
  EXPECT_THAT(text.stdout_text, HasSubstr("       4  parse   INVALID_ARGUMENT: bad\n"));
  EXPECT_THAT(text.stdout_text, HasSubstr("       2  enrich  UNAVAILABLE: lookup down\n"));
  EXPECT_THAT(text.stdout_text, Not(HasSubstr("damage:")));

  CommandResult json = RunCommand({kSluice, "dlq", "inspect", "kafka://dlq", "--brokers", brokers(),
                                   "--json", "--samples", "6"});
  ASSERT_EQ(json.exit_code, 0) << json.stderr_text;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(json.stdout_text).get(root), simdjson::SUCCESS) << json.stdout_text;
  EXPECT_EQ(std::string_view(root["backend"]), "kafka");
  EXPECT_EQ(int64_t(root["records"]), 6);
  int base64 = 0;
  for (simdjson::dom::element sample : simdjson::dom::array(root["samples"])) {
    std::string_view value;
    if (sample["value_base64"].get(value) == simdjson::SUCCESS) {
      EXPECT_EQ(value, "//4=");
      ++base64;
    }
  }
  EXPECT_EQ(base64, 1);
}

// The issue's round trip.
TEST_F(DlqKafkaTest, RoundTripRejectDeadLetterReplayFixedPipelineDeliversEveryEvent) {
  ASSERT_TRUE(broker_->CreateTopic("orders", 2).ok());
  ASSERT_TRUE(broker_->CreateTopic("paid", 1).ok());
  ASSERT_TRUE(broker_->CreateTopic("orders.dlq", 1).ok());
  std::vector<KafkaMessage> orders;
  for (int i = 0; i < 50; ++i) {
    // Every fifth order has its amount as text: the strict parser rejects it.
    const std::string amount = i % 5 == 0 ? absl::StrCat("\"", i, "\"") : absl::StrCat(i);
    orders.push_back({.key = absl::StrCat("user-", i % 7),
                      .value = absl::StrCat("{\"id\": ", i, ", \"amount\": ", amount, "}"),
                      .headers = {{"trace", absl::StrCat("t-", i)}}});
  }
  ASSERT_TRUE(testing::ProduceMessages(brokers(), "orders", orders).ok());

  const std::string dir = MakeTempDir("dlq-round-trip");
  // Both runs share the group "orders-pipeline". When the strict run's member
  // leaves, the embedded broker starts a rebalance of the (now empty) group
  // that lasts session.timeout.ms - 1s, and the fixed run's JoinGroup waits for
  // it: 44 s with librdkafka's default session (45 s), 3 s with 4 s. Not below
  // 4 s: a group's first join takes 3 s, without heartbeats (docs/kafka.md).
  // stop_when_idle: the topic holds everything before each run starts, so a
  // short idle time ends the run as surely as a long one.
  auto pipeline = [&](const std::string& types) {
    return absl::StrCat(R"(name: orders
data_dir: )",
                        dir, R"(
dead_letter: {type: kafka, brokers: ")",
                        brokers(), R"(", topic: orders.dlq, properties: {linger.ms: 1}}
stages:
  - name: in
    type: kafka
    brokers: ")",
                        brokers(), R"("
    group: orders-pipeline
    topics: [orders]
    stop_when_idle: 500ms
    properties: {session.timeout.ms: 4000, heartbeat.interval.ms: 500}
  - name: parse
    type: json_parse
    subscribe: in
    required: [/id, /amount]
)",
                        types, R"(
  - name: out
    type: kafka
    subscribe: parse
    brokers: ")",
                        brokers(), R"("
    topic: paid
)");
  };
  WriteFile(dir + "/strict.yaml", pipeline("    types: {/amount: integer}"));
  WriteFile(dir + "/fixed.yaml", pipeline(""));  // any amount will do
  CommandResult strict = RunCommand({kSluice, "run", dir + "/strict.yaml", "--quiet"});
  ASSERT_EQ(strict.exit_code, 0) << strict.stderr_text;
  EXPECT_THAT(strict.stderr_text,
              HasSubstr("50 emitted = 40 acknowledged + 0 dropped + 10 dead-lettered"));
  EXPECT_THAT(strict.stderr_text, HasSubstr("kafka topic orders.dlq"));

  // The DLQ: exactly the ten, with their source and reason.
  const std::vector<KafkaMessage> dead = ReadTopic(brokers(), "orders.dlq", 10);
  ASSERT_EQ(dead.size(), 10u);
  for (const KafkaMessage& message : dead) {
    std::map<std::string, std::string> headers = HeaderMap(message.headers);
    // The Kafka source names its partitions: the record says where the event
    // came from, and the replay below sends it back there without --to.
    EXPECT_EQ(headers["sluice.dlq.source.stage"], "in");
    EXPECT_EQ(headers["sluice.dlq.source.topic"], "orders");
    EXPECT_EQ(headers.count("sluice.dlq.source.partition"), 1u);
    EXPECT_EQ(headers.count("sluice.dlq.source.offset"), 1u);
    EXPECT_EQ(headers["sluice.dlq.stage"], "parse");
    EXPECT_THAT(headers["sluice.dlq.error"], HasSubstr("/amount"));
    EXPECT_THAT(headers["trace"], ::testing::StartsWith("t-"));
  }
  CommandResult inspect =
      RunCommand({kSluice, "dlq", "inspect", "kafka://orders.dlq", "--brokers", brokers()});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.stderr_text;
  EXPECT_THAT(inspect.stdout_text, HasSubstr("records: 10\n"));

  // A dry run sends nothing; the replay sends the ten back to "orders", the
  // topic their records name.
  CommandResult dry = RunCommand(
      {kSluice, "dlq", "replay", "kafka://orders.dlq", "--brokers", brokers(), "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.stderr_text;
  EXPECT_THAT(dry.stdout_text, HasSubstr("would replay 10, would park 0"));
  CommandResult replay =
      RunCommand({kSluice, "dlq", "replay", "kafka://orders.dlq", "--brokers", brokers()});
  ASSERT_EQ(replay.exit_code, 0) << replay.stderr_text;
  EXPECT_THAT(replay.stdout_text,
              HasSubstr("read 10, filtered out 0, selected 10: replay 10, park 0, skipped 0"));
  EXPECT_THAT(replay.stdout_text,
              HasSubstr("position: group sluice-replay-orders.dlq committed 0:10"));
  EXPECT_EQ(ReadTopic(brokers(), "orders", 60).size(), 60u);

  // The fixed pipeline (same group) reads only the replayed ten and delivers them.
  CommandResult fixed = RunCommand({kSluice, "run", dir + "/fixed.yaml", "--quiet"});
  ASSERT_EQ(fixed.exit_code, 0) << fixed.stderr_text;
  EXPECT_THAT(fixed.stderr_text,
              HasSubstr("10 emitted = 10 acknowledged + 0 dropped + 0 dead-lettered"));
  const std::vector<KafkaMessage> paid = ReadTopic(brokers(), "paid", 50);
  ASSERT_EQ(paid.size(), 50u);
  std::set<std::string> values;
  for (const KafkaMessage& message : paid) values.insert(message.value);
  std::set<std::string> expected;
  for (const KafkaMessage& order : orders) expected.insert(order.value);
  EXPECT_EQ(values, expected);
  for (const KafkaMessage& message : paid) {
    std::map<std::string, std::string> headers = HeaderMap(message.headers);
    const bool replayed = message.value.find("\"amount\": \"") != std::string::npos;
    EXPECT_EQ(headers.count("sluice.dlq.replay_count"), replayed ? 1u : 0u) << message.value;
    if (replayed) {
      EXPECT_EQ(headers["sluice.dlq.replay_count"], "1");
    }
    EXPECT_EQ(headers.count("sluice.dlq.stage"), 0u);
  }

  // A second replay finds nothing new.
  CommandResult again =
      RunCommand({kSluice, "dlq", "replay", "kafka://orders.dlq", "--brokers", brokers()});
  ASSERT_EQ(again.exit_code, 0) << again.stderr_text;
  EXPECT_THAT(again.stdout_text, HasSubstr("read 0, filtered out 0, selected 0: replay 0"));
  EXPECT_EQ(ReadTopic(brokers(), "orders", 60).size(), 60u);
}

}  // namespace
}  // namespace sluice
