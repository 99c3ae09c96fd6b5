// The `sluice` binary as a user runs it: exit codes, error texts, outputs.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connectors/file/dead_letter_file.h"
#include "tests/support/command.h"

namespace sluice {
namespace {

using testing::CommandResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::RunCommand;
using testing::WriteFile;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";
const std::string kConfigs = std::string(SLUICE_SOURCE_DIR) + "/configs";

std::vector<std::string> ExampleConfigs() {
  std::vector<std::string> configs;
  for (const auto& entry : std::filesystem::directory_iterator(kConfigs)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".yaml" && name.find("_test.yaml") == std::string::npos) {
      configs.push_back(entry.path().string());
    }
  }
  std::sort(configs.begin(), configs.end());
  return configs;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return lines;
}

TEST(CliTest, EveryExampleConfigValidates) {
  const std::vector<std::string> configs = ExampleConfigs();
  ASSERT_GE(configs.size(), 4u);
  for (const std::string& config : configs) {
    CommandResult result = RunCommand({kSluice, "validate", config});
    EXPECT_EQ(result.exit_code, 0) << config << "\n" << result.stderr_text;
    EXPECT_THAT(result.stderr_text, HasSubstr("ok: pipeline")) << config;
  }
}

// One end-to-end run per example: it ends by itself, exits 0, and its summary
// accounts for every event.
struct ExampleRun {
  const char* config;
  std::vector<std::string> extra_args;
  const char* events_line;
};

class ExampleRunTest : public ::testing::TestWithParam<ExampleRun> {};

TEST_P(ExampleRunTest, RunsToTheEndAndAccountsForEveryEvent) {
  const ExampleRun& example = GetParam();
  const std::string data_dir = MakeTempDir("example");
  std::vector<std::string> args = {kSluice, "run", kConfigs + "/" + example.config, "--set",
                                   "data_dir=" + data_dir};
  for (const std::string& arg : example.extra_args) {
    args.push_back("--set");
    args.push_back(absl::StrReplaceAll(arg, {{"$TMP", data_dir}}));
  }
  CommandResult result = RunCommand(args);
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stderr_text, HasSubstr("finished"));
  EXPECT_THAT(result.stderr_text, HasSubstr(example.events_line)) << result.stderr_text;
}

INSTANTIATE_TEST_SUITE_P(
    Examples, ExampleRunTest,
    ::testing::Values(
        ExampleRun{"file-json.yaml",
                   {"stages.out.path=$TMP/out.ndjson"},
                   "events: 11 emitted = 4 acknowledged + 3 dropped + 4 dead-lettered + 0 "
                   "discarded + 0 in flight (uncommitted)  [adds up]"},
        ExampleRun{
            "routing.yaml",
            {"stages.paid_out.path=$TMP/paid.ndjson", "stages.refunds_out.path=$TMP/refunds.ndjson",
             "stages.other_out.path=$TMP/other.ndjson"},
            "events: 11 emitted = 9 acknowledged + 0 dropped + 2 dead-lettered"},
        ExampleRun{"flow.yaml",
                   {"stages.out.path=$TMP/clicks.ndjson"},
                   "events: 5,000 emitted = 5,000 acknowledged + 0 dropped + 0 dead-lettered + "
                   "0 discarded + 0 in flight (uncommitted)  [adds up]"},
        ExampleRun{"partitioned.yaml",
                   {"stages.events.count=20000"},
                   "events: 20,000 emitted = 20,000 acknowledged + 0 dropped + 0 dead-lettered + "
                   "0 discarded + 0 in flight (uncommitted)  [adds up]"},
        ExampleRun{"json-memory.yaml", {"stages.orders.count=50000"}, "[adds up]"},
        ExampleRun{"quickstart.yaml", {"stages.orders.count=20000"}, "[adds up]"}),
    [](const ::testing::TestParamInfo<ExampleRun>& param_info) {
      std::string name = param_info.param.config;
      name = name.substr(0, name.find('.'));
      return absl::StrReplaceAll(name, {{"-", "_"}});
    });

// One stage's row of the run summary: "name type role in out dropped failed
// retried dead-lettered discarded restarts".
struct SummaryRow {
  uint64_t in = 0, out = 0, dropped = 0, dead_lettered = 0;
};

SummaryRow RowOf(const std::string& summary, const std::string& stage) {
  for (const std::string& line : Lines(summary)) {
    std::vector<std::string> columns = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (columns.size() != 11 || columns[0] != stage) continue;
    auto number = [&](size_t index) {
      uint64_t value = 0;
      EXPECT_TRUE(absl::SimpleAtoi(absl::StrReplaceAll(columns[index], {{",", ""}}), &value))
          << line;
      return value;
    };
    return {.in = number(3), .out = number(4), .dropped = number(5), .dead_lettered = number(8)};
  }
  ADD_FAILURE() << "no row for stage \"" << stage << "\" in\n" << summary;
  return {};
}

// Issue #5's quickstart on the embedded broker: generated orders (some
// malformed) go through a Kafka sink into a topic; the Kafka source reads them
// back, stops by itself once idle, and every event it read is accounted for:
// out to the output topic, filtered, or dead-lettered (each malformed one,
// with the parser's reason).
TEST(CliTest, KafkaQuickstartEndsByItselfAndItsCountsAddUp) {
  const std::string dir = MakeTempDir("kafka-quickstart");
  CommandResult result = RunCommand(
      {kSluice, "run", kConfigs + "/quickstart.yaml", "--quiet", "--set", "data_dir=" + dir,
       "--set", "stages.orders.count=20000", "--set", "stages.garbled.count=200"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  const std::string& summary = result.stderr_text;
  EXPECT_THAT(summary, HasSubstr("pipeline \"quickstart\" finished"));
  EXPECT_THAT(summary, HasSubstr("[adds up]"));

  // Into Kafka: everything generated was acknowledged by the broker.
  EXPECT_EQ(RowOf(summary, "orders").out, 20000u);
  EXPECT_EQ(RowOf(summary, "garbled").out, 200u);
  EXPECT_EQ(RowOf(summary, "to_kafka").in, 20200u);
  // Out of Kafka: all of it read back, and in = out + filtered + dead-lettered.
  const SummaryRow source = RowOf(summary, "from_kafka");
  const SummaryRow parse = RowOf(summary, "parse");
  const SummaryRow filter = RowOf(summary, "big_orders");
  const SummaryRow publish = RowOf(summary, "publish");
  EXPECT_EQ(source.out, 20200u);
  EXPECT_EQ(parse.dead_lettered, 200u);
  EXPECT_GT(filter.dropped, 0u);
  EXPECT_GT(publish.in, 0u);
  EXPECT_EQ(source.out, publish.in + filter.dropped + parse.dead_lettered);
  EXPECT_THAT(summary, HasSubstr("events: 40,400 emitted = "));
  EXPECT_THAT(summary, HasSubstr("+ 200 dead-lettered + 0 discarded + 0 in flight"));

  // The dead letters are exactly the malformed orders, with the reason.
  absl::StatusOr<connectors::DeadLetterFileContents> letters =
      connectors::ReadDeadLetterFile(dir + "/dead-letters.log");
  ASSERT_TRUE(letters.ok()) << letters.status();
  ASSERT_EQ(letters->entries.size(), 200u);
  for (const connectors::DeadLetterFileEntry& entry : letters->entries) {
    absl::StatusOr<connectors::ParsedDeadLetter> parsed =
        connectors::ParseDeadLetterRecord(entry.record);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->letter.stage, "parse");
    EXPECT_EQ(parsed->letter.source, "from_kafka");
    EXPECT_THAT(parsed->letter.error, HasSubstr("not valid JSON"));
    EXPECT_THAT(parsed->letter.value, ::testing::EndsWith("\"amount\": "));
  }
}

// The issue's end-to-end case: file -> JSON stages -> file reproduces the
// expected output exactly, and dead-letters exactly the malformed lines, each
// with its line number and reason.
TEST(CliTest, FileJsonPipelineWritesTheExpectedFileAndDeadLettersTheMalformedLines) {
  const std::string dir = MakeTempDir("file-json");
  CommandResult result =
      RunCommand({kSluice, "run", kConfigs + "/file-json.yaml", "--set", "data_dir=" + dir, "--set",
                  "stages.out.path=" + dir + "/out.ndjson"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(ReadFile(dir + "/out.ndjson"),
            ReadFile(kConfigs + "/data/paid-orders.expected.ndjson"));

  absl::StatusOr<std::unique_ptr<connectors::DeadLetterFileReader>> reader =
      connectors::DeadLetterFileReader::Open(dir + "/dead-letters.log");
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<std::string> found;
  connectors::DeadLetterFileEntry entry;
  while (true) {
    absl::StatusOr<bool> next = (*reader)->Next(entry);
    ASSERT_TRUE(next.ok()) << next.status();
    if (!*next) break;
    absl::StatusOr<connectors::ParsedDeadLetter> parsed =
        connectors::ParseDeadLetterRecord(entry.record);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->letter.stage, "parse");
    EXPECT_EQ(parsed->letter.pipeline, "file-json");
    found.push_back(
        absl::StrCat("line ", parsed->letter.origin.offset.value(), ": ", parsed->letter.error));
  }
  // Line 9 is empty (skipped, not an event); line 12 lacks its closing brace.
  EXPECT_THAT(found, ::testing::UnorderedElementsAre(
                         "line 4: INVALID_ARGUMENT: field \"/amount\": expected number, got string",
                         HasSubstr("line 5: INVALID_ARGUMENT: not valid JSON at byte 0"),
                         "line 7: INVALID_ARGUMENT: field \"/amount\": required but missing",
                         HasSubstr("line 12: INVALID_ARGUMENT: not valid JSON at byte 75")));
  EXPECT_EQ((*reader)->stats().corrupt_regions, 0u);
}

TEST(CliTest, BrokenConfigExitsTwoWithEveryErrorAndItsPlace) {
  const std::string dir = MakeTempDir("broken");
  const std::string path = dir + "/broken.yaml";
  WriteFile(path, R"(name: broken
stages:
  - name: in
    type: generatr
  - name: parse
    type: json_parse
    subscribe: inn
    concurency: 2
)");
  CommandResult result = RunCommand({kSluice, "validate", path});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(Lines(result.stderr_text),
              ElementsAre(path + ":4:11: stage \"in\": unknown stage type \"generatr\"; did you "
                                 "mean \"generator\"?",
                          path + ":7:16: stage \"parse\": subscribes to unknown stage \"inn\"; did "
                                 "you mean \"in\"?",
                          path + ":8:5: stage \"parse\": unknown key \"concurency\"; did you mean "
                                 "\"concurrency\"?"));
}

TEST(CliTest, MissingFileAndBadUsageExitTwo) {
  CommandResult missing = RunCommand({kSluice, "run", "/nonexistent/pipeline.yaml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.stderr_text, HasSubstr("/nonexistent/pipeline.yaml: cannot read the file"));
  CommandResult usage = RunCommand({kSluice, "frobnicate"});
  EXPECT_EQ(usage.exit_code, 2);
  CommandResult no_config = RunCommand({kSluice, "run"});
  EXPECT_EQ(no_config.exit_code, 2);
  EXPECT_THAT(no_config.stderr_text, HasSubstr("config is required"));
}

TEST(CliTest, EveryCommandHasHelpWithExamples) {
  for (const char* command : {"run", "validate", "graph", "test"}) {
    CommandResult result = RunCommand({kSluice, command, "--help"});
    EXPECT_EQ(result.exit_code, 0) << command;
    EXPECT_THAT(result.stdout_text, HasSubstr("Examples:")) << command;
    EXPECT_THAT(result.stdout_text, HasSubstr("sluice " + std::string(command))) << command;
  }
  CommandResult top = RunCommand({kSluice, "--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.stdout_text, HasSubstr("Exit codes: 0 ok, 1 runtime failure, 2 usage"));
}

TEST(CliTest, GraphPrintsTheTopologyAndItsDotRendersWithGraphviz) {
  CommandResult text = RunCommand({kSluice, "graph", kConfigs + "/routing.yaml"});
  ASSERT_EQ(text.exit_code, 0) << text.stderr_text;
  EXPECT_THAT(text.stdout_text, HasSubstr("by_status [route, processor, dispatch broadcast"));
  EXPECT_THAT(text.stdout_text, HasSubstr("<- by_status.refunds"));

  CommandResult partitioned = RunCommand({kSluice, "graph", kConfigs + "/partitioned.yaml"});
  EXPECT_THAT(partitioned.stdout_text,
              HasSubstr("events [generator, source, dispatch partition by key]"));
  EXPECT_THAT(partitioned.stdout_text, HasSubstr("parse [json_parse, processor, concurrency 4"));

  const std::string dir = MakeTempDir("graph");
  CommandResult dot = RunCommand({kSluice, "graph", kConfigs + "/routing.yaml", "--format", "dot"});
  ASSERT_EQ(dot.exit_code, 0);
  WriteFile(dir + "/routing.dot", dot.stdout_text);
  CommandResult svg = RunCommand({"dot", "-Tsvg", dir + "/routing.dot"});
  EXPECT_EQ(svg.exit_code, 0) << svg.stderr_text;
  EXPECT_THAT(svg.stdout_text, HasSubstr("<svg"));
  EXPECT_THAT(svg.stdout_text, HasSubstr("paid_out"));
}

TEST(CliTest, ValidatePrintShowsTheResolvedConfigWithSecretsMasked) {
  const std::string dir = MakeTempDir("secrets");
  const std::string path = dir + "/p.yaml";
  WriteFile(path, R"(name: ${NAME:-fallback}
stages:
  - name: in
    type: generator
    count: 10
    template: '{"token": "in the data is fine"}'
  - name: out
    type: "null"
    subscribe: in
    api_token: hunter2
)");
  CommandResult result = RunCommand({kSluice, "validate", "--print", path});
  // An unknown key is still an error; the secret never reaches the output.
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("unknown key \"api_token\""));
  EXPECT_THAT(result.stderr_text + result.stdout_text, ::testing::Not(HasSubstr("hunter2")));

  WriteFile(path, R"(name: ${NAME:-fallback}
dead_letter:
  type: file
  path: dlq.log
stages:
  - {name: in, type: generator, count: 10}
  - {name: out, type: "null", subscribe: in}
)");
  CommandResult ok = RunCommand({kSluice, "validate", "--print", path, "--set", "name=resolved"});
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_THAT(ok.stdout_text, HasSubstr("name: resolved"));
}

TEST(CliTest, SluiceTestPassesTheExampleTestsAndFailsWithADiff) {
  CommandResult pass = RunCommand({kSluice, "test", kConfigs + "/file-json.yaml"});
  EXPECT_EQ(pass.exit_code, 0) << pass.stdout_text << pass.stderr_text;
  EXPECT_THAT(pass.stdout_text, HasSubstr("3 passed, 0 failed"));

  const std::string dir = MakeTempDir("sluice-test");
  WriteFile(dir + "/wrong_test.yaml", R"(tests:
  - name: expects the wrong shape
    stages: [parse, tidy]
    input:
      - value: '{"id": 1, "status": "paid", "amount": 2}'
      - value: 'oops'
    expect:
      output:
        - value: '{"id":1,"amount":2}'
      dead_letters: []
)");
  CommandResult fail =
      RunCommand({kSluice, "test", kConfigs + "/file-json.yaml", dir + "/wrong_test.yaml"});
  EXPECT_EQ(fail.exit_code, 1);
  EXPECT_THAT(
      Lines(fail.stdout_text),
      ElementsAre(
          HasSubstr("FAIL expects the wrong shape (" + dir + "/wrong_test.yaml:2:5)"),
          R"(  output[0]: value: expected "{"id":1,"amount":2}", got "{"id":1,"total":2,"source":"sluice"}")",
          HasSubstr(
              R"(  dead_letters[0]: unexpected dead letter, value "oops", error "INVALID_ARGUMENT: not valid JSON)"),
          "0 passed, 1 failed"));
}

// SIGINT drains: the endless source stops, what is in flight finishes, the
// summary prints and the exit code is 0.
TEST(CliTest, SigintDrainsAndExitsZero) {
  const std::string dir = MakeTempDir("sigint");
  const std::string out = dir + "/out.ndjson";
  const std::string config = dir + "/endless.yaml";
  WriteFile(config, R"(name: endless
data_dir: data
stages:
  - {name: in, type: generator, count: 0, rate: 20000, template: '{"n": {{seq}}}'}
  - {name: out, type: file, subscribe: in, path: out.ndjson}
)");
  const std::string err = dir + "/stderr";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Not ctest's pipes: an orphan holding them would stall ctest.
    freopen("/dev/null", "w", stdout);
    freopen(err.c_str(), "w", stderr);
    execl(kSluice.c_str(), kSluice.c_str(), "run", config.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Whatever happens below, the child does not outlive the test.
  struct KillOnExit {
    pid_t pid;
    bool reaped = false;
    ~KillOnExit() {
      if (!reaped) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } child{pid};
  // Wait until events are flowing (the sink has written some), at most 30s.
  auto written = [&] {
    std::error_code missing;
    const auto size = std::filesystem::file_size(out, missing);
    return missing ? 0 : size;
  };
  for (int i = 0; i < 3000 && written() < 1000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(written(), 1000u) << ReadFile(err);
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  child.reaped = true;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadFile(err);
  const std::string summary = ReadFile(err);
  EXPECT_THAT(summary, HasSubstr("SIGINT: draining"));
  EXPECT_THAT(summary, HasSubstr("pipeline \"endless\" finished"));
  EXPECT_THAT(summary, HasSubstr("[adds up]"));
  // Everything acknowledged was written: the file has exactly as many lines
  // as the sink acknowledged ("events: 1,234 emitted = 1,234 acknowledged").
  const size_t lines = Lines(ReadFile(out)).size();
  const size_t at = summary.find(" emitted = ");
  ASSERT_NE(at, std::string::npos);
  const std::string acknowledged = summary.substr(at + 11, summary.find(' ', at + 11) - at - 11);
  EXPECT_EQ(absl::StrReplaceAll(acknowledged, {{",", ""}}), absl::StrCat(lines));
  EXPECT_GT(lines, 0u);
}

}  // namespace
}  // namespace sluice
