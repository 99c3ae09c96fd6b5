// The bare librdkafka consume loop; see kafka_consume_peer.h.
#include "bench/peers/kafka_consume_peer.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

namespace sluice::peers {
namespace {

using Clock = std::chrono::steady_clock;

struct ConsumerDeleter {
  void operator()(rd_kafka_t* consumer) const { rd_kafka_destroy(consumer); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};

double Seconds(Clock::duration elapsed) { return std::chrono::duration<double>(elapsed).count(); }

}  // namespace

BareKafkaConsumeResult BareKafkaConsume(const BareKafkaConsumeOptions& options) {
  BareKafkaConsumeResult result;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  // The settings sluice's source makes (connectors/kafka/kafka_source.cc).
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"group.id", options.group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"queued.min.messages", "1000000"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      result.error = std::string(name) + ": " + error;
      return result;
    }
  }
  std::unique_ptr<rd_kafka_t, ConsumerDeleter> consumer(
      rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error)));
  if (consumer == nullptr) {
    rd_kafka_conf_destroy(conf);
    result.error = std::string("rd_kafka_new: ") + error;
    return result;
  }
  rd_kafka_poll_set_consumer(consumer.get());
  {
    std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter> topics(
        rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), options.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer.get(), topics.get()); err) {
      result.error = std::string("subscribe: ") + rd_kafka_err2str(err);
      return result;
    }
  }

  // Next offset to commit, by partition id.
  std::vector<int64_t> next_offset;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(options.timeout_seconds));
  Clock::time_point first{};
  // Counts, checksums and remembers the offset of one message, and frees it.
  auto take = [&](rd_kafka_message_t* message) {
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (result.messages == 0) first = Clock::now();
      ++result.messages;
      result.payload_bytes += message->len;
      if (message->len > 0)
        result.checksum += static_cast<const unsigned char*>(message->payload)[0];
      const auto partition = static_cast<size_t>(message->partition);
      if (next_offset.size() <= partition) next_offset.resize(partition + 1, -1);
      next_offset[partition] = message->offset + 1;
    }
    rd_kafka_message_destroy(message);
  };
  rd_kafka_queue_t* queue =
      options.batch > 0 ? rd_kafka_queue_get_consumer(consumer.get()) : nullptr;
  std::vector<rd_kafka_message_t*> batch(std::max<size_t>(options.batch, 1));
  while (result.messages < options.expected) {
    if (Clock::now() > deadline) {
      result.error = "timed out after " + std::to_string(result.messages) + " messages";
      break;
    }
    if (queue == nullptr) {
      if (rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer.get(), 100)) take(message);
      continue;
    }
    const ssize_t count = rd_kafka_consume_batch_queue(queue, 100, batch.data(), batch.size());
    for (ssize_t i = 0; i < count; ++i) take(batch[static_cast<size_t>(i)]);
  }
  if (queue != nullptr) rd_kafka_queue_destroy(queue);

  const Clock::time_point last = Clock::now();
  // Commit per partition, synchronously, as sluice's source does on Stop().
  std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter> offsets(
      rd_kafka_topic_partition_list_new(static_cast<int>(next_offset.size())));
  for (size_t partition = 0; partition < next_offset.size(); ++partition) {
    if (next_offset[partition] < 0) continue;
    rd_kafka_topic_partition_list_add(offsets.get(), options.topic.c_str(),
                                      static_cast<int32_t>(partition))
        ->offset = next_offset[partition];
    ++result.committed_partitions;
    result.committed_offsets += next_offset[partition];
  }
  if (offsets->cnt > 0) {
    if (rd_kafka_resp_err_t err = rd_kafka_commit(consumer.get(), offsets.get(), /*async=*/0);
        err && result.error.empty()) {
      result.error = std::string("commit: ") + rd_kafka_err2str(err);
    }
  }
  rd_kafka_consumer_close(consumer.get());
  if (result.messages > 0) {
    const Clock::time_point closed = Clock::now();
    result.seconds = Seconds(closed - first);
    result.consume_seconds = Seconds(last - first);
    result.close_seconds = Seconds(closed - last);
  }
  return result;
}

}  // namespace sluice::peers
