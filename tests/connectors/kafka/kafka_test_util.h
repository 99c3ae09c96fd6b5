// File: tests/connectors/kafka/kafka_test_util.h
//
// What the Kafka tests share (connectors and CLI alike), all talking to an
// embedded broker over TCP:
//   * plain librdkafka clients that check what really reached the broker,
//     byte for byte, without going through the code under test: a producer
//     that sends messages and waits for their delivery (ProduceMessages), a
//     consumer that reads a whole topic back (ReadTopic: every partition from
//     the beginning, no group), a reader of a group's committed offsets
//     through a handle of its own (CommittedReader: the broker's answer, not
//     the source's);
//   * for the Kafka source: a producer that writes values naming their own
//     coordinates ("p<partition>-o<offset>", true on a fresh topic of the
//     embedded broker, whose offsets start at 0), a sink that acknowledges at
//     once or holds its acknowledgements until the test releases them, a
//     pipeline `kafka source -> sink` started in the test, and the fixture
//     the source tests share (KafkaSourceFixture: a broker of the test's own).
//
//   EmbeddedBroker& broker = ...;
//   ASSERT_TRUE(ProduceMessages(broker.bootstrap_servers(), "in",
//                               {{.key = "k", .value = "v"}}).ok());
//   std::vector<KafkaMessage> read = ReadTopic(broker.bootstrap_servers(), "in", 1);
//
// Thread-compatible, except where shared with a pipeline: TestSinkState locks.
// The free functions make and destroy a client of their own per call.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include <librdkafka/rdkafka.h>

#include "connectors/kafka/embedded_broker.h"
#include "connectors/kafka/kafka_source.h"
#include "pipeline/mutex.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage.h"

namespace sluice::testing {

struct KafkaMessage {
  std::optional<std::string> key;  // nullopt: no key (null)
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = 0;

  bool operator==(const KafkaMessage& other) const = default;
};

struct KafkaClientDeleter {
  void operator()(rd_kafka_t* client) const { rd_kafka_destroy(client); }
};
using KafkaClient = std::unique_ptr<rd_kafka_t, KafkaClientDeleter>;

// A client of `type` bootstrapping from `brokers`, with extra properties.
inline KafkaClient MakeKafkaClient(
    rd_kafka_type_t type, const std::string& brokers,
    const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  std::vector<std::pair<std::string, std::string>> properties = {{"bootstrap.servers", brokers}};
  properties.insert(properties.end(), extra.begin(), extra.end());
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof(error)) !=
        RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << name << ": " << error;
    }
  }
  rd_kafka_t* client = rd_kafka_new(type, conf, error, sizeof(error));
  if (client == nullptr) {
    ADD_FAILURE() << "rd_kafka_new: " << error;
    rd_kafka_conf_destroy(conf);
  }
  return KafkaClient(client);
}

// Produces `messages` (partition < 0: the partitioner decides) and waits up
// to `timeout` for every delivery. Errors name the first failure.
inline absl::Status ProduceMessages(const std::string& brokers, const std::string& topic,
                                    const std::vector<KafkaMessage>& messages,
                                    absl::Duration timeout = absl::Seconds(30)) {
  struct Counts {
    int delivered = 0;
    rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  } counts;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), error, sizeof(error));
  rd_kafka_conf_set_opaque(conf, &counts);
  rd_kafka_conf_set_dr_msg_cb(conf,
                              [](rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
                                auto* seen = static_cast<Counts*>(opaque);
                                if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                                  if (seen->first_error == RD_KAFKA_RESP_ERR_NO_ERROR)
                                    seen->first_error = message->err;
                                } else {
                                  ++seen->delivered;
                                }
                              });
  KafkaClient producer(rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error)));
  if (producer == nullptr) return absl::InternalError(error);
  for (const KafkaMessage& message : messages) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(message.headers.size());
    for (const auto& [name, value] : message.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    const int32_t partition = message.partition < 0 ? RD_KAFKA_PARTITION_UA : message.partition;
    const char* key = message.key.has_value() ? message.key->data() : nullptr;
    const size_t key_size = message.key.has_value() ? message.key->size() : 0;
    const rd_kafka_resp_err_t produced = rd_kafka_producev(
        producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_size),
        RD_KAFKA_V_VALUE(const_cast<char*>(message.value.data()), message.value.size()),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (produced != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(headers);
      return absl::InternalError(absl::StrCat("produce: ", rd_kafka_err2str(produced)));
    }
  }
  rd_kafka_flush(producer.get(), static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (counts.first_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("delivery failed: ", rd_kafka_err2str(counts.first_error)));
  }
  if (counts.delivered != static_cast<int>(messages.size())) {
    return absl::DeadlineExceededError(
        absl::StrCat("delivered ", counts.delivered, " of ", messages.size()));
  }
  return absl::OkStatus();
}

// Reads `topic` from the beginning of every partition until `count` messages
// arrived (then `settle` more, to catch extra ones) or `timeout` passed.
// Messages come in partition order, then offset order.
inline std::vector<KafkaMessage> ReadTopic(const std::string& brokers, const std::string& topic,
                                           size_t count, absl::Duration timeout = absl::Seconds(30),
                                           absl::Duration settle = absl::Milliseconds(300)) {
  std::vector<KafkaMessage> messages;
  KafkaClient consumer = MakeKafkaClient(RD_KAFKA_CONSUMER, brokers,
                                         {{"group.id", "sluice-test-reader"},
                                          {"enable.auto.commit", "false"},
                                          {"enable.partition.eof", "false"}});
  if (consumer == nullptr) return messages;
  const absl::Time deadline = absl::Now() + timeout;
  // Partition count from the metadata (retried: the topic may be new).
  int partitions = 0;
  while (partitions == 0 && absl::Now() < deadline) {
    rd_kafka_topic_t* handle = rd_kafka_topic_new(consumer.get(), topic.c_str(), nullptr);
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(consumer.get(), 0, handle, &metadata, 5000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      partitions = metadata->topics[0].partition_cnt;
    }
    if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
    rd_kafka_topic_destroy(handle);
  }
  if (partitions == 0) {
    ADD_FAILURE() << "topic " << topic << " has no partitions";
    return messages;
  }
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(consumer.get(), assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  std::optional<absl::Time> settle_until;
  while (absl::Now() < (settle_until ? *settle_until : deadline)) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer.get(), 50);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaMessage read;
      if (message->key != nullptr) {
        read.key = std::string(static_cast<const char*>(message->key), message->key_len);
      }
      read.value = std::string(static_cast<const char*>(message->payload), message->len);
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          read.headers.emplace_back(name, std::string(static_cast<const char*>(value), size));
        }
      }
      read.partition = message->partition;
      read.offset = message->offset;
      read.timestamp_ms = rd_kafka_message_timestamp(message, nullptr);
      messages.push_back(std::move(read));
      if (messages.size() >= count && !settle_until) settle_until = absl::Now() + settle;
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_consumer_close(consumer.get());
  std::stable_sort(
      messages.begin(), messages.end(), [](const KafkaMessage& a, const KafkaMessage& b) {
        return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
      });
  return messages;
}

// ---------------------------------------------------------------------------
// The Kafka source

// Polls `condition` every 10ms until it holds (true) or `timeout` passes.
inline bool WaitUntil(const std::function<bool()>& condition,
                      absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// A message's coordinates, as its value names them.
struct Coordinates {
  int32_t partition = 0;
  int64_t offset = 0;
  auto operator<=>(const Coordinates&) const = default;
};

inline std::string ValueFor(int32_t partition, int64_t offset) {
  return absl::StrCat("p", partition, "-o", offset);
}

inline Coordinates ParseValue(std::string_view value) {
  Coordinates coordinates;
  const size_t dash = value.find("-o");
  coordinates.partition = std::stoi(std::string(value.substr(1, dash - 1)));
  coordinates.offset = std::stoll(std::string(value.substr(dash + 2)));
  return coordinates;
}

// Produces to explicit partitions and counts per partition, so that the
// n-th message of partition p has offset n on a fresh topic.
class TestProducer {
 public:
  TestProducer(const std::string& bootstrap, std::string topic, int partitions)
      : topic_(std::move(topic)), next_(static_cast<size_t>(partitions), 0) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char error[512];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof(error));
    rd_kafka_conf_set(conf, "linger.ms", "5", error, sizeof(error));
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
    EXPECT_NE(handle_, nullptr) << error;
  }
  ~TestProducer() { rd_kafka_destroy(handle_); }
  TestProducer(const TestProducer&) = delete;
  TestProducer& operator=(const TestProducer&) = delete;

  // `per_partition` more messages on every partition, each with key
  // "k<partition>-<offset>" and header "n" = its offset; waits until the
  // broker has them all.
  void Produce(int64_t per_partition) {
    for (int64_t i = 0; i < per_partition; ++i) {
      for (size_t p = 0; p < next_.size(); ++p) {
        const auto partition = static_cast<int32_t>(p);
        const int64_t offset = next_[p]++;
        const std::string value = ValueFor(partition, offset);
        const std::string key = absl::StrCat("k", partition, "-", offset);
        const std::string header = absl::StrCat(offset);
        rd_kafka_resp_err_t err;
        do {
          err = rd_kafka_producev(
              handle_, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_PARTITION(partition),
              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
              RD_KAFKA_V_KEY(key.data(), key.size()),
              RD_KAFKA_V_HEADER("n", header.data(), static_cast<ssize_t>(header.size())),
              RD_KAFKA_V_END);
          if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(handle_, 10);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
      }
    }
    ASSERT_EQ(rd_kafka_flush(handle_, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  int64_t produced(int32_t partition) const { return next_[static_cast<size_t>(partition)]; }

 private:
  std::string topic_;
  std::vector<int64_t> next_;
  rd_kafka_t* handle_ = nullptr;
};

// Reads a group's committed offsets from the broker through a consumer
// handle that never joins the group.
class CommittedReader {
 public:
  CommittedReader(const std::string& bootstrap, const std::string& group) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char error[512];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof(error));
    rd_kafka_conf_set(conf, "group.id", group.c_str(), error, sizeof(error));
    handle_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
    EXPECT_NE(handle_, nullptr) << error;
  }
  ~CommittedReader() { rd_kafka_destroy(handle_); }
  CommittedReader(const CommittedReader&) = delete;
  CommittedReader& operator=(const CommittedReader&) = delete;

  // Per partition 0..partitions-1: the committed offset, -1 if none (or the
  // broker did not answer).
  std::vector<int64_t> Committed(const std::string& topic, int partitions) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
    std::vector<int64_t> offsets(static_cast<size_t>(partitions), -1);
    if (rd_kafka_committed(handle_, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) {
        const rd_kafka_topic_partition_t& element = list->elems[i];
        if (element.err == RD_KAFKA_RESP_ERR_NO_ERROR && element.offset >= 0) {
          offsets[static_cast<size_t>(element.partition)] = element.offset;
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return offsets;
  }

 private:
  rd_kafka_t* handle_ = nullptr;
};

// What the test sink saw and holds. The sink acknowledges each call's events
// at once (kAck) or defers them until the test releases them (kHold).
class TestSinkState {
 public:
  enum class Mode { kAck, kHold };

  // One HandleEvents() call's deferred acknowledgement.
  struct HeldBatch {
    PendingAcks acks;
    std::vector<Coordinates> events;
  };

  explicit TestSinkState(Mode mode = Mode::kAck) : mode_(mode) {}

  void set_mode(Mode mode) {
    MutexLock lock(&mu_);
    mode_ = mode;
  }
  // Events for which this returns true are failed (dead-lettered) instead.
  void set_fail_if(std::function<bool(const Coordinates&)> fail_if) {
    MutexLock lock(&mu_);
    fail_if_ = std::move(fail_if);
  }

  // Every event seen, duplicates included.
  size_t seen() const {
    MutexLock lock(&mu_);
    return seen_.size();
  }
  std::vector<Coordinates> seen_events() const {
    MutexLock lock(&mu_);
    return seen_;
  }
  std::set<Coordinates> distinct() const {
    MutexLock lock(&mu_);
    return {seen_.begin(), seen_.end()};
  }
  size_t held_events() const {
    MutexLock lock(&mu_);
    size_t count = 0;
    for (const HeldBatch& batch : held_) count += batch.events.size();
    return count;
  }
  // The events of each held batch, in the order held.
  std::vector<std::vector<Coordinates>> held_batches() const {
    MutexLock lock(&mu_);
    std::vector<std::vector<Coordinates>> batches;
    for (const HeldBatch& batch : held_) batches.push_back(batch.events);
    return batches;
  }
  // Keys and header "n" that did not match the value's coordinates.
  size_t mismatched() const {
    MutexLock lock(&mu_);
    return mismatched_;
  }

  // Acknowledges the held batches `release` picks (in the order they were
  // held, or the reverse) and forgets them.
  void Release(const std::function<bool(const HeldBatch&)>& release, bool reverse_order = false) {
    std::vector<HeldBatch> chosen;
    {
      MutexLock lock(&mu_);
      std::vector<HeldBatch> kept;
      for (HeldBatch& batch : held_) {
        (release(batch) ? chosen : kept).push_back(std::move(batch));
      }
      held_ = std::move(kept);
    }
    if (reverse_order) std::reverse(chosen.begin(), chosen.end());
    for (HeldBatch& batch : chosen) batch.acks.Ack();
  }
  void ReleaseAll() {
    Release([](const HeldBatch&) { return true; });
  }
  // Takes what is held without completing it (the sink's destructor drops
  // it: its events fail as abandoned, as a crashed sink's would).
  std::vector<HeldBatch> TakeHeld() {
    MutexLock lock(&mu_);
    return std::move(held_);
  }

  // The sink's side.
  absl::Status Handle(const EventBatch& batch, ConsumerAcks& acks) {
    std::vector<Coordinates> events;
    events.reserve(batch.size());
    MutexLock lock(&mu_);
    for (const Event& event : batch) {
      const Coordinates coordinates = ParseValue(event.value());
      seen_.push_back(coordinates);
      const std::string key = absl::StrCat("k", coordinates.partition, "-", coordinates.offset);
      if (event.key() != key || event.header("n") != absl::StrCat(coordinates.offset) ||
          event.origin().offset.value() != coordinates.offset) {
        ++mismatched_;
      }
      if (fail_if_ && fail_if_(coordinates)) {
        acks.Fail(event, absl::InvalidArgumentError("failed by the test"));
      } else {
        events.push_back(coordinates);
      }
    }
    if (mode_ == Mode::kHold) held_.push_back({acks.Defer(), std::move(events)});
    return absl::OkStatus();
  }

 private:
  mutable Mutex mu_;
  Mode mode_ ABSL_GUARDED_BY(mu_);
  std::function<bool(const Coordinates&)> fail_if_ ABSL_GUARDED_BY(mu_);
  std::vector<Coordinates> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<HeldBatch> held_ ABSL_GUARDED_BY(mu_);
  size_t mismatched_ ABSL_GUARDED_BY(mu_) = 0;
};

inline ConsumerFactory MakeTestSink(std::shared_ptr<TestSinkState> state) {
  class TestSink final : public Consumer {
   public:
    explicit TestSink(std::shared_ptr<TestSinkState> state) : state_(std::move(state)) {}
    // Held acknowledgements die with the sink (abandoned), never after the
    // pipeline.
    ~TestSink() override { state_->TakeHeld(); }
    absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override {
      return state_->Handle(batch, acks);
    }

   private:
    std::shared_ptr<TestSinkState> state_;
  };
  return [state](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<TestSink>(state);
  };
}

// Client properties that make a test's rebalances and reconnects take
// milliseconds instead of seconds.
//
// To see librdkafka's side of a failing test, run it with
// SLUICE_TEST_RDKAFKA_DEBUG=cgrp,consumer (librdkafka's `debug` property);
// its lines reach spdlog at debug level, which this then enables.
inline std::vector<std::pair<std::string, std::string>> FastClientProperties() {
  std::vector<std::pair<std::string, std::string>> properties = {
      {"heartbeat.interval.ms", "100"},    {"session.timeout.ms", "6000"},
      {"fetch.wait.max.ms", "50"},         {"reconnect.backoff.ms", "50"},
      {"reconnect.backoff.max.ms", "500"}, {"topic.metadata.refresh.interval.ms", "1000"}};
  if (const char* debug = std::getenv("SLUICE_TEST_RDKAFKA_DEBUG"); debug != nullptr) {
    properties.emplace_back("debug", debug);
    spdlog::set_level(spdlog::level::debug);
  }
  return properties;
}

inline std::unique_ptr<connectors::kafka::EmbeddedBroker> StartBroker(int brokers = 1) {
  absl::StatusOr<std::unique_ptr<connectors::kafka::EmbeddedBroker>> broker =
      connectors::kafka::EmbeddedBroker::Start({.brokers = brokers});
  EXPECT_TRUE(broker.ok()) << broker.status();
  return broker.ok() ? std::move(*broker) : nullptr;
}

// A source on `topic` of `broker` with fast commits and rebalances.
inline connectors::kafka::KafkaSourceOptions SourceOptions(
    const connectors::kafka::EmbeddedBroker& broker, std::string topic, std::string group) {
  connectors::kafka::KafkaSourceOptions options;
  options.client.brokers = broker.bootstrap_servers();
  options.client.properties = FastClientProperties();
  options.group = std::move(group);
  options.topics = {std::move(topic)};
  options.commit_interval = absl::Milliseconds(100);
  options.revoke_timeout = absl::Seconds(2);
  return options;
}

// `options` with session.timeout.ms set to `session_timeout_ms`. The
// embedded broker elects a group's leader session.timeout.ms - 1s after a
// member joins or leaves, and forgets a member that vanished without leaving
// (a crash, a fatal error) only after its session, so every rebalance step
// takes that long: tests with several members or restarts shorten it. Not
// below 4s: the first join of a group always waits 3s, and a member waiting
// for it sends no heartbeats, so a shorter session expires it before it is
// elected.
inline connectors::kafka::KafkaSourceOptions WithSessionTimeout(
    connectors::kafka::KafkaSourceOptions options, int session_timeout_ms = 4000) {
  for (auto& [name, value] : options.client.properties) {
    if (name == "session.timeout.ms") value = absl::StrCat(session_timeout_ms);
  }
  return options;
}

// A running `kafka source -> sink` pipeline.
class SourcePipeline {
 public:
  SourcePipeline(connectors::kafka::KafkaSourceOptions options, std::shared_ptr<TestSinkState> sink,
                 StageOptions sink_options = {.max_demand = 100}, std::string name = "kafka-test")
      : monitor_(std::make_shared<connectors::kafka::KafkaSourceMonitor>()),
        sink_(std::move(sink)) {
    PipelineBuilder builder({.name = std::move(name), .workers = 2});
    builder.AddProducer("source",
                        connectors::kafka::KafkaSource::Factory(std::move(options), monitor_));
    sink_options.subscribe = {"source"};
    builder.AddConsumer("sink", MakeTestSink(sink_), std::move(sink_options));
    auto built = std::move(builder).Build();
    EXPECT_TRUE(built.ok()) << built.status();
    if (!built.ok()) return;
    pipeline_ = std::move(*built);
    const absl::Status started = pipeline_->Start();
    EXPECT_TRUE(started.ok()) << started;
    if (!started.ok()) pipeline_.reset();
  }
  ~SourcePipeline() { Stop(); }

  bool ok() const { return pipeline_ != nullptr; }
  connectors::kafka::KafkaSourceStatus& status() { return *monitor_->instance(0); }
  Pipeline& pipeline() { return *pipeline_; }

  // Waits for the run to end by itself (every source finished, every event
  // done) and returns its report; past `timeout` it drains the pipeline
  // instead and returns nullopt. Then as Stop().
  std::optional<RunReport> WaitForEnd(absl::Duration timeout) {
    if (pipeline_ == nullptr || stopped_) return std::nullopt;
    std::future<RunReport> report =
        std::async(std::launch::async, [this] { return pipeline_->Wait(); });
    const bool ended =
        report.wait_for(absl::ToChronoNanoseconds(timeout)) == std::future_status::ready;
    if (!ended) pipeline_->Drain(absl::Seconds(1));
    stopped_ = true;
    report_ = report.get();
    if (!ended) return std::nullopt;
    return report_;
  }

  // Drains (in-flight events get `timeout`), stops (the source commits) and
  // returns the run's report. Idempotent.
  RunReport Stop(absl::Duration timeout = absl::Seconds(10)) {
    if (pipeline_ == nullptr || stopped_) return report_;
    stopped_ = true;
    pipeline_->Drain(timeout);
    report_ = pipeline_->Wait();
    return report_;
  }

 private:
  std::shared_ptr<connectors::kafka::KafkaSourceMonitor> monitor_;
  std::shared_ptr<TestSinkState> sink_;
  std::unique_ptr<Pipeline> pipeline_;
  bool stopped_ = false;
  RunReport report_;
};

// The Kafka source tests' fixture: a broker of the test's own (so that group
// state never leaks between tests), topics created with a TestProducer each.
//
//   class KafkaSourceTest : public KafkaSourceFixture {};
//   TEST_F(KafkaSourceTest, X) {
//     TestProducer& producer = CreateTopic("orders", 4);
//     producer.Produce(500);
//     SourcePipeline pipeline(SourceOptions(broker(), "orders", "group"), sink);
class KafkaSourceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = StartBroker();
    ASSERT_NE(broker_, nullptr);
  }

  connectors::kafka::EmbeddedBroker& broker() { return *broker_; }
  const std::string& bootstrap() const { return broker_->bootstrap_servers(); }

  // Creates `topic` with `partitions` and a producer for it (owned here).
  TestProducer& CreateTopic(const std::string& topic, int partitions) {
    const absl::Status created = broker_->CreateTopic(topic, partitions);
    EXPECT_TRUE(created.ok()) << created;
    producers_.push_back(std::make_unique<TestProducer>(bootstrap(), topic, partitions));
    return *producers_.back();
  }

 private:
  std::unique_ptr<connectors::kafka::EmbeddedBroker> broker_;
  std::vector<std::unique_ptr<TestProducer>> producers_;
};

}  // namespace sluice::testing
