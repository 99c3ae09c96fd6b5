// The embedded broker is a real Kafka broker on loopback: topics are made
// with the partitions asked for, plain librdkafka clients round-trip
// messages through it over TCP, and a broker set down refuses service until
// set up again, losing nothing.
#include "connectors/kafka/embedded_broker.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/connectors/kafka/kafka_test_util.h"

namespace sluice::connectors::kafka {
namespace {

using ::sluice::testing::KafkaMessage;
using ::sluice::testing::ProduceMessages;
using ::sluice::testing::ReadTopic;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

int PartitionCount(const std::string& brokers, const std::string& topic) {
  testing::KafkaClient client = testing::MakeKafkaClient(RD_KAFKA_PRODUCER, brokers);
  rd_kafka_topic_t* handle = rd_kafka_topic_new(client.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  int partitions = -1;
  if (rd_kafka_metadata(client.get(), 0, handle, &metadata, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    partitions = metadata->topics[0].partition_cnt;
  }
  if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
  rd_kafka_topic_destroy(handle);
  return partitions;
}

TEST(EmbeddedBrokerTest, ListensOnLoopbackWithOneAddressPerBroker) {
  absl::StatusOr<std::unique_ptr<EmbeddedBroker>> broker = EmbeddedBroker::Start({.brokers = 3});
  ASSERT_TRUE(broker.ok()) << broker.status();
  EXPECT_EQ((*broker)->broker_count(), 3);
  EXPECT_THAT((*broker)->bootstrap_servers(),
              MatchesRegex("127\\.0\\.0\\.1:[0-9]+,127\\.0\\.0\\.1:[0-9]+,127\\.0\\.0\\.1:[0-9]+"));
}

TEST(EmbeddedBrokerTest, CreatesTopicsWithTheirPartitionCountAndRefusesDuplicates) {
  absl::StatusOr<std::unique_ptr<EmbeddedBroker>> broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  ASSERT_TRUE((*broker)->CreateTopic("six", 6).ok());
  EXPECT_EQ(PartitionCount((*broker)->bootstrap_servers(), "six"), 6);
  absl::Status again = (*broker)->CreateTopic("six", 2);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_TRUE((*broker)->EnsureTopic("six", 2).ok());
  EXPECT_EQ(PartitionCount((*broker)->bootstrap_servers(), "six"), 6);
  EXPECT_EQ((*broker)->CreateTopic("none", 0).code(), absl::StatusCode::kInvalidArgument);
}

TEST(EmbeddedBrokerTest, AutoCreatesUnknownTopicsWithTheDefaultPartitionCount) {
  absl::StatusOr<std::unique_ptr<EmbeddedBroker>> broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  EXPECT_EQ(PartitionCount((*broker)->bootstrap_servers(), "made-on-demand"),
            kEmbeddedDefaultPartitions);
}

TEST(EmbeddedBrokerTest, RoundTripsKeysValuesAndHeadersOverTcp) {
  absl::StatusOr<std::unique_ptr<EmbeddedBroker>> broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  ASSERT_TRUE((*broker)->CreateTopic("round", 1).ok());
  std::vector<KafkaMessage> sent;
  for (int i = 0; i < 100; ++i) {
    std::string value("v\0\xff", 3);
    value.append(std::to_string(i));
    sent.push_back({.key = absl::StrCat("key-", i),
                    .value = value,
                    .headers = {{"h", absl::StrCat("x", i)}, {"empty", ""}},
                    .partition = 0});
  }
  sent[7].key.reset();  // no key
  ASSERT_TRUE(ProduceMessages((*broker)->bootstrap_servers(), "round", sent).ok());
  std::vector<KafkaMessage> read = ReadTopic((*broker)->bootstrap_servers(), "round", sent.size());
  ASSERT_EQ(read.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(read[i].key, sent[i].key) << i;
    EXPECT_EQ(read[i].value, sent[i].value) << i;
    EXPECT_EQ(read[i].headers, sent[i].headers) << i;
    EXPECT_EQ(read[i].offset, static_cast<int64_t>(i));
  }
}

TEST(EmbeddedBrokerTest, BrokerDownRefusesServiceAndUpRestoresItWithoutLoss) {
  absl::StatusOr<std::unique_ptr<EmbeddedBroker>> broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap_servers();
  ASSERT_TRUE((*broker)->CreateTopic("faults", 1).ok());
  ASSERT_TRUE(ProduceMessages(brokers, "faults", {{.value = "before"}}).ok());

  ASSERT_TRUE((*broker)->SetBrokerDown(1).ok());
  absl::Status while_down =
      ProduceMessages(brokers, "faults", {{.value = "during"}}, absl::Seconds(2));
  EXPECT_FALSE(while_down.ok());

  ASSERT_TRUE((*broker)->SetBrokerUp(1).ok());
  ASSERT_TRUE(ProduceMessages(brokers, "faults", {{.value = "after"}}).ok());
  std::vector<KafkaMessage> read = ReadTopic(brokers, "faults", 2);
  std::vector<std::string> values;
  for (const KafkaMessage& message : read) values.push_back(message.value);
  // "during" never made it (its producer gave up), the rest is all there.
  EXPECT_THAT(values, ::testing::ElementsAre("before", "after"));
  absl::Status unknown = (*broker)->SetBrokerDown(9);
  EXPECT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.message(), HasSubstr("broker 9"));
}

TEST(EmbeddedBrokerTest, InjectedProduceErrorsAreRetriedByTheClient) {
  absl::StatusOr<std::unique_ptr<EmbeddedBroker>> broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  ASSERT_TRUE((*broker)->CreateTopic("flaky", 1).ok());
  const rd_kafka_resp_err_t errors[] = {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT};
  (*broker)->PushRequestErrors(kApiProduce, errors);
  ASSERT_TRUE((*broker)->SetBrokerRtt(1, absl::Milliseconds(20)).ok());
  ASSERT_TRUE(ProduceMessages((*broker)->bootstrap_servers(), "flaky", {{.value = "x"}}).ok());
  EXPECT_EQ(ReadTopic((*broker)->bootstrap_servers(), "flaky", 1).size(), 1u);
}

TEST(EmbeddedBrokerTest, SharedBrokerIsOneInstanceForTheProcess) {
  absl::StatusOr<EmbeddedBroker*> first = EmbeddedBroker::Shared();
  absl::StatusOr<EmbeddedBroker*> second = EmbeddedBroker::Shared();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
  ASSERT_TRUE(
      ProduceMessages((*first)->bootstrap_servers(), "shared-topic", {{.value = "s"}}).ok());
}

}  // namespace
}  // namespace sluice::connectors::kafka
