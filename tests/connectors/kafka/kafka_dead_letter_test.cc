// The Kafka dead-letter backend stores exactly the events a pipeline failed,
// each as one message with the event's key, value and headers and the
// `sluice.dlq.*` headers; it confirms a write only once the broker has every
// record of it, so that while the broker is down nothing is acknowledged and
// nothing is lost. All against an embedded broker over TCP, read back with a
// plain librdkafka consumer.
#include "connectors/kafka/kafka_dead_letter.h"

#include <chrono>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/file/dead_letter_file.h"
#include "connectors/kafka/embedded_broker.h"
#include "pipeline/config/pipeline_config.h"
#include "pipeline/pipeline.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/test_stages.h"
#include "tools/config/yaml_loader.h"

namespace sluice::connectors::kafka {
namespace {

using ::sluice::testing::EventNumber;
using ::sluice::testing::GeneratorState;
using ::sluice::testing::KafkaMessage;
using ::sluice::testing::MakeGenerator;
using ::sluice::testing::MakeMap;
using ::sluice::testing::MakeSink;
using ::sluice::testing::ReadTopic;
using ::sluice::testing::SinkLog;
using ::testing::HasSubstr;

// Waits for `condition` until `timeout`; true if it held.
template <typename Condition>
bool WaitUntil(Condition condition, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

std::map<std::string, std::string> HeaderMap(const KafkaMessage& message) {
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : message.headers) headers[name] = value;
  return headers;
}

class KafkaDeadLetterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EmbeddedBroker>> started = EmbeddedBroker::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    broker_ = std::move(*started);
    ASSERT_TRUE(broker_->CreateTopic("dlq", 2).ok());
  }

  std::shared_ptr<KafkaDeadLetterQueue> MakeQueue(
      std::vector<std::pair<std::string, std::string>> properties = {}) {
    KafkaDeadLetterOptions options;
    options.client.brokers = broker_->bootstrap_servers();
    options.client.properties = std::move(properties);
    options.topic = "dlq";
    options.stop_timeout = absl::Seconds(2);
    return std::make_shared<KafkaDeadLetterQueue>(std::move(options));
  }

  // numbers (events 0..total-1, key "key-<i % 16>") -> reject (fails every
  // multiple of 5, kInvalidArgument, no retry) -> sink.
  std::unique_ptr<Pipeline> MakeRejectingPipeline(std::shared_ptr<DeadLetterQueue> queue,
                                                  uint64_t total, std::shared_ptr<SinkLog> log) {
    PipelineBuilder builder({.name = "orders", .dead_letter = std::move(queue)});
    builder.AddProducer("numbers",
                        MakeGenerator(std::make_shared<GeneratorState>(), {.total = total}),
                        {.max_demand = 20});
    builder.AddProducerConsumer(
        "reject", MakeMap([](const Event& event, const StageContext&) -> absl::Status {
          const int64_t n = EventNumber(event.value());
          if (n % 5 == 0) return absl::InvalidArgumentError(absl::StrCat("rejected ", n));
          return absl::OkStatus();
        }),
        {.subscribe = {"numbers"}, .max_demand = 20, .retry = {.max_attempts = 1}});
    builder.AddConsumer("sink", MakeSink(std::move(log)), {.subscribe = {"reject"}});
    absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = std::move(builder).Build();
    EXPECT_TRUE(pipeline.ok()) << pipeline.status();
    return pipeline.ok() ? std::move(*pipeline) : nullptr;
  }

  std::unique_ptr<EmbeddedBroker> broker_;
};

TEST_F(KafkaDeadLetterTest, DeadLettersExactlyTheRejectedEventsWithTheirHeaders) {
  std::shared_ptr<KafkaDeadLetterQueue> queue = MakeQueue();
  auto log = std::make_shared<SinkLog>();
  std::unique_ptr<Pipeline> pipeline = MakeRejectingPipeline(queue, 200, log);
  ASSERT_NE(pipeline, nullptr);
  ASSERT_TRUE(pipeline->Start().ok());
  const RunReport report = pipeline->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_emitted(), 200u);
  EXPECT_EQ(report.events_acknowledged(), 160u);
  EXPECT_EQ(report.events_dead_lettered(), 40u);
  EXPECT_EQ(report.events_in_flight(), 0u);
  EXPECT_EQ(queue->records_confirmed(), 40u);
  EXPECT_EQ(queue->failed_writes(), 0u);
  EXPECT_EQ(queue->description(), "kafka topic dlq");

  const std::vector<KafkaMessage> read = ReadTopic(broker_->bootstrap_servers(), "dlq", 40);
  ASSERT_EQ(read.size(), 40u);  // settle time shows no extra copies
  std::set<int64_t> numbers;
  for (const KafkaMessage& message : read) {
    const int64_t n = EventNumber(message.value);
    ASSERT_EQ(n % 5, 0) << message.value;
    numbers.insert(n);
    EXPECT_EQ(message.key, absl::StrCat("key-", n % 16));
    std::map<std::string, std::string> headers = HeaderMap(message);
    EXPECT_EQ(headers["sluice.dlq.pipeline"], "orders");
    EXPECT_EQ(headers["sluice.dlq.stage"], "reject");
    EXPECT_EQ(headers["sluice.dlq.error"], absl::StrCat("INVALID_ARGUMENT: rejected ", n));
    EXPECT_EQ(headers["sluice.dlq.error_code"], "INVALID_ARGUMENT");
    EXPECT_EQ(headers["sluice.dlq.attempts"], "1");
    EXPECT_EQ(headers["sluice.dlq.source.stage"], "numbers");
    EXPECT_EQ(headers["sluice.dlq.replay_count"], "0");
    EXPECT_EQ(headers.count("sluice.dlq.source.topic"), 0u);  // the generator names no topic
    EXPECT_TRUE(headers.count("sluice.dlq.failed_at"));
    // The same record the file backend writes, parsed by the same code.
    DeadLetterRecord record{
        .key = *message.key, .value = message.value, .headers = message.headers};
    absl::StatusOr<ParsedDeadLetter> parsed = ParseDeadLetterRecord(record);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->letter.stage, "reject");
    EXPECT_EQ(parsed->letter.code, absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(parsed->letter.headers.empty());
  }
  EXPECT_EQ(numbers.size(), 40u);
  EXPECT_EQ(*numbers.begin(), 0);
  EXPECT_EQ(*numbers.rbegin(), 195);
}

TEST_F(KafkaDeadLetterTest, KeepsTheEventsOwnHeadersBeforeTheDlqOnes) {
  std::shared_ptr<KafkaDeadLetterQueue> queue = MakeQueue();
  DeadLetter letter;
  letter.key = "k";
  letter.value = std::string("v\0\xff", 3);
  letter.headers = {{"trace", "t-1"}, {"dup", "a"}, {"dup", "b"}, {"sluice.dlq.replay_count", "2"}};
  letter.timestamp_us = 1'700'000'000'123'000;
  letter.pipeline = "p";
  letter.stage = "s";
  letter.error = "INTERNAL: boom";
  letter.code = absl::StatusCode::kInternal;
  letter.attempts = 3;
  letter.source = "in";
  letter.source_topic = "orders";
  letter.source_partition = 3;
  letter.origin.offset = Offset(42);
  std::promise<absl::Status> done;
  queue->Write(std::make_shared<const std::vector<DeadLetter>>(std::vector<DeadLetter>{letter}),
               [&done](absl::Status status) { done.set_value(std::move(status)); });
  std::future<absl::Status> result = done.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_TRUE(result.get().ok());

  const std::vector<KafkaMessage> read = ReadTopic(broker_->bootstrap_servers(), "dlq", 1);
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].key, "k");
  EXPECT_EQ(read[0].value, letter.value);
  EXPECT_EQ(read[0].timestamp_ms, 1'700'000'000'123);
  EXPECT_EQ(read[0].headers, MakeDeadLetterRecord(letter).headers);
  std::map<std::string, std::string> headers = HeaderMap(read[0]);
  EXPECT_EQ(headers["sluice.dlq.source.topic"], "orders");
  EXPECT_EQ(headers["sluice.dlq.source.partition"], "3");
  EXPECT_EQ(headers["sluice.dlq.source.offset"], "42");
  EXPECT_EQ(headers["sluice.dlq.replay_count"], "2");
  EXPECT_EQ(read[0].headers[0], std::make_pair(std::string("trace"), std::string("t-1")));
}

// The "dead-letter backend down": the stage stops, nothing it
// dead-letters counts as done while the broker is away, and once it is back
// every event is accounted for.
TEST_F(KafkaDeadLetterTest, BrokerDownKeepsEventsInFlightAndBrokerBackAccountsForAll) {
  std::shared_ptr<KafkaDeadLetterQueue> queue =
      MakeQueue({{"message.timeout.ms", "500"}, {"reconnect.backoff.max.ms", "100"}});
  ASSERT_TRUE(broker_->SetBrokerDown(1).ok());
  auto log = std::make_shared<SinkLog>();
  std::unique_ptr<Pipeline> pipeline = MakeRejectingPipeline(queue, 200, log);
  ASSERT_NE(pipeline, nullptr);
  ASSERT_TRUE(pipeline->Start().ok());
  std::future<RunReport> run = std::async(std::launch::async, [&] { return pipeline->Wait(); });

  // Writes fail (librdkafka's timeout), several times over the backoff.
  ASSERT_TRUE(WaitUntil([&] { return queue->failed_writes() >= 3; }));
  auto dead_lettered = [&] {
    uint64_t total = 0;
    for (const StageReport& stage : pipeline->Snapshot())
      total += stage.totals.events_dead_lettered;
    return total;
  };
  EXPECT_EQ(dead_lettered(), 0u);
  EXPECT_EQ(queue->records_confirmed(), 0u);
  // The run cannot end: the dead letters are still in flight.
  EXPECT_EQ(run.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  // The rejecting stage holds its failures and takes no more input than its
  // demand allows: not all 200 went through.
  EXPECT_LT(log->size(), 160u);

  ASSERT_TRUE(broker_->SetBrokerUp(1).ok());
  ASSERT_EQ(run.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  const RunReport report = run.get();
  ASSERT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_emitted(), 200u);
  EXPECT_EQ(report.events_acknowledged() + report.events_dead_lettered(), 200u);
  EXPECT_EQ(report.events_dead_lettered(), 40u);
  EXPECT_EQ(report.events_in_flight(), 0u);
  EXPECT_EQ(log->size(), 160u);

  // Every rejected event is on the topic (duplicates allowed, losses not).
  const std::vector<KafkaMessage> read = ReadTopic(broker_->bootstrap_servers(), "dlq", 40);
  std::set<int64_t> numbers;
  for (const KafkaMessage& message : read) numbers.insert(EventNumber(message.value));
  EXPECT_EQ(numbers.size(), 40u);
  for (int64_t n = 0; n < 200; n += 5) EXPECT_TRUE(numbers.count(n)) << n;
  for (const KafkaMessage& message : read) {
    EXPECT_EQ(HeaderMap(message)["sluice.dlq.error"],
              absl::StrCat("INVALID_ARGUMENT: rejected ", EventNumber(message.value)));
  }
}

TEST_F(KafkaDeadLetterTest, AFailedWriteCarriesLibrdkafkasText) {
  std::shared_ptr<KafkaDeadLetterQueue> queue = MakeQueue({{"message.timeout.ms", "300"}});
  ASSERT_TRUE(broker_->SetBrokerDown(1).ok());
  std::promise<absl::Status> done;
  queue->Write(std::make_shared<const std::vector<DeadLetter>>(
                   std::vector<DeadLetter>{DeadLetter{.value = "a"}, DeadLetter{.value = "b"}}),
               [&done](absl::Status status) { done.set_value(std::move(status)); });
  std::future<absl::Status> result = done.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const absl::Status status = result.get();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(),
            "kafka dead-letter topic \"dlq\": delivery failed: Local: Message timed out");
  EXPECT_EQ(queue->failed_writes(), 1u);
}

TEST_F(KafkaDeadLetterTest, DestroyingWithUnconfirmedRecordsFailsTheirWritesOnce) {
  ASSERT_TRUE(broker_->SetBrokerDown(1).ok());
  std::shared_ptr<KafkaDeadLetterQueue> queue = MakeQueue();  // librdkafka's 300 s timeout
  std::atomic<int> calls{0};
  absl::Status seen;
  queue->Write(std::make_shared<const std::vector<DeadLetter>>(
                   std::vector<DeadLetter>{DeadLetter{.value = "a"}}),
               [&](absl::Status status) {
                 seen = std::move(status);
                 calls.fetch_add(1);
               });
  const absl::Time start = absl::Now();
  queue.reset();  // stop_timeout 2s, then purge
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(seen.code(), absl::StatusCode::kUnavailable);
}

// `dead_letter: {type: kafka}` in a pipeline file.
absl::StatusOr<PipelineConfig> ConfigWithDeadLetter(const std::string& dead_letter) {
  const std::string yaml = absl::StrCat(
      "name: p\n"
      "dead_letter:\n",
      dead_letter,
      "stages:\n"
      "  - {name: gen, type: generator, count: 1}\n"
      "  - {name: out, type: \"null\", subscribe: gen}\n");
  absl::StatusOr<ConfigNode> root = config::LoadYamlString(yaml, "p.yaml");
  if (!root.ok()) return root.status();
  return BuildPipelineConfig(*root, {});
}

TEST(KafkaDeadLetterConfigTest, TypeKafkaMakesTheQueueWithoutConnecting) {
  absl::StatusOr<PipelineConfig> config = ConfigWithDeadLetter(
      "  type: kafka\n  brokers: 127.0.0.1:1\n  topic: orders.dlq\n"
      "  stop_timeout: 3s\n  properties: {sasl.password: hunter2, linger.ms: 5}\n");
  ASSERT_TRUE(config.ok()) << config.status();
  auto* queue = dynamic_cast<KafkaDeadLetterQueue*>(config->options.dead_letter.get());
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->description(), "kafka topic orders.dlq");
  EXPECT_EQ(queue->topic(), "orders.dlq");
}

TEST(KafkaDeadLetterConfigTest, MissingTopicAndNoIdempotenceAreErrorsWithTheirPlace) {
  absl::StatusOr<PipelineConfig> config = ConfigWithDeadLetter(
      "  type: kafka\n  brokers: 127.0.0.1:1\n  properties: {enable.idempotence: false}\n");
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("p.yaml:"));
  EXPECT_THAT(message, HasSubstr("topic: is required"));
  EXPECT_THAT(message, HasSubstr("always idempotent"));

  config = ConfigWithDeadLetter("  type: kafka\n  topic: t\n  properties: {linger.ms: soon}\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("brokers"));
  EXPECT_THAT(config.status().message(), HasSubstr("linger.ms"));
}

}  // namespace
}  // namespace sluice::connectors::kafka
