// The Kafka source's flow control and outages: without demand it pauses its
// partitions and its buffer stays within `fetch_buffer` (nothing discarded,
// everything delivered once demand returns), and a broker that goes down and
// comes back loses nothing while readiness follows it.
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/kafka/kafka_source.h"
#include "tests/connectors/kafka/kafka_test_util.h"

namespace sluice::connectors::kafka {
namespace {

using ::sluice::testing::CommittedReader;
using ::sluice::testing::SourceOptions;
using ::sluice::testing::SourcePipeline;
using ::sluice::testing::TestProducer;
using ::sluice::testing::TestSinkState;
using ::sluice::testing::WaitUntil;
using ::testing::Each;

bool AllPaused(const KafkaSourceStatus& status, size_t partitions) {
  std::vector<KafkaPartitionStatus> all = status.partitions();
  return all.size() == partitions &&
         std::all_of(all.begin(), all.end(), [](const auto& p) { return p.paused; });
}

// A broker of each test's own (tests/connectors/kafka/kafka_test_util.h).
class KafkaSourceFlowTest : public ::sluice::testing::KafkaSourceFixture {};

TEST_F(KafkaSourceFlowTest, WithoutDemandPartitionsPauseAndTheBufferStaysBounded) {
  TestProducer& producer = CreateTopic("paused", 2);
  producer.Produce(1000);

  KafkaSourceOptions options = SourceOptions(broker(), "paused", "paused");
  options.fetch_buffer = 100;
  // The sink holds what it gets and stops taking input at 30 held events,
  // so demand stops.
  auto sink = std::make_shared<TestSinkState>(TestSinkState::Mode::kHold);
  SourcePipeline pipeline(options, sink, {.max_demand = 10, .buffer_size = 30});
  ASSERT_TRUE(pipeline.ok());
  KafkaSourceStatus& status = pipeline.status();
  ASSERT_TRUE(WaitUntil([&] { return AllPaused(status, 2) && status.buffered() >= 50; }))
      << "buffered " << status.buffered();
  // It stays so: fetching stopped, nothing piles up, nothing is dropped.
  const size_t seen_when_paused = sink->seen();
  const absl::Time until = absl::Now() + absl::Milliseconds(500);
  while (absl::Now() < until) {
    ASSERT_LE(status.buffered(), 100u);
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(AllPaused(status, 2));
  EXPECT_LE(status.peak_buffered(), 100u);
  EXPECT_EQ(sink->seen(), seen_when_paused);
  EXPECT_LT(seen_when_paused, 100u);

  // Demand returns: everything arrives, once.
  sink->set_mode(TestSinkState::Mode::kAck);
  sink->ReleaseAll();
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 2000; }))
      << sink->distinct().size();
  EXPECT_EQ(sink->seen(), 2000u);
  EXPECT_LE(status.peak_buffered(), 100u);
  RunReport report = pipeline.Stop();
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_discarded(), 0u);
  CommittedReader reader(bootstrap(), "paused");
  EXPECT_THAT(reader.Committed("paused", 2), Each(1000));
}

TEST_F(KafkaSourceFlowTest, ABrokerDownAndBackLosesNothing) {
  TestProducer& producer = CreateTopic("outage", 2);
  producer.Produce(100);

  auto sink = std::make_shared<TestSinkState>();
  SourcePipeline pipeline(SourceOptions(broker(), "outage", "outage"), sink);
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 200; }));
  ASSERT_TRUE(WaitUntil([&] { return pipeline.status().connected(); }));

  ASSERT_TRUE(broker().SetBrokerDown(1).ok());
  ASSERT_TRUE(WaitUntil([&] { return !pipeline.status().connected(); }))
      << "readiness stayed true with every broker down";
  ASSERT_TRUE(broker().SetBrokerUp(1).ok());
  producer.Produce(100);
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 400; })) << sink->distinct().size();
  ASSERT_TRUE(WaitUntil([&] { return pipeline.status().connected(); }));

  RunReport report = pipeline.Stop();
  EXPECT_TRUE(report.status.ok()) << report.status;
  CommittedReader reader(bootstrap(), "outage");
  EXPECT_THAT(reader.Committed("outage", 2), Each(200));
}

}  // namespace
}  // namespace sluice::connectors::kafka
