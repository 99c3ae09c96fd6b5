// File: connectors/kafka/kafka_sink.h
//
// KafkaSink (`type: kafka` as a sink) produces each event to a Kafka topic
// with an idempotent librdkafka producer, and acknowledges an event only once
// the broker has confirmed it (its delivery report). A delivery that fails
// after librdkafka's own retries (message.timeout.ms) fails the events with
// librdkafka's error text, so they are retried by policy and then
// dead-lettered; nothing is acknowledged unconfirmed.
//
//   - name: publish
//     type: kafka
//     subscribe: [enrich]
//     brokers: embedded            # or "kafka-1:9092,..." (connectors/kafka/kafka_client_config.h)
//     topic: orders-enriched       # fixed topic; with topic_from, the fallback
//     topic_from: header:dest      # or field:/meta/topic (a JSON pointer into the value)
//     properties:                  # librdkafka producer properties, passed through
//       linger.ms: 20
//       compression.type: lz4
//
// How it runs: HandleEvents() hands every event to librdkafka (non-blocking;
// the value zero-copy, its batch's memory kept alive until the delivery
// report) and defers the call's acknowledgement (ConsumerAcks::Defer). A
// thread of the sink's own polls the producer, which runs the delivery
// reports: the call's PendingAcks completes when every one of its events is
// reported; each event whose delivery failed fails with its own error.
//
// Decisions (docs/kafka.md, "Sink"):
//   - Key, value and headers go out byte for byte; an empty key is sent as
//     no key (null), so keyless events spread over partitions. The event's
//     timestamp, when set, becomes the message timestamp.
//   - Acknowledgement is per HandleEvents() call, completed when every one of
//     its messages has its delivery report: the events whose delivery failed
//     fail alone (PendingAcks::Complete), the others are acknowledged.
//   - An event that cannot be produced at all (larger than message.max.bytes,
//     no topic from topic_from and no `topic`) fails alone, kInvalidArgument.
//   - Backpressure is demand: the runtime stops handing a sink input once
//     `buffer_size` of its events are unacknowledged, so librdkafka's local
//     queue (queue.buffering.max.messages, 100000) does not fill at default
//     settings. If it does fill, the rest of the batch waits in the sink's
//     overflow list (bounded by the same demand) and the poll thread produces
//     it as deliveries make room: the worker never blocks and nothing is
//     dropped or failed for it.
//   - Flush() does not wait: the runtime finishes a draining sink only when
//     all its deferred acknowledgements are complete, which the poll thread
//     does; each message is bounded by message.timeout.ms.
//   - `enable.idempotence: false` in properties is a config error.
//   - A fatal producer error (idempotence broken) crashes the instance on its
//     next call, so the supervisor restarts it with a fresh producer.
//
// Thread-compatible, like every stage; its poll thread shares only what the
// header comments of the private members say.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include <librdkafka/rdkafka.h>

#include "connectors/kafka/kafka_client_config.h"
#include "pipeline/mutex.h"
#include "pipeline/stage.h"

namespace sluice::connectors::kafka {

enum class TopicSource {
  kFixed,   // `topic`
  kHeader,  // `topic_from: header:<name>`
  kField,   // `topic_from: field:<JSON pointer>`
};

struct KafkaSinkOptions {
  KafkaClientOptions client;
  // The topic every event goes to; with topic_from, the topic of events
  // whose header or field is absent. REQUIRES: set unless topic_from is.
  std::string topic;
  // Where each event's topic comes from. Defaults to kFixed.
  TopicSource topic_from = TopicSource::kFixed;
  // kHeader: the header name; kField: a JSON pointer ("/meta/topic").
  std::string topic_from_name;
  // How long Stop() waits for deliveries still outstanding before it purges
  // them (they fail and go the retry / dead-letter path). Defaults to 10s.
  absl::Duration stop_timeout = absl::Seconds(10);
};

namespace internal {
struct DeliveryGroup;
struct OverflowEntry;
// One message's place: its group and its index in the group's call batch.
// Filled by the worker before the message goes to librdkafka, read by the
// delivery report on librdkafka's thread: `group` is stored with release
// and loaded with acquire, because the hand-off through librdkafka's queue
// is invisible to ThreadSanitizer (and to the language's memory model).
struct DeliveryTicket {
  std::atomic<DeliveryGroup*> group{nullptr};
  uint32_t index = 0;
};
class TopicFieldReader;
}  // namespace internal

class KafkaSink final : public Consumer {
 public:
  // `what` names the sink in errors: `kafka sink "publish"`.
  KafkaSink(KafkaSinkOptions options, std::string what);
  ~KafkaSink() override;

  static ConsumerFactory Factory(KafkaSinkOptions options);

  // Creates the producer and starts the poll thread. Errors: a bad property
  // (kInvalidArgument, naming it) or librdkafka refusing the config.
  absl::Status Start(const StageContext& context) override;
  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override;
  // Returns a fatal producer error, if any; never waits.
  absl::Status Flush() override;
  // Stops the poll thread, waits up to stop_timeout for outstanding
  // deliveries, purges what is left (failing it), destroys the producer.
  // Every deferred acknowledgement is completed exactly once by then.
  void Stop() override;

  // For the delivery-report and error callbacks (librdkafka's threads).
  void OnDelivery(const rd_kafka_message_t& message);
  void OnError(rd_kafka_resp_err_t error, const char* reason);

 private:
  // The topic handle for `event`, or an error for an event with no topic.
  absl::StatusOr<rd_kafka_topic_t*> TopicFor(const Event& event);
  absl::StatusOr<rd_kafka_topic_t*> TopicHandle(std::string_view name);
  // Hands one message to librdkafka (counted in its group by the caller);
  // `ticket` comes back in its delivery report. Returns its synchronous error.
  rd_kafka_resp_err_t Produce(rd_kafka_topic_t* topic, const Event& event,
                              internal::DeliveryTicket* ticket);
  // Produces what waits in the overflow list, until librdkafka's queue is
  // full again. Poll thread (or Stop()).
  void DrainOverflow();
  // Frees the groups whose acknowledgement is complete.
  void ReapGroups();
  void PollLoop();
  absl::Status DeliveryError(rd_kafka_resp_err_t error, std::string_view topic) const;
  absl::Status FatalError();

  const KafkaSinkOptions options_;
  const std::string what_;

  rd_kafka_t* producer_ = nullptr;
  // Topic handles by name, made on first use; destroyed in Stop(). Worker
  // only (the overflow list keeps handles, which stay valid until Stop()).
  absl::flat_hash_map<std::string, rd_kafka_topic_t*> topics_;
  rd_kafka_topic_t* fixed_topic_ = nullptr;  // options_.topic's handle, if set
  std::unique_ptr<internal::TopicFieldReader> field_reader_;

  Mutex mu_;
  // Every group not yet freed, in creation order.
  std::list<std::unique_ptr<internal::DeliveryGroup>> groups_ ABSL_GUARDED_BY(mu_);
  // Events librdkafka's queue had no room for, in arrival order. While it is
  // not empty, new events join it rather than overtake it.
  std::vector<internal::OverflowEntry> overflow_ ABSL_GUARDED_BY(mu_);
  size_t overflow_next_ ABSL_GUARDED_BY(mu_) = 0;

  // Set from librdkafka's error callback; read by the worker. Relaxed order
  // suffices for the flag; the text is read under mu_.
  std::atomic<bool> fatal_{false};
  std::string fatal_text_ ABSL_GUARDED_BY(mu_);

  std::atomic<bool> stopping_{false};
  std::thread poll_thread_;
};

}  // namespace sluice::connectors::kafka
