// File: bench/peers/kafka_consume_peer.h
//
// The bare librdkafka consume loop that sluice's Kafka source is measured
// against (issue #5: "at least 90% of the bare loop's rate"). It does what
// the source does for at-least-once, and nothing else: joins a consumer group
// (cooperative-sticky, auto-commit and auto offset store off, earliest,
// queued.min.messages 1,000,000: the settings the source makes),
// polls one message at a time with rd_kafka_consumer_poll() (or, with
// `batch`, up to that many per rd_kafka_consume_batch_queue()), reads every
// payload byte's worth of a checksum, remembers the next offset per
// partition, and once it has seen `expected` messages commits them
// synchronously per partition and closes the consumer.
//
// No sluice code: it links librdkafka only, like the other peers.
//
//   BareKafkaConsumeResult result = BareKafkaConsume(
//       {.bootstrap_servers = "127.0.0.1:40659", .topic = "bench", .group = "peer-1",
//        .expected = 480'000});
//   // result.seconds: first message to commit confirmed and consumer closed
//
// Thread-compatible: each call makes and destroys its own consumer.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::peers {

struct BareKafkaConsumeOptions {
  std::string bootstrap_servers;
  std::string topic;
  // A group with no committed offsets, so the loop reads the topic from the
  // start. REQUIRES: not empty.
  std::string group;
  // Messages to consume before committing and stopping.
  uint64_t expected = 0;
  // 0: one message per rd_kafka_consumer_poll() call. N > 0: up to N per
  // rd_kafka_consume_batch_queue() call on the consumer queue.
  size_t batch = 0;
  // Gives up (result.error set) after this long without reaching `expected`.
  double timeout_seconds = 60;
};

struct BareKafkaConsumeResult {
  uint64_t messages = 0;
  uint64_t payload_bytes = 0;
  // Sum of the first payload byte of every message (keeps the read honest).
  uint64_t checksum = 0;
  // From the first message polled to the synchronous commit confirmed and
  // the consumer closed (left the group): the group join before the first
  // message is not counted (it is the broker's delay, not the loop's).
  double seconds = 0;
  // Of `seconds`: up to the last message polled, and the commit and close
  // after it.
  double consume_seconds = 0;
  double close_seconds = 0;
  // Partitions committed, and the sum of the committed offsets (= messages
  // when every partition was read from offset 0).
  int committed_partitions = 0;
  int64_t committed_offsets = 0;
  // Empty, or what went wrong (timeout, commit error).
  std::string error;
};

BareKafkaConsumeResult BareKafkaConsume(const BareKafkaConsumeOptions& options);

}  // namespace sluice::peers
