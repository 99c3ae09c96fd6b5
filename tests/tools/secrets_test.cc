// Issue #8: no secret from the config reaches a log line (ours or
// librdkafka's), a crash or failure report, a dead-letter record, the run
// summary or `sluice validate --print`; and a W3C traceparent on an event
// shows as its trace id in its failure log line and its dead-letter record.
//
// The run is real: a Kafka source on an embedded broker (in this process,
// over TCP), a stage that fails some events with an error text quoting the
// secrets, a stage that crashes, JSON logs at debug level (so librdkafka's
// own lines and the commit lines are there too). Every byte the process
// wrote, and every file it wrote, is searched.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/file/dead_letter_file.h"
#include "connectors/kafka/embedded_broker.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"
#include "tests/tools/sluice_process.h"

#include "simdjson.h"

namespace sluice {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using testing::MakeTempDir;
using ::testing::Not;
using testing::ReadFile;
using testing::RunCommand;
using testing::SluiceProcess;
using testing::WriteFile;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

// Distinctive, so that a hit is never a coincidence.
constexpr char kSaslPassword[] = "SaslPw-from-env-9f3Kq2";
constexpr char kKeyPassword[] = "KeyPw-literal-x7Vn41";
constexpr char kMetricsToken[] = "MetricsTok-from-env-b8Zr55";
constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kCrashTraceId[] = "0af7651916cd43dd8448eb211c80319c";

// Every line of `text` that is a JSON object, parsed: event name -> lines.
struct JsonLog {
  std::map<std::string, std::vector<std::string>> by_event;
  size_t lines = 0;
  std::vector<std::string> malformed;
};

JsonLog ParseJsonLog(const std::string& text) {
  JsonLog log;
  simdjson::dom::parser parser;
  for (absl::string_view raw : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    // The summary and "sluice: ..." lines are plain text; log lines are
    // objects.
    const std::string line(raw.data(), raw.size());
    if (line.empty() || line[0] != '{') continue;
    simdjson::dom::element root;
    std::string_view event;
    std::string_view time;
    std::string_view level;
    if (parser.parse(line).get(root) != simdjson::SUCCESS ||
        root["event"].get(event) != simdjson::SUCCESS ||
        root["time"].get(time) != simdjson::SUCCESS ||
        root["level"].get(level) != simdjson::SUCCESS) {
      log.malformed.push_back(line);
      continue;
    }
    ++log.lines;
    log.by_event[std::string(event)].push_back(line);
  }
  return log;
}

std::string Field(const std::string& line, const char* key) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(line).get(root) != simdjson::SUCCESS) return "";
  simdjson::dom::element value;
  if (root[key].get(value) != simdjson::SUCCESS) return "<absent>";
  std::string_view text;
  if (value.get(text) == simdjson::SUCCESS) return std::string(text);
  int64_t number = 0;
  if (value.get(number) == simdjson::SUCCESS) return absl::StrCat(number);
  return "<other>";
}

void ExpectNoSecret(const std::string& where, const std::string& bytes) {
  for (const char* secret : {kSaslPassword, kKeyPassword, kMetricsToken}) {
    EXPECT_THAT(bytes, Not(HasSubstr(secret))) << where << " carries a secret";
  }
}

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::StartBroker();
    ASSERT_NE(broker_, nullptr);
    ASSERT_TRUE(broker_->CreateTopic("orders", 2).ok());
    setenv("SLUICE_TEST_SASL_PASSWORD", kSaslPassword, 1);
    setenv("SLUICE_TEST_METRICS_TOKEN", kMetricsToken, 1);
  }

  std::unique_ptr<connectors::kafka::EmbeddedBroker> broker_;
};

TEST_F(SecretsTest, NoSecretInLogsSummaryDeadLettersOrValidatePrint) {
  const std::string dir = MakeTempDir("secrets");
  std::vector<testing::KafkaMessage> messages;
  for (int i = 0; i < 40; ++i) {
    messages.push_back({.key = absl::StrCat("k", i), .value = absl::StrCat("{\"id\":", i, "}")});
  }
  messages.push_back(
      {.key = "f1",
       .value = "{\"id\":100,\"note\":\"failme\"}",
       .headers = {{"traceparent", absl::StrCat("00-", kTraceId, "-00f067aa0ba902b7-01")}}});
  messages.push_back(
      {.key = "c1",
       .value = "{\"id\":101,\"note\":\"crashme\"}",
       .headers = {{"traceparent", absl::StrCat("00-", kCrashTraceId, "-b7ad6b7169203331-01")}}});
  ASSERT_TRUE(testing::ProduceMessages(broker_->bootstrap_servers(), "orders", messages).ok());

  const std::string config = dir + "/secrets.yaml";
  WriteFile(config, absl::StrCat(R"(name: secrets
data_dir: )",
                                 dir, R"(/data
log: {format: json, level: debug}
metrics:
  token: ${SLUICE_TEST_METRICS_TOKEN}
dead_letter: {type: file, path: )",
                                 dir, R"(/dead-letters.log}
stages:
  - name: in
    type: kafka
    brokers: ")",
                                 broker_->bootstrap_servers(), R"("
    group: secrets
    topics: [orders]
    stop_when_idle: 2s
    properties:
      sasl.password: ${SLUICE_TEST_SASL_PASSWORD}
      ssl.key.password: )",
                                 kKeyPassword, R"(
      debug: conf,generic
      fetch.wait.max.ms: 50
      heartbeat.interval.ms: 100
      session.timeout.ms: 6000
  - name: check
    type: fault
    subscribe: in
    match: failme
    code: invalid_argument
    error: "upstream refused password ${SLUICE_TEST_SASL_PASSWORD} and token ${SLUICE_TEST_METRICS_TOKEN}"
  - name: explode
    type: fault
    subscribe: check
    match: crashme
    fail_rate: 0
    crash_rate: 1
  - name: out
    type: file
    subscribe: explode
    path: )",
                                 dir, R"(/out.ndjson
)"));

  SluiceProcess run({kSluice, "run", config, "--quiet"}, dir, "run");
  ASSERT_TRUE(run.started());
  const int exit_code = run.Wait(absl::Seconds(90));
  const std::string err = run.Stderr();
  const std::string out = run.Stdout();
  ASSERT_EQ(exit_code, 0) << err;

  // The lines we expect are there, so that finding no secret means something.
  const JsonLog log = ParseJsonLog(err);
  EXPECT_THAT(log.malformed, ::testing::IsEmpty());
  EXPECT_GT(log.lines, 10u) << err;
  for (const char* event :
       {"stage_started", "stage_stopped", "partitions_assigned", "stage_crashed", "stage_restarted",
        "event_dead_lettered", "offsets_committed", "log"}) {
    EXPECT_TRUE(log.by_event.contains(event)) << "no \"" << event << "\" line in\n" << err;
  }
  // librdkafka's own lines came through the same formatter.
  bool librdkafka_line = false;
  if (log.by_event.contains("log")) {
    for (const std::string& line : log.by_event.at("log")) {
      if (absl::StrContains(Field(line, "message"), "librdkafka")) librdkafka_line = true;
    }
  }
  EXPECT_TRUE(librdkafka_line) << err;
  // The failure quoting the secrets was logged, masked, with its trace id.
  bool failed_line = false;
  bool crashed_line = false;
  if (log.by_event.contains("event_dead_lettered")) {
    for (const std::string& line : log.by_event.at("event_dead_lettered")) {
      if (Field(line, "trace_id") == kTraceId) {
        failed_line = true;
        EXPECT_EQ(Field(line, "stage"), "check");
        EXPECT_EQ(Field(line, "pipeline"), "secrets");
        EXPECT_THAT(Field(line, "error"), HasSubstr("upstream refused password ******"));
      }
      if (Field(line, "trace_id") == kCrashTraceId) {
        crashed_line = true;
        EXPECT_EQ(Field(line, "stage"), "explode");
        EXPECT_THAT(Field(line, "error"), HasSubstr("crashed: "));
      }
    }
  }
  EXPECT_TRUE(failed_line) << err;
  EXPECT_TRUE(crashed_line) << err;
  EXPECT_THAT(err, HasSubstr("[adds up]"));

  // The dead letters: both traced events, their trace ids as
  // sluice.dlq.trace_id, the error masked.
  auto reader = connectors::DeadLetterFileReader::Open(dir + "/dead-letters.log");
  ASSERT_TRUE(reader.ok()) << reader.status();
  connectors::DeadLetterFileEntry entry;
  std::map<std::string, std::string> error_by_trace;
  size_t records = 0;
  while (true) {
    absl::StatusOr<bool> next = (*reader)->Next(entry);
    ASSERT_TRUE(next.ok()) << next.status();
    if (!*next) break;
    ++records;
    absl::StatusOr<connectors::ParsedDeadLetter> parsed =
        connectors::ParseDeadLetterRecord(entry.record);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed->letter.trace_id.empty()) {
      error_by_trace[parsed->letter.trace_id] = parsed->letter.error;
    }
  }
  EXPECT_GE(records, 2u);
  ASSERT_TRUE(error_by_trace.contains(kTraceId));
  EXPECT_EQ(error_by_trace[kTraceId],
            "INVALID_ARGUMENT: upstream refused password ****** and token ******");
  ASSERT_TRUE(error_by_trace.contains(kCrashTraceId));
  EXPECT_THAT(error_by_trace[kCrashTraceId], HasSubstr("crashed: INTERNAL: injected crash"));

  // `validate --print`: the config, secrets masked.
  CommandResult validate = RunCommand({kSluice, "validate", config, "--print"});
  ASSERT_EQ(validate.exit_code, 0) << validate.stderr_text;
  EXPECT_THAT(validate.stdout_text, HasSubstr("sasl.password: \"******\""));
  EXPECT_THAT(validate.stdout_text, HasSubstr("ssl.key.password: \"******\""));
  EXPECT_THAT(validate.stdout_text, HasSubstr("token: \"******\""));

  // No secret anywhere: what the processes wrote, and every file under dir
  // except the config itself (it holds the literal by design).
  ExpectNoSecret("run stderr", err);
  ExpectNoSecret("run stdout", out);
  ExpectNoSecret("validate stdout", validate.stdout_text);
  ExpectNoSecret("validate stderr", validate.stderr_text);
  size_t files = 0;
  for (const auto& file : std::filesystem::recursive_directory_iterator(dir)) {
    if (!file.is_regular_file() || file.path() == config) continue;
    ++files;
    ExpectNoSecret(file.path().string(), ReadFile(file.path().string()));
  }
  EXPECT_GE(files, 4u);  // stdout, stderr, out.ndjson, dead-letters.log at least
}

// The text format carries the same events as key=value lines.
TEST_F(SecretsTest, TextLogLinesAreKeyValue) {
  const std::string dir = MakeTempDir("secrets-text");
  ASSERT_TRUE(testing::ProduceMessages(broker_->bootstrap_servers(), "orders",
                                       {{.key = "k", .value = "{\"id\":1}"}})
                  .ok());
  const std::string config = dir + "/text.yaml";
  WriteFile(config, absl::StrCat(R"(name: texty
data_dir: )",
                                 dir, R"(/data
log: {format: json}
stages:
  - name: in
    type: kafka
    brokers: ")",
                                 broker_->bootstrap_servers(), R"("
    group: texty
    topics: [orders]
    stop_when_idle: 1s
    properties:
      sasl.password: ${SLUICE_TEST_SASL_PASSWORD}
  - {name: out, type: file, subscribe: in, path: out.ndjson}
)"));
  // The flag overrides the config's json.
  CommandResult run = RunCommand({kSluice, "run", config, "--quiet", "--log-format", "text"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_THAT(
      run.stderr_text,
      ::testing::ContainsRegex(
          R"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z info stage_started )"
          R"(pipeline=texty )"
          R"(stage=in instance=0 role=producer)"));
  EXPECT_THAT(run.stderr_text,
              ::testing::ContainsRegex(R"(info partitions_assigned pipeline=texty stage=in )"
                                       R"(instance=0 count=2 partitions="orders/0, orders/1")"));
  EXPECT_THAT(run.stderr_text, Not(HasSubstr("{\"time\"")));
  ExpectNoSecret("run stderr", run.stderr_text);

  CommandResult bad = RunCommand({kSluice, "run", config, "--log-format", "xml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.stderr_text, HasSubstr("--log-format"));
}

}  // namespace
}  // namespace sluice
