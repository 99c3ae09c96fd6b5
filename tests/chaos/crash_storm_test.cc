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

#include "tests/chaos/chaos_util.h"
#include "tests/support/command.h"

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

  const IdCounts delivered = IdsInFile(dir + "/out.ndjson");
  std::string a_reason;
  const IdCounts dead_lettered = DeadLetterIds(dir + "/dead-letters.log", &a_reason);
  const Tally tally = Count(kEvents, delivered, dead_lettered);
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
            << " duplicated " << tally.duplicated << " missing " << tally.missing << "\n";
  EXPECT_EQ(tally.missing, 0);
  EXPECT_EQ(tally.duplicated, 0);
  EXPECT_EQ(tally.in_both, 0);
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
