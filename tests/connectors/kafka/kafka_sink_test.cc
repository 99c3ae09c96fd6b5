// The Kafka sink writes every event exactly once per delivery, keys, values
// and headers byte for byte, acknowledges an event only once the broker
// confirmed it, and fails (to the dead-letter path) what the broker never
// took. All against an embedded broker over TCP, read back with a plain
// librdkafka consumer.
#include "connectors/kafka/kafka_sink.h"

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/kafka/embedded_broker.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/stage_harness.h"

namespace sluice::connectors::kafka {
namespace {

using ::sluice::testing::CheckStage;
using ::sluice::testing::KafkaMessage;
using ::sluice::testing::ReadTopic;
using ::sluice::testing::RunSink;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TestEvent;
using ::testing::HasSubstr;

class KafkaSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EmbeddedBroker>> started = EmbeddedBroker::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    broker_ = std::move(*started);
  }

  std::string SinkYaml(const std::string& topic, const std::string& extra = "") const {
    return "type: kafka\nbrokers: " + broker_->bootstrap_servers() + "\ntopic: " + topic + "\n" +
           extra;
  }
  const std::string& brokers() const { return broker_->bootstrap_servers(); }

  std::unique_ptr<EmbeddedBroker> broker_;
};

// Keys, values and headers with bytes that text handling would mangle.
std::vector<TestEvent> AwkwardEvents(int count) {
  std::vector<TestEvent> events;
  for (int i = 0; i < count; ++i) {
    TestEvent event;
    event.key = "key-" + std::to_string(i % 17);
    event.value = std::string("{\"n\":") + std::to_string(i) + "}\t\xc3\xa9\xff" +
                  std::string(1, '\0') + "end";
    event.headers = {{"trace", "t-" + std::to_string(i)},
                     {"dup", "a"},
                     {"dup", "b"},
                     {"empty", ""},
                     {"bin", std::string("\x01\x00\x02", 3)}};
    events.push_back(std::move(event));
  }
  return events;
}

TEST_F(KafkaSinkTest, WritesEveryEventOnceWithKeyValueAndHeadersByteForByte) {
  ASSERT_TRUE(broker_->CreateTopic("out", 1).ok());
  const std::vector<TestEvent> inputs = AwkwardEvents(1000);
  StageRunResult result = RunSink(SinkYaml("out"), inputs, {.batch_size = 37});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), inputs.size());
  EXPECT_TRUE(result.dead_letters.empty()) << result.dead_letters[0].error;

  const std::vector<KafkaMessage> read = ReadTopic(brokers(), "out", inputs.size());
  ASSERT_EQ(read.size(), inputs.size());  // settle time shows no extra copies
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(read[i].key, inputs[i].key) << i;
    ASSERT_EQ(read[i].value, inputs[i].value) << i;
    ASSERT_EQ(read[i].headers, inputs[i].headers) << i;
  }
}

TEST_F(KafkaSinkTest, KeepsTimestampsAndSendsAnEmptyKeyAsNoKey) {
  ASSERT_TRUE(broker_->CreateTopic("stamped", 1).ok());
  StageRunResult result =
      RunSink(SinkYaml("stamped"),
              {{.value = "a", .timestamp_us = 1'700'000'000'123'000}, {.key = "k", .value = "b"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  const std::vector<KafkaMessage> read = ReadTopic(brokers(), "stamped", 2);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].key, std::nullopt);
  EXPECT_EQ(read[0].timestamp_ms, 1'700'000'000'123);
  EXPECT_EQ(read[1].key, "k");
}

TEST_F(KafkaSinkTest, SameKeyGoesToOnePartitionAcrossPartitions) {
  ASSERT_TRUE(broker_->CreateTopic("spread", 4).ok());
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 400; ++i) {
    inputs.push_back({.key = "user-" + std::to_string(i % 10), .value = std::to_string(i)});
  }
  StageRunResult result = RunSink(SinkYaml("spread"), inputs, {.batch_size = 50});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 400u);
  const std::vector<KafkaMessage> read = ReadTopic(brokers(), "spread", 400);
  ASSERT_EQ(read.size(), 400u);
  std::map<std::string, int32_t> partition_of;
  std::map<std::string, int> last_value;
  for (const KafkaMessage& message : read) {
    auto [it, inserted] = partition_of.emplace(*message.key, message.partition);
    EXPECT_EQ(it->second, message.partition) << *message.key;
    // Order is kept per key (one partition, produced in arrival order).
    const int value = std::stoi(message.value);
    if (last_value.count(*message.key)) {
      EXPECT_GT(value, last_value[*message.key]);
    }
    last_value[*message.key] = value;
  }
  EXPECT_EQ(partition_of.size(), 10u);
}

TEST_F(KafkaSinkTest, TopicFromHeaderRoutesEachEventAndFallsBackToTopic) {
  ASSERT_TRUE(broker_->CreateTopic("fallback", 1).ok());
  ASSERT_TRUE(broker_->CreateTopic("red", 1).ok());
  ASSERT_TRUE(broker_->CreateTopic("blue", 1).ok());
  StageRunResult result = RunSink(SinkYaml("fallback", "topic_from: header:dest\n"),
                                  {{.value = "1", .headers = {{"dest", "red"}}},
                                   {.value = "2", .headers = {{"dest", "blue"}}},
                                   {.value = "3"},
                                   {.value = "4", .headers = {{"dest", "red"}}}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 4u);
  auto values = [&](const std::string& topic, size_t count) {
    std::vector<std::string> out;
    for (const KafkaMessage& message : ReadTopic(brokers(), topic, count)) {
      out.push_back(message.value);
    }
    return out;
  };
  EXPECT_THAT(values("red", 2), ::testing::ElementsAre("1", "4"));
  EXPECT_THAT(values("blue", 1), ::testing::ElementsAre("2"));
  EXPECT_THAT(values("fallback", 1), ::testing::ElementsAre("3"));
}

TEST_F(KafkaSinkTest, TopicFromJsonFieldWithoutFallbackDeadLettersEventsWithNoTopic) {
  ASSERT_TRUE(broker_->CreateTopic("orders", 1).ok());
  StageRunResult result =
      RunSink("type: kafka\nbrokers: " + brokers() + "\ntopic_from: field:/meta/topic\n",
              {{.value = R"({"meta":{"topic":"orders"},"n":1})"},
               {.value = R"({"n":2})"},
               {.value = "not json"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 1u);
  ASSERT_EQ(result.dead_letters.size(), 2u);
  EXPECT_THAT(result.dead_letters[0].error, HasSubstr("no topic for the event"));
  EXPECT_EQ(result.dead_letters[0].code, absl::StatusCode::kInvalidArgument);
  const std::vector<KafkaMessage> read = ReadTopic(brokers(), "orders", 1);
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].value, R"({"meta":{"topic":"orders"},"n":1})");
}

TEST_F(KafkaSinkTest, AnOversizedEventFailsAloneAndTheRestAreWritten) {
  ASSERT_TRUE(broker_->CreateTopic("sized", 1).ok());
  StageRunResult result =
      RunSink(SinkYaml("sized", "properties:\n  message.max.bytes: 2000\n"),
              {{.value = "small-1"}, {.value = std::string(5000, 'x')}, {.value = "small-2"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 2u);
  ASSERT_EQ(result.dead_letters.size(), 1u);
  EXPECT_EQ(result.dead_letters[0].code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.dead_letters[0].error, HasSubstr("too large"));
  std::vector<std::string> values;
  for (const KafkaMessage& message : ReadTopic(brokers(), "sized", 2))
    values.push_back(message.value);
  EXPECT_THAT(values, ::testing::ElementsAre("small-1", "small-2"));
}

TEST_F(KafkaSinkTest, BrokerDownForTheWholeRunAcknowledgesNothing) {
  ASSERT_TRUE(broker_->CreateTopic("down", 1).ok());
  ASSERT_TRUE(broker_->SetBrokerDown(1).ok());
  StageRunResult result = RunSink(SinkYaml("down", "properties:\n  message.timeout.ms: 1500\n"),
                                  AwkwardEvents(20), {.batch_size = 5});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 0u);
  // Each event is either dead-lettered (with librdkafka's reason) or still
  // in flight, never acknowledged.
  EXPECT_EQ(result.dead_letters.size() + result.report.events_in_flight(), 20u);
  ASSERT_FALSE(result.dead_letters.empty());
  for (const auto& dead : result.dead_letters) {
    EXPECT_THAT(dead.error, HasSubstr("Message timed out"));
    EXPECT_EQ(dead.code, absl::StatusCode::kUnavailable);
  }
  ASSERT_TRUE(broker_->SetBrokerUp(1).ok());
  EXPECT_TRUE(ReadTopic(brokers(), "down", 0, absl::Seconds(5), absl::Seconds(1)).empty());
}

TEST_F(KafkaSinkTest, RetriableProduceErrorsPastTheTimeoutDeadLetterWithLibrdkafkasText) {
  ASSERT_TRUE(broker_->CreateTopic("flaky", 1).ok());
  // The broker answers every produce request with a retriable error for
  // longer than message.timeout.ms: librdkafka retries, then gives up.
  std::vector<rd_kafka_resp_err_t> errors(2000, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
  broker_->PushRequestErrors(kApiProduce, errors);
  StageRunResult result = RunSink(
      SinkYaml("flaky", "properties:\n  message.timeout.ms: 1000\n  retry.backoff.ms: 10\n"),
      {{.value = "a"}, {.value = "b"}, {.value = "c"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 0u);
  ASSERT_EQ(result.dead_letters.size(), 3u);
  EXPECT_THAT(result.dead_letters[0].error, HasSubstr("kafka sink"));
  EXPECT_THAT(result.dead_letters[0].error, HasSubstr("delivery to topic \"flaky\" failed"));
  EXPECT_THAT(result.dead_letters[0].value, "a");
}

TEST_F(KafkaSinkTest, AFewRetriableErrorsAreRetriedAndDeliveredOnce) {
  ASSERT_TRUE(broker_->CreateTopic("retried", 1).ok());
  const rd_kafka_resp_err_t errors[] = {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS};
  broker_->PushRequestErrors(kApiProduce, errors);
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 50; ++i) inputs.push_back({.value = std::to_string(i)});
  StageRunResult result = RunSink(SinkYaml("retried"), inputs);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 50u);
  const std::vector<KafkaMessage> read = ReadTopic(brokers(), "retried", 50);
  ASSERT_EQ(read.size(), 50u);  // idempotence: no duplicates from the retries
  for (size_t i = 0; i < read.size(); ++i) EXPECT_EQ(read[i].value, std::to_string(i));
}

TEST_F(KafkaSinkTest, AcknowledgesOnlyOnceTheBrokerConfirmed) {
  ASSERT_TRUE(broker_->CreateTopic("later", 1).ok());
  ASSERT_TRUE(broker_->SetBrokerDown(1).ok());
  std::atomic<bool> finished{false};
  StageRunResult result;
  std::thread run([&] {
    result = RunSink(SinkYaml("later"), AwkwardEvents(30), {.batch_size = 10});
    finished.store(true);
  });
  // While the broker is down nothing can be confirmed, so the sink cannot
  // finish: its events stay unacknowledged (message.timeout.ms is 300s).
  const absl::Time until = absl::Now() + absl::Milliseconds(1500);
  while (absl::Now() < until) {
    ASSERT_FALSE(finished.load()) << "the sink finished without a broker";
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(broker_->SetBrokerUp(1).ok());
  run.join();
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 30u);
  EXPECT_EQ(ReadTopic(brokers(), "later", 30).size(), 30u);
}

TEST_F(KafkaSinkTest, EmbeddedBrokersMeanTheSharedInProcessBroker) {
  // The shared broker lives as long as the process: a topic of this run's own.
  const std::string topic = absl::StrCat("via-embedded-", absl::ToUnixNanos(absl::Now()));
  StageRunResult result =
      RunSink("type: kafka\nbrokers: embedded\ntopic: " + topic + "\n", {{.value = "e"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.report.events_acknowledged(), 1u);
  absl::StatusOr<EmbeddedBroker*> shared = EmbeddedBroker::Shared();
  ASSERT_TRUE(shared.ok());
  const std::vector<KafkaMessage> read = ReadTopic((*shared)->bootstrap_servers(), topic, 1);
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].value, "e");
}

TEST(KafkaSinkConfigTest, MissingBrokersAndTopicAreErrorsWithTheirPlace) {
  absl::Status status = CheckStage("type: kafka\n");
  EXPECT_THAT(status.message(), HasSubstr("brokers: is required"));
  EXPECT_THAT(status.message(), HasSubstr("topic: is required"));
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:"));
}

TEST(KafkaSinkConfigTest, UnknownOrInvalidPropertiesNameThePropertyAndPlace) {
  absl::Status status = CheckStage(
      "type: kafka\nbrokers: localhost:9092\ntopic: t\nproperties:\n  linger.ms: soon\n"
      "  no.such.property: 1\n  bootstrap.servers: x:1\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:5:"));
  EXPECT_THAT(status.message(), HasSubstr("properties: \"linger.ms\""));
  EXPECT_THAT(status.message(),
              HasSubstr("properties: \"no.such.property\": No such configuration"));
  EXPECT_THAT(status.message(), HasSubstr("set `brokers` instead"));
}

TEST(KafkaSinkConfigTest, IdempotenceCannotBeTurnedOffAndTopicFromIsChecked) {
  absl::Status status = CheckStage(
      "type: kafka\nbrokers: embedded\ntopic: t\ntopic_from: column:3\n"
      "properties:\n  enable.idempotence: false\n");
  EXPECT_THAT(status.message(), HasSubstr("always idempotent"));
  EXPECT_THAT(status.message(), HasSubstr("neither header:<name> nor field:<JSON pointer>"));
}

TEST(KafkaSinkConfigTest, ValidConfigChecksWithoutConnecting) {
  // Nothing listens there: a maker must not connect.
  EXPECT_TRUE(CheckStage("type: kafka\nbrokers: 127.0.0.1:1\ntopic: t\n"
                         "properties:\n  linger.ms: 5\n  acks: all\n  compression.type: lz4\n")
                  .ok());
}

}  // namespace
}  // namespace sluice::connectors::kafka
