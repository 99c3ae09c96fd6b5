// File: tests/connectors/kafka/kafka_source_test_util.h
//
// What the Kafka source tests share: a plain librdkafka producer that writes
// values naming their own coordinates ("p<partition>-o<offset>", true on a
// fresh topic of the embedded broker, whose offsets start at 0), a reader of
// a group's committed offsets through a handle of its own (the broker's
// answer, not the source's), a sink that acknowledges at once or holds its
// acknowledgements until the test releases them, and a pipeline
// `kafka source -> sink` started in the test.
//
// Thread-safe where shared with the pipeline: TestSinkState locks.
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

namespace sluice::connectors::kafka::testing {

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

inline std::unique_ptr<EmbeddedBroker> StartBroker(int brokers = 1) {
  absl::StatusOr<std::unique_ptr<EmbeddedBroker>> broker =
      EmbeddedBroker::Start({.brokers = brokers});
  EXPECT_TRUE(broker.ok()) << broker.status();
  return broker.ok() ? std::move(*broker) : nullptr;
}

// A source on `topic` of `broker` with fast commits and rebalances.
inline KafkaSourceOptions SourceOptions(const EmbeddedBroker& broker, std::string topic,
                                        std::string group) {
  KafkaSourceOptions options;
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
inline KafkaSourceOptions WithSessionTimeout(KafkaSourceOptions options,
                                             int session_timeout_ms = 4000) {
  for (auto& [name, value] : options.client.properties) {
    if (name == "session.timeout.ms") value = absl::StrCat(session_timeout_ms);
  }
  return options;
}

// A running `kafka source -> sink` pipeline.
class SourcePipeline {
 public:
  SourcePipeline(KafkaSourceOptions options, std::shared_ptr<TestSinkState> sink,
                 StageOptions sink_options = {.max_demand = 100}, std::string name = "kafka-test")
      : monitor_(std::make_shared<KafkaSourceMonitor>()), sink_(std::move(sink)) {
    PipelineBuilder builder({.name = std::move(name), .workers = 2});
    builder.AddProducer("source", KafkaSource::Factory(std::move(options), monitor_));
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
  KafkaSourceStatus& status() { return *monitor_->instance(0); }
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
  std::shared_ptr<KafkaSourceMonitor> monitor_;
  std::shared_ptr<TestSinkState> sink_;
  std::unique_ptr<Pipeline> pipeline_;
  bool stopped_ = false;
  RunReport report_;
};

}  // namespace sluice::connectors::kafka::testing
