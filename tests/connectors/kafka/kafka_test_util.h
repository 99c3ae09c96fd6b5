// File: tests/connectors/kafka/kafka_test_util.h
//
// Plain librdkafka clients for the Kafka tests: a producer that sends
// messages and waits for their delivery, and a consumer that reads a whole
// topic back (every partition from the beginning, no group), so that a test
// checks what really reached the broker, byte for byte, without going
// through the code under test.
//
//   EmbeddedBroker& broker = ...;
//   ASSERT_TRUE(ProduceMessages(broker.bootstrap_servers(), "in", {{.key = "k", .value =
//   "v"}}).ok()); std::vector<KafkaMessage> read = ReadTopic(broker.bootstrap_servers(), "in", 1);
//
// Thread-compatible; each call makes and destroys its own client.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include <librdkafka/rdkafka.h>

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

}  // namespace sluice::testing
