// Broker faults (issue #9), injected through the mock cluster's API while
// `sluice run` reads a topic from a three-broker cluster: every response
// slowed by 300 ms, Fetch and OffsetCommit requests failing, every
// partition's leader moved, one broker down and back. The pipeline waits
// and recovers by itself; at the end every event has reached the sink, none
// is missing, and the run exits 0.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/kafka/embedded_broker.h"
#include "tests/chaos/chaos_util.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"
#include "tests/tools/sluice_process.h"

namespace sluice::testing {
namespace {

using connectors::kafka::kApiFetch;
using connectors::kafka::kApiOffsetCommit;
using ::testing::HasSubstr;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

TEST(BrokerFaultsTest, SlowFailingAndMovingBrokersLoseNothing) {
  auto broker = StartBroker(3);
  ASSERT_NE(broker, nullptr);
  constexpr int kPartitions = 6;
  ASSERT_TRUE(broker->CreateTopic("events", kPartitions).ok());
  constexpr int kEvents = 60000;
  ASSERT_TRUE(ProduceIdEvents(broker->bootstrap_servers(), "events", kEvents).ok());

  // Kafka source -> 5,000 events/s -> file sink: a 12 s read, so that the
  // faults below (5 s) land while it runs.
  const std::string dir = MakeTempDir("chaos-broker-faults");
  WriteFile(dir + "/faults.yaml", absl::StrCat(R"(name: faults
data_dir: )",
                                               dir, R"(/data
stages:
  - name: in
    type: kafka
    brokers: ")",
                                               broker->bootstrap_servers(), R"("
    group: faults
    topics: [events]
    commit_interval: 100ms
    stop_when_idle: 5s
    properties:
      fetch.wait.max.ms: 50
      heartbeat.interval.ms: 100
      session.timeout.ms: 6000
      reconnect.backoff.ms: 50
      reconnect.backoff.max.ms: 500
  - name: pace
    type: rate_limit
    subscribe: in
    count: 500
    interval: 100ms
  - name: out
    type: file
    subscribe: pace
    path: )",
                                               dir, R"(/out.ndjson
)"));
  const std::string sink_path = dir + "/out.ndjson";
  SluiceProcess run({kSluice, "run", dir + "/faults.yaml", "--quiet"}, dir, "run");
  ASSERT_TRUE(run.started());
  ASSERT_TRUE(run.WaitFor([&] { return !ReadFile(sink_path).empty(); }, absl::Seconds(60)))
      << run.Stderr();
  auto pause = [&](absl::Duration duration) { run.WaitFor([] { return false; }, duration); };

  // 1. Every response 300 ms late, for 1.5 s.
  for (int id = 1; id <= 3; ++id)
    ASSERT_TRUE(broker->SetBrokerRtt(id, absl::Milliseconds(300)).ok());
  pause(absl::Milliseconds(1500));
  for (int id = 1; id <= 3; ++id) ASSERT_TRUE(broker->SetBrokerRtt(id, absl::ZeroDuration()).ok());
  // 2. Fetches and commits failing with retriable errors.
  broker->PushRequestErrors(
      kApiFetch, {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT});
  broker->PushRequestErrors(kApiOffsetCommit, {RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                               RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                               RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT});
  pause(absl::Milliseconds(500));
  // 3. Every partition's leader moves to the next broker.
  for (int partition = 0; partition < kPartitions; ++partition) {
    ASSERT_TRUE(broker->SetPartitionLeader("events", partition, 1 + (partition + 1) % 3).ok());
  }
  pause(absl::Milliseconds(500));
  // 4. A broker down for 2 s, then back.
  ASSERT_TRUE(broker->SetBrokerDown(3).ok());
  pause(absl::Seconds(2));
  ASSERT_TRUE(broker->SetBrokerUp(3).ok());
  const int written_during_faults = static_cast<int>(IdsInFile(sink_path).size());

  ASSERT_EQ(run.Wait(absl::Seconds(120)), 0) << run.Stderr();
  EXPECT_THAT(run.Stderr(), HasSubstr("[adds up]"));
  const IdCounts delivered = IdsInFile(sink_path);
  const Tally tally = Count(kEvents, delivered, {});
  std::cout << "chaos broker-faults: produced " << kEvents << " delivered " << delivered.size()
            << " dead-lettered 0 duplicated " << tally.duplicated << " missing " << tally.missing
            << " (written while faulting: " << written_during_faults << ")\n";
  // The faults landed mid-read.
  EXPECT_LT(written_during_faults, kEvents);
  EXPECT_EQ(tally.missing, 0);
  EXPECT_FALSE(delivered.contains(-1));
  // One process, no crash: a commit refused only delays the next one, and a
  // rebalance (the coordinator down) re-reads at most what was done since
  // the last commit.
  EXPECT_LE(tally.duplicated, 5000);
}

}  // namespace
}  // namespace sluice::testing
