// The Kafka source against a real broker over TCP (the embedded mock
// cluster): every message arrives with its key and headers, and the offsets
// the group commits are exactly the contiguous prefix of done events, under
// out-of-order acknowledgements, dead letters and a restart.
#include "connectors/kafka/kafka_source.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/kafka/embedded_broker.h"
#include "pipeline/config/pipeline_config.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/string_view_compat.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tools/config/yaml_loader.h"

namespace sluice::connectors::kafka {
namespace {

using ::sluice::testing::CommittedReader;
using ::sluice::testing::Coordinates;
using ::sluice::testing::SourceOptions;
using ::sluice::testing::SourcePipeline;
using ::sluice::testing::TestProducer;
using ::sluice::testing::TestSinkState;
using ::sluice::testing::WaitUntil;
using ::sluice::testing::WithSessionTimeout;
using ::testing::Each;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Every coordinate (p, o) with o in [from[p], to[p]).
std::set<Coordinates> Range(const std::vector<int64_t>& from, const std::vector<int64_t>& to) {
  std::set<Coordinates> all;
  for (size_t p = 0; p < to.size(); ++p) {
    for (int64_t o = from[p]; o < to[p]; ++o) all.insert({static_cast<int32_t>(p), o});
  }
  return all;
}

absl::Status CheckSourceYaml(std::string_view stage_yaml) {
  const std::string yaml =
      absl::StrCat("name: check\nstages:\n  - name: source\n", "    ",
                   absl::StrReplaceAll(Av(stage_yaml), {{"\n", "\n    "}}),
                   "\n  - name: sink\n    type: \"null\"\n    subscribe: source\n");
  absl::StatusOr<ConfigNode> root = config::LoadYamlString(yaml, "pipeline.yaml");
  if (!root.ok()) return root.status();
  return BuildPipelineConfig(*root, {}).status();
}

TEST(KafkaSourceConfigTest, AcceptsAMinimalSource) {
  absl::Status minimal =
      CheckSourceYaml("type: kafka\nbrokers: localhost:9092\ngroup: g\ntopics: [t]");
  EXPECT_TRUE(minimal.ok()) << minimal;
  EXPECT_TRUE(CheckSourceYaml("type: kafka\nbrokers: localhost:9092\ngroup: g\n"
                              "topic_regex: 'orders\\..*'\nordering: partition\n"
                              "auto_offset_reset: latest\ncommit_interval: 250ms\n"
                              "revoke_timeout: 5s\nfetch_buffer: 500\nstop_when_idle: 500ms")
                  .ok());
}

TEST(KafkaSourceConfigTest, RequiresAGroupAndExactlyOneOfTopicsAndRegex) {
  absl::Status status = CheckSourceYaml("type: kafka\nbrokers: b:9092\ntopics: [t]");
  EXPECT_THAT(status.message(), HasSubstr("group: is required"));
  status = CheckSourceYaml("type: kafka\nbrokers: b:9092\ngroup: g");
  EXPECT_THAT(status.message(), HasSubstr("exactly one of `topics` and `topic_regex`"));
  status = CheckSourceYaml("type: kafka\nbrokers: b:9092\ngroup: g\ntopics: [t]\ntopic_regex: x");
  EXPECT_THAT(status.message(), HasSubstr("exactly one of `topics` and `topic_regex`"));
}

TEST(KafkaSourceConfigTest, RejectsPropertiesTheSourceOwnsAndBadChoices) {
  absl::Status status = CheckSourceYaml(
      "type: kafka\nbrokers: b:9092\ngroup: g\ntopics: [t]\n"
      "properties: {enable.auto.commit: true}");
  EXPECT_THAT(status.message(), HasSubstr("\"enable.auto.commit\" is set by the source"));
  status = CheckSourceYaml("type: kafka\nbrokers: b:9092\ngroup: g\ntopics: [t]\nordering: key");
  EXPECT_THAT(status.message(), HasSubstr("\"key\" is not one of: unordered, partition"));
}

// A broker of each test's own (tests/connectors/kafka/kafka_test_util.h).
class KafkaSourceTest : public ::sluice::testing::KafkaSourceFixture {};

TEST_F(KafkaSourceTest, DeliversEveryMessageAndCommitsEachPartitionToItsEnd) {
  TestProducer& producer = CreateTopic("orders", 4);
  producer.Produce(500);

  auto sink = std::make_shared<TestSinkState>();
  SourcePipeline pipeline(SourceOptions(broker(), "orders", "exact"), sink);
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 2000; }))
      << sink->distinct().size();
  // Demand-driven end to end: nothing twice.
  EXPECT_EQ(sink->seen(), 2000u);
  EXPECT_EQ(sink->mismatched(), 0u) << "a key, header or origin offset did not match the value";
  EXPECT_TRUE(pipeline.status().connected());
  EXPECT_EQ(pipeline.status().partitions().size(), 4u);

  RunReport report = pipeline.Stop();
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_acknowledged(), 2000u);
  CommittedReader reader(bootstrap(), "exact");
  EXPECT_THAT(reader.Committed("orders", 4), ElementsAreArray({500, 500, 500, 500}));
}

TEST_F(KafkaSourceTest, CommitsOnlyTheContiguousDonePrefixUnderOutOfOrderAcks) {
  TestProducer& producer = CreateTopic("acks", 1);
  producer.Produce(300);

  auto sink = std::make_shared<TestSinkState>(TestSinkState::Mode::kHold);
  // Every 50th event fails: dead-lettered, which also makes it done.
  sink->set_fail_if([](const Coordinates& c) { return c.offset % 50 == 7; });
  SourcePipeline pipeline(SourceOptions(broker(), "acks", "prefix"), sink, {.max_demand = 40});
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE(WaitUntil([&] { return sink->seen() == 300; })) << sink->seen();

  // Complete everything but the batch holding offset 150, newest first.
  auto holds_150 = [](const TestSinkState::HeldBatch& batch) {
    for (const Coordinates& c : batch.events) {
      if (c.offset == 150) return true;
    }
    return false;
  };
  int64_t first_held = -1;
  for (const std::vector<Coordinates>& events : sink->held_batches()) {
    for (const Coordinates& c : events) {
      if (c.offset == 150) first_held = events.front().offset;
    }
  }
  ASSERT_GT(first_held, 0);
  sink->Release([&](const TestSinkState::HeldBatch& batch) { return !holds_150(batch); },
                /*reverse_order=*/true);

  CommittedReader reader(bootstrap(), "prefix");
  ASSERT_TRUE(WaitUntil([&] { return reader.Committed("acks", 1)[0] == first_held; }))
      << reader.Committed("acks", 1)[0] << " != " << first_held;
  // Several commit intervals later it has not moved past the held batch.
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_EQ(reader.Committed("acks", 1)[0], first_held);
  ASSERT_EQ(pipeline.status().partitions().size(), 1u);
  EXPECT_EQ(pipeline.status().partitions()[0].committed, first_held);
  EXPECT_GT(pipeline.status().partitions()[0].in_flight, 0u);

  sink->ReleaseAll();
  ASSERT_TRUE(WaitUntil([&] { return reader.Committed("acks", 1)[0] == 300; }));
  RunReport report = pipeline.Stop();
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_dead_lettered(), 6u);
  EXPECT_EQ(report.events_acknowledged(), 294u);
}

TEST_F(KafkaSourceTest, RestartAfterACrashRedeliversExactlyTheUncommittedEvents) {
  TestProducer& producer = CreateTopic("restart", 2);
  producer.Produce(200);

  // First run: every third batch is never acknowledged, then the process
  // "crashes" (the drain gives up at once).
  std::vector<int64_t> expected_commit = {200, 200};
  {
    auto sink = std::make_shared<TestSinkState>(TestSinkState::Mode::kHold);
    SourcePipeline pipeline(SourceOptions(broker(), "restart", "crash"), sink, {.max_demand = 20});
    ASSERT_TRUE(pipeline.ok());
    ASSERT_TRUE(WaitUntil([&] { return sink->seen() == 400; })) << sink->seen();
    int batch_number = 0;
    sink->Release([&](const TestSinkState::HeldBatch& batch) {
      if (++batch_number % 3 != 0) return true;
      for (const Coordinates& c : batch.events) {
        int64_t& first = expected_commit[static_cast<size_t>(c.partition)];
        first = std::min(first, c.offset);
      }
      return false;
    });
    ASSERT_LT(expected_commit[0] + expected_commit[1], 400);
    RunReport report = pipeline.Stop(absl::Milliseconds(300));
    EXPECT_FALSE(report.drained);
  }
  CommittedReader reader(bootstrap(), "crash");
  EXPECT_EQ(reader.Committed("restart", 2), expected_commit);

  // Second run: exactly what was not committed, nothing lost.
  auto sink = std::make_shared<TestSinkState>();
  SourcePipeline pipeline(SourceOptions(broker(), "restart", "crash"), sink);
  ASSERT_TRUE(pipeline.ok());
  const std::set<Coordinates> uncommitted = Range(expected_commit, {200, 200});
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() >= uncommitted.size(); }));
  RunReport report = pipeline.Stop();
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(sink->distinct(), uncommitted);
  EXPECT_EQ(reader.Committed("restart", 2), std::vector<int64_t>({200, 200}));
}

// The source's metrics in the pipeline's snapshot.
StageMetricsSnapshot SourceMetrics(SourcePipeline& pipeline) {
  for (const StageReport& stage : pipeline.pipeline().Snapshot()) {
    if (stage.name == "source" && !stage.instances.empty()) {
      StageMetricsSnapshot metrics = stage.instances[0];
      metrics.restarts = stage.totals.restarts;
      return metrics;
    }
  }
  return {};
}

TEST_F(KafkaSourceTest, AFatalConsumerErrorCrashesTheSourceAndItsRestartReadsOn) {
  TestProducer& producer = CreateTopic("fatal", 2);
  producer.Produce(100);

  auto sink = std::make_shared<TestSinkState>();
  // The fenced consumer cannot leave the group: the broker waits for its
  // session to end before it lets the restarted one in.
  SourcePipeline pipeline(WithSessionTimeout(SourceOptions(broker(), "fatal", "fatal")), sink);
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 200; }));
  CommittedReader reader(bootstrap(), "fatal");
  ASSERT_TRUE(WaitUntil([&] {
    return reader.Committed("fatal", 2) == std::vector<int64_t>{100, 100};
  }));

  // A heartbeat answered FENCED_INSTANCE_ID (another consumer took this
  // one's static membership) is a fatal error for librdkafka's consumer.
  broker().PushRequestErrors(kApiHeartbeat, {RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID});
  ASSERT_TRUE(WaitUntil([&] { return SourceMetrics(pipeline).restarts >= 1; }))
      << "the source did not crash";
  EXPECT_THAT(SourceMetrics(pipeline).last_crash,
              HasSubstr("kafka source \"source\": fatal consumer error: FENCED_INSTANCE_ID"));

  // The restarted source has a consumer of its own that reads on from the
  // committed offsets.
  producer.Produce(100);
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 400; })) << sink->distinct().size();
  RunReport report = pipeline.Stop();
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(sink->distinct(), Range({0, 0}, {200, 200}));
  EXPECT_EQ(reader.Committed("fatal", 2), std::vector<int64_t>({200, 200}));
}

TEST_F(KafkaSourceTest, StopWhenIdleEndsTheRunWithEverythingDeliveredAndCommitted) {
  TestProducer& producer = CreateTopic("batch", 3);
  producer.Produce(300);

  auto sink = std::make_shared<TestSinkState>();
  KafkaSourceOptions options = SourceOptions(broker(), "batch", "batch");
  options.stop_when_idle = absl::Milliseconds(500);
  SourcePipeline pipeline(options, sink);
  ASSERT_TRUE(pipeline.ok());
  // No Drain(): the run ends by itself.
  std::optional<RunReport> report = pipeline.WaitForEnd(absl::Seconds(20));
  ASSERT_TRUE(report.has_value()) << "the source did not finish by itself; saw "
                                  << sink->distinct().size();
  EXPECT_TRUE(report->status.ok()) << report->status;
  EXPECT_TRUE(report->drained);
  EXPECT_EQ(sink->seen(), 900u);
  EXPECT_EQ(sink->distinct(), Range({0, 0, 0}, {300, 300, 300}));
  EXPECT_EQ(report->events_acknowledged(), 900u);
  CommittedReader reader(bootstrap(), "batch");
  EXPECT_THAT(reader.Committed("batch", 3), Each(300));
}

}  // namespace
}  // namespace sluice::connectors::kafka
