// File: connectors/kafka/kafka_dead_letter.h
//
// The Kafka dead-letter backend (`dead_letter: {type: kafka}`): each failed
// event becomes one message on a dead-letter topic, in the same shape as a
// record of the file backend (connectors/file/dead_letter_file.h,
// MakeDeadLetterRecord): the event's key and value, its own headers followed
// by the `sluice.dlq.*` headers of DESIGN.md ("Dead letters"), and its
// timestamp. `sluice dlq inspect|replay` read either backend alike.
//
//   dead_letter:
//     type: kafka
//     brokers: embedded              # or "kafka-1:9092,..." (kafka_client_config.h)
//     topic: orders.dlq              # required
//     stop_timeout: 10s              # how long shutdown waits for unconfirmed records
//     properties:                    # librdkafka producer properties, passed through
//       message.timeout.ms: 30000
//
// Delivery. The producer is idempotent (`enable.idempotence: false` is a
// config error). Write() only queues the batch and returns; a thread of the
// queue's own creates the producer (on the first Write(), so `sluice
// validate` starts nothing), produces the queued records, serves the
// delivery reports and calls the batch's `done`: OK once the broker has
// confirmed every record of the batch, or kUnavailable with librdkafka's text
// ("kafka dead-letter topic "orders.dlq": delivery failed: Local: Message
// timed out") as soon as every record is settled and any one failed. The
// runtime then writes the whole batch again after a backoff, so a record may
// land twice on the topic (at-least-once), never zero times. Every failure
// is kUnavailable, even one the broker will never accept (a record larger
// than message.max.bytes): the event must not be dropped, so it stays in
// flight, logged at error level, until an operator fixes the topic.
//
// While the broker is down, records wait in librdkafka (up to
// message.timeout.ms, librdkafka's default 300 s) and then fail; the
// runtime keeps the events in flight and stops the stage's input meanwhile.
// If librdkafka's local queue is full the rest of a batch waits in the
// queue's own list, in order, and goes out as delivery reports make room.
//
// A fatal producer error (idempotence broken) fails what is outstanding; once
// nothing is, the thread replaces the producer with a new one.
//
// Thread-safe: Write() may be called concurrently from any thread; `done`
// is called on the queue's thread (or on the destructor's).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include <librdkafka/rdkafka.h>

#include "connectors/kafka/kafka_client_config.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/mutex.h"

namespace sluice::connectors::kafka {

struct KafkaDeadLetterOptions {
  // Brokers and librdkafka properties. REQUIRES: brokers not empty.
  KafkaClientOptions client;
  // The dead-letter topic. REQUIRES: not empty.
  std::string topic;
  // How long the destructor waits for records not yet confirmed before it
  // purges them (their writes fail, kUnavailable). Defaults to 10s.
  absl::Duration stop_timeout = absl::Seconds(10);
};

namespace internal {
struct DeadLetterWrite;
}  // namespace internal

class KafkaDeadLetterQueue final : public DeadLetterQueue {
 public:
  explicit KafkaDeadLetterQueue(KafkaDeadLetterOptions options);
  // Waits up to stop_timeout for what was written, fails the rest
  // (kUnavailable), then destroys the producer.
  ~KafkaDeadLetterQueue() override;
  KafkaDeadLetterQueue(const KafkaDeadLetterQueue&) = delete;
  KafkaDeadLetterQueue& operator=(const KafkaDeadLetterQueue&) = delete;

  void Write(DeadLetterBatch records, WriteDone done) override;
  // "kafka topic orders.dlq": never the brokers' credentials.
  std::string description() const override { return "kafka topic " + options_.topic; }

  const std::string& topic() const { return options_.topic; }
  // Write() calls completed with an error so far, and records confirmed by
  // the broker so far (for tests and metrics).
  uint64_t failed_writes() const { return failed_writes_.load(std::memory_order_relaxed); }
  uint64_t records_confirmed() const { return records_confirmed_.load(std::memory_order_relaxed); }

  // librdkafka's callbacks (called on the queue's thread, inside rd_kafka_poll).
  void OnDelivery(const rd_kafka_message_t& message);
  void OnError(rd_kafka_resp_err_t error, const char* reason);

 private:
  void Run();
  // Creates producer_ and topic_. Errors: kUnavailable.
  absl::Status CreateProducer();
  void DestroyProducer();
  // Produces from unsent_ until it is empty or librdkafka's queue is full.
  void ProduceUnsent();
  // Records one settled message of `write`; completes it when it was the last.
  void Settle(internal::DeadLetterWrite& write, rd_kafka_resp_err_t error);
  void Finish(internal::DeadLetterWrite& write);
  // Fails every write not yet completed (shutdown, producer lost).
  void FailAll(const absl::Status& status);
  absl::Status DeliveryError(rd_kafka_resp_err_t error) const;

  const KafkaDeadLetterOptions options_;

  Mutex mu_;
  CondVar cv_;
  // Writes handed over by Write(), not yet seen by the thread.
  std::deque<std::unique_ptr<internal::DeadLetterWrite>> queued_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;

  // Relaxed: counters read for reporting only.
  std::atomic<uint64_t> failed_writes_{0};
  std::atomic<uint64_t> records_confirmed_{0};
  // Set by OnError() on the queue's thread, read there: the producer must be
  // replaced once nothing is outstanding.
  bool fatal_ = false;

  // The thread's own (and the destructor's, after the join).
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_topic_t* topic_ = nullptr;
  // Writes being produced or awaiting reports, in arrival order.
  std::deque<std::unique_ptr<internal::DeadLetterWrite>> writes_;
  // (write, record index) still to hand to librdkafka, in order.
  struct Unsent {
    internal::DeadLetterWrite* write;
    size_t index;
  };
  std::deque<Unsent> unsent_;
};

}  // namespace sluice::connectors::kafka
