// Stage crash storms (issue #9): a stage that crashes on a share of its
// events. Below the supervisor's intensity every crash is a restart, the
// events the crashed instance had in hand are dead-lettered ("crashed: ..."),
// and nothing is lost: every generated event is in the sink or the
// dead-letter file. Past the intensity the supervisor gives up: the run ends
// with exit 1 naming the supervisor and the last crash.
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/file/dead_letter_file.h"
#include "tests/support/command.h"

#include "simdjson.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

// generator (`count` events, values {"id": N}, N from 0) -> storm
// (fault: crashes on `crash_rate` of events, 4 instances) -> file sink.
std::string StormConfig(const std::string& dir, int count, const std::string& crash_rate,
                        const std::string& supervision) {
  return absl::StrCat(R"(name: storm
data_dir: )",
                      dir, R"(/data
dead_letter: {type: file, path: )",
                      dir, R"(/dead-letters.log}
stages:
  - name: gen
    type: generator
    count: )",
                      count, R"(
    template: '{"id": {{seq}}}'
  - name: storm
    type: fault
    subscribe: gen
    concurrency: 4
    fail_rate: 0
    crash_rate: )",
                      crash_rate, R"(
    max_demand: 50
    supervision: )",
                      supervision, R"(
  - name: out
    type: file
    subscribe: storm
    path: )",
                      dir, R"(/out.ndjson
)");
}

// Ids of the JSON values in `text`, one per line.
std::map<int64_t, int> IdsInLines(const std::string& text) {
  std::map<int64_t, int> ids;
  simdjson::dom::parser parser;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    simdjson::dom::element root;
    int64_t id = -1;
    if (parser.parse(line.data(), line.size()).get(root) != simdjson::SUCCESS ||
        root["id"].get(id) != simdjson::SUCCESS) {
      id = -1;
    }
    ++ids[id];
  }
  return ids;
}

TEST(CrashStormTest, RestartsBelowTheIntensityLoseNothing) {
  constexpr int kEvents = 200000;
  const std::string dir = MakeTempDir("chaos-storm");
  // One crash in ~2,000 events: about 100 crashes over the run, each a
  // restart of one instance (one_for_one), well within 1,000 in 10 s.
  WriteFile(dir + "/storm.yaml",
            StormConfig(dir, kEvents, "0.0005",
                        "{strategy: one_for_one, max_restarts: 1000, max_seconds: 10s}"));
  const CommandResult run = RunCommand({kSluice, "run", dir + "/storm.yaml", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_THAT(run.stderr_text, HasSubstr("[adds up]"));

  const std::map<int64_t, int> delivered = IdsInLines(ReadFile(dir + "/out.ndjson"));
  std::map<int64_t, int> dead_lettered;
  std::string a_reason;
  auto reader = connectors::DeadLetterFileReader::Open(dir + "/dead-letters.log");
  ASSERT_TRUE(reader.ok()) << reader.status();
  connectors::DeadLetterFileEntry entry;
  simdjson::dom::parser parser;
  while (true) {
    absl::StatusOr<bool> next = (*reader)->Next(entry);
    ASSERT_TRUE(next.ok()) << next.status();
    if (!*next) break;
    absl::StatusOr<connectors::ParsedDeadLetter> parsed =
        connectors::ParseDeadLetterRecord(entry.record);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    simdjson::dom::element root;
    int64_t id = -1;
    if (parser.parse(parsed->letter.value).get(root) != simdjson::SUCCESS ||
        root["id"].get(id) != simdjson::SUCCESS) {
      id = -1;
    }
    ++dead_lettered[id];
    a_reason = parsed->letter.error;
  }
  int missing = 0, duplicated = 0, both = 0;
  for (int64_t id = 0; id < kEvents; ++id) {
    const auto in_sink = delivered.find(id);
    const auto in_dlq = dead_lettered.find(id);
    const int arrivals = (in_sink == delivered.end() ? 0 : in_sink->second) +
                         (in_dlq == dead_lettered.end() ? 0 : in_dlq->second);
    if (arrivals == 0) ++missing;
    if (arrivals > 1) duplicated += arrivals - 1;
    if (in_sink != delivered.end() && in_dlq != dead_lettered.end()) ++both;
  }
  // The summary's row for the stage ends with its restarts: about 100.
  int64_t restarts = -1;
  for (absl::string_view line : absl::StrSplit(run.stderr_text, '\n')) {
    if (!absl::StartsWith(line, "storm ")) continue;
    const std::vector<absl::string_view> columns =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (!absl::SimpleAtoi(columns.back(), &restarts)) restarts = -1;
  }
  EXPECT_GT(restarts, 30) << run.stderr_text;
  std::cout << "chaos crash-storm (" << restarts << " restarts): produced " << kEvents
            << " delivered " << delivered.size() << " dead-lettered " << dead_lettered.size()
            << " duplicated " << duplicated << " missing " << missing << "\n";
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_EQ(both, 0);
  EXPECT_FALSE(delivered.contains(-1)) << "a line that is not an event";
  // The crashes happened, and their events carry the reason.
  EXPECT_GT(dead_lettered.size(), 10u);
  EXPECT_THAT(a_reason, HasSubstr("crashed: INTERNAL: injected crash"));
}

TEST(CrashStormTest, PastTheIntensityTheSupervisorGivesUpWithExitOne) {
  const std::string dir = MakeTempDir("chaos-storm-escalate");
  // Every 100th event crashes: far more than 3 restarts in 5 s.
  WriteFile(dir + "/storm.yaml",
            StormConfig(dir, 1000000, "0.01",
                        "{strategy: one_for_one, max_restarts: 3, max_seconds: 5s}"));
  const CommandResult run = RunCommand({kSluice, "run", dir + "/storm.yaml", "--quiet"});
  EXPECT_EQ(run.exit_code, 1) << run.stderr_text;
  EXPECT_THAT(run.stderr_text, HasSubstr("reached max_restarts (3 in 5s)"));
  EXPECT_THAT(run.stderr_text, HasSubstr("injected crash"));
  std::cout << "chaos crash-storm-escalation: exit " << run.exit_code << "\n";
}

}  // namespace
}  // namespace sluice::testing
