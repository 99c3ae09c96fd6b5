// Scale-out (issue #9): three `sluice run` processes in one consumer group on
// a topic of 12 partitions. The partitions spread over the three; one is
// killed with SIGKILL and the others take its partitions once its session
// times out; a fourth joins and takes some over (cooperative rebalancing).
// In the end every event is in one of the processes' sink files, none is
// missing, and the duplicates are bounded by what the killed process had
// done but not committed.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <signal.h>

#include "connectors/kafka/embedded_broker.h"
#include "tests/chaos/chaos_util.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"
#include "tests/tools/sluice_process.h"

namespace sluice::testing {
namespace {

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

TEST(ScaleOutTest, ThreeProcessesOneKilledOneAddedLoseNothing) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  ASSERT_TRUE(broker->CreateTopic("events", 12).ok());
  constexpr int kEvents = 90000;
  ASSERT_TRUE(ProduceIdEvents(broker->bootstrap_servers(), "events", kEvents).ok());

  // Each process: Kafka source -> 3,000 events/s -> its own file. Together
  // the three need ~10 s, so the kill and the join land mid-read.
  const std::string dir = MakeTempDir("chaos-scale-out");
  WriteFile(dir + "/scale.yaml", absl::StrCat(R"(name: scale
data_dir: )",
                                              dir, R"(/data
stages:
  - name: in
    type: kafka
    brokers: ")",
                                              broker->bootstrap_servers(), R"("
    group: scale
    topics: [events]
    commit_interval: 100ms
    stop_when_idle: 4s
    properties: {fetch.wait.max.ms: 50, heartbeat.interval.ms: 100, session.timeout.ms: 3000}
  - name: pace
    type: rate_limit
    subscribe: in
    count: 300
    interval: 100ms
  - name: out
    type: file
    subscribe: pace
    path: unset
)"));
  auto start = [&](int n) {
    return std::make_unique<SluiceProcess>(
        std::vector<std::string>{kSluice, "run", dir + "/scale.yaml", "--quiet", "--set",
                                 absl::StrCat("stages.out.path=", dir, "/out", n, ".ndjson")},
        dir, absl::StrCat("run", n));
  };
  auto written = [&](int n) {
    return static_cast<int>(IdsInFile(absl::StrCat(dir, "/out", n, ".ndjson")).size());
  };
  std::vector<std::unique_ptr<SluiceProcess>> runs;
  for (int n = 0; n < 3; ++n) runs.push_back(start(n));
  // All three writing: the partitions spread.
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(runs[n]->WaitFor([&] { return written(n) > 0; }, absl::Seconds(60)))
        << runs[n]->Stderr();
  }
  runs[0]->WaitFor([] { return false; }, absl::Seconds(1));
  runs[0]->Signal(SIGKILL);
  EXPECT_EQ(runs[0]->Wait(absl::Seconds(10)), 128 + SIGKILL);
  const int killed_wrote = written(0);
  // A fourth joins once the others have taken the killed one's partitions.
  runs[1]->WaitFor([] { return false; }, absl::Seconds(4));
  runs.push_back(start(3));
  ASSERT_TRUE(runs[3]->WaitFor([&] { return written(3) > 0; }, absl::Seconds(60)))
      << "the fourth process got no partitions\n"
      << runs[3]->Stderr();
  for (int n = 1; n < 4; ++n) EXPECT_EQ(runs[n]->Wait(absl::Seconds(120)), 0) << runs[n]->Stderr();

  IdCounts delivered;
  int per_process[4] = {};
  for (int n = 0; n < 4; ++n) {
    for (const auto& [id, count] : IdsInFile(absl::StrCat(dir, "/out", n, ".ndjson"))) {
      delivered[id] += count;
      per_process[n] += count;
    }
  }
  // The killed process's last line may be torn: not an event.
  const int torn = delivered.contains(-1) ? delivered[-1] : 0;
  delivered.erase(-1);
  const Tally tally = Count(kEvents, delivered, {});
  std::cout << "chaos scale-out (per process " << per_process[0] << "/" << per_process[1] << "/"
            << per_process[2] << "/" << per_process[3] << "): produced " << kEvents << " delivered "
            << delivered.size() << " dead-lettered 0 duplicated " << tally.duplicated << " missing "
            << tally.missing << " torn-lines " << torn << "\n";
  EXPECT_EQ(tally.missing, 0);
  EXPECT_LE(torn, 1);
  // Duplicates: only what the killed process had written since its last
  // commit (100 ms at 3,000/s, plus its in-flight events): never more than
  // it wrote at all.
  EXPECT_LE(tally.duplicated, killed_wrote);
  EXPECT_LE(tally.duplicated, 5000);
}

}  // namespace
}  // namespace sluice::testing
