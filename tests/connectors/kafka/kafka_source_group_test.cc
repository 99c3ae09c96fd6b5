// The Kafka source in a consumer group that changes under it: a second
// member joining takes partitions over without losing a message, and a
// partition revoked and re-granted while its revoke still drains is consumed
// again under its new assignment (events acknowledged late, for the old one,
// never move the new one's commit point).
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/kafka/kafka_source.h"
#include "tests/connectors/kafka/kafka_test_util.h"

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

bool AnyRevoking(const KafkaSourceStatus& status) {
  for (const KafkaPartitionStatus& partition : status.partitions()) {
    if (partition.revoking) return true;
  }
  return false;
}

std::set<Coordinates> Union(const TestSinkState& a, const TestSinkState& b) {
  std::set<Coordinates> all = a.distinct();
  for (const Coordinates& c : b.distinct()) all.insert(c);
  return all;
}

// A broker of each test's own; members with a short session (WithSessionTimeout).
class KafkaSourceGroupTest : public ::sluice::testing::KafkaSourceFixture {
 protected:
  KafkaSourceOptions GroupOptions(std::string topic, std::string group) {
    return WithSessionTimeout(SourceOptions(broker(), std::move(topic), std::move(group)));
  }
};

TEST_F(KafkaSourceGroupTest, ASecondMemberJoiningTakesPartitionsOverWithoutLoss) {
  TestProducer& producer = CreateTopic("shared", 6);
  producer.Produce(100);

  auto sink_a = std::make_shared<TestSinkState>();
  SourcePipeline a(GroupOptions("shared", "pair"), sink_a, {.max_demand = 100}, "a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(WaitUntil([&] { return a.status().partitions().size() == 6; }));

  auto sink_b = std::make_shared<TestSinkState>();
  SourcePipeline b(GroupOptions("shared", "pair"), sink_b, {.max_demand = 100}, "b");
  ASSERT_TRUE(b.ok());
  // Cooperative: A gives up some partitions, B gets them, 6 in all.
  ASSERT_TRUE(WaitUntil([&] {
    const size_t in_a = a.status().partitions().size();
    const size_t in_b = b.status().partitions().size();
    return in_b > 0 && in_a > 0 && in_a + in_b == 6 && !AnyRevoking(a.status());
  })) << a.status().partitions().size()
      << " + " << b.status().partitions().size();

  producer.Produce(100);
  ASSERT_TRUE(WaitUntil([&] { return Union(*sink_a, *sink_b).size() == 1200; }))
      << Union(*sink_a, *sink_b).size();
  EXPECT_GT(sink_b->seen(), 0u);
  EXPECT_EQ(sink_a->mismatched() + sink_b->mismatched(), 0u);

  RunReport report_a = a.Stop();
  RunReport report_b = b.Stop();
  EXPECT_TRUE(report_a.status.ok()) << report_a.status;
  EXPECT_TRUE(report_b.status.ok()) << report_b.status;
  CommittedReader reader(bootstrap(), "pair");
  EXPECT_THAT(reader.Committed("shared", 6), Each(200));
}

TEST_F(KafkaSourceGroupTest, APartitionReGrantedDuringASlowRevokeKeepsConsuming) {
  TestProducer& producer = CreateTopic("regrant", 4);
  producer.Produce(50);

  // A holds every acknowledgement: a revoke from it can only time out.
  auto sink_a = std::make_shared<TestSinkState>(TestSinkState::Mode::kHold);
  KafkaSourceOptions options_a = GroupOptions("regrant", "regrant");
  options_a.revoke_timeout = absl::Seconds(2);
  SourcePipeline a(options_a, sink_a, {.max_demand = 100}, "a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(WaitUntil([&] { return sink_a->seen() == 200; })) << sink_a->seen();
  std::vector<Partition> first_ids;
  for (const KafkaPartitionStatus& partition : a.status().partitions()) {
    first_ids.push_back(partition.id);
  }
  ASSERT_EQ(first_ids.size(), 4u);

  // B joins: A starts revoking and waits for its held events ...
  {
    auto sink_b = std::make_shared<TestSinkState>();
    SourcePipeline b(GroupOptions("regrant", "regrant"), sink_b, {.max_demand = 100}, "b");
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(WaitUntil([&] { return AnyRevoking(a.status()); }));
    // ... and B leaves again before that drain ends.
    b.Stop();
  }
  // A's revoke times out, unassigns, and the group gives A everything back
  // under new assignment ids.
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<KafkaPartitionStatus> partitions = a.status().partitions();
    if (partitions.size() != 4 || AnyRevoking(a.status())) return false;
    size_t fresh = 0;
    for (const KafkaPartitionStatus& partition : partitions) {
      if (std::find(first_ids.begin(), first_ids.end(), partition.id) == first_ids.end()) ++fresh;
    }
    return fresh > 0;
  }));

  // The held acknowledgements now complete: those of revoked assignments are
  // ignored, and the re-granted partitions are read again from their
  // committed offsets.
  sink_a->set_mode(TestSinkState::Mode::kAck);
  sink_a->ReleaseAll();
  CommittedReader reader(bootstrap(), "regrant");
  ASSERT_TRUE(WaitUntil([&] {
    const std::vector<int64_t> committed = reader.Committed("regrant", 4);
    return std::all_of(committed.begin(), committed.end(), [](int64_t c) { return c == 50; });
  })) << ::testing::PrintToString(reader.Committed("regrant", 4));
  EXPECT_GT(sink_a->seen(), 200u) << "the re-granted partitions were not read again";
  EXPECT_EQ(sink_a->distinct().size(), 200u);
  RunReport report = a.Stop();
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_THAT(reader.Committed("regrant", 4), ElementsAreArray({50, 50, 50, 50}));
}

}  // namespace
}  // namespace sluice::connectors::kafka
