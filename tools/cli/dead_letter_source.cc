#include "tools/cli/dead_letter_source.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include <librdkafka/rdkafka.h>

#include "pipeline/json_quote.h"
#include "pipeline/status_macros.h"
#include "pipeline/string_view_compat.h"
#include "tools/config/yaml_loader.h"

namespace sluice::cli {
namespace {

using connectors::DeadLetterFileEntry;
using connectors::DeadLetterFileReader;
using connectors::kafka::KafkaClientOptions;

constexpr std::string_view kKafkaScheme = "kafka://";

// ---------------------------------------------------------------------------
// File

class FileDeadLetterSource final : public DeadLetterSource {
 public:
  FileDeadLetterSource(std::unique_ptr<DeadLetterFileReader> reader, int64_t next_index)
      : reader_(std::move(reader)), next_index_(next_index) {}

  absl::StatusOr<bool> Next(DeadLetterEntry& entry) override {
    DeadLetterFileEntry file_entry;
    SLUICE_ASSIGN_OR_RETURN(bool more, reader_->Next(file_entry));
    if (!more) return false;
    entry.record = std::move(file_entry.record);
    entry.partition = 0;
    entry.offset = next_index_++;
    entry.file_position = file_entry.position;
    entry.next_file_position = reader_->position();
    return true;
  }
  DeadLetterDamage damage() const override { return reader_->stats(); }

 private:
  std::unique_ptr<DeadLetterFileReader> reader_;
  int64_t next_index_;
};

// ---------------------------------------------------------------------------
// Kafka

struct ClientDeleter {
  void operator()(rd_kafka_t* client) const {
    rd_kafka_consumer_close(client);
    rd_kafka_destroy(client);
  }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

class KafkaDeadLetterSource final : public DeadLetterSource {
 public:
  static absl::StatusOr<std::unique_ptr<DeadLetterSource>> Open(
      const std::string& topic, const DeadLetterSourceOptions& options) {
    if (!options.client.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kafka://", topic, ": no brokers (give --brokers or --config)"));
    }
    KafkaClientOptions client = *options.client;
    client.properties.emplace_back("enable.auto.commit", "false");
    client.properties.emplace_back("enable.auto.offset.store", "false");
    client.properties.emplace_back("enable.partition.eof", "false");
    // librdkafka 2.0.2 refuses assign() without a group.id; a read that
    // never commits (inspect) uses a group of its own that stays empty.
    client.properties.emplace_back("group.id",
                                   options.group.empty() ? "sluice-dlq-inspect" : options.group);
    SLUICE_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, connectors::kafka::MakeRdKafkaConf(client));
    char error[512];
    rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
    if (consumer == nullptr) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", error));
    }
    auto source = std::unique_ptr<KafkaDeadLetterSource>(
        new KafkaDeadLetterSource(consumer, topic, options.timeout));
    SLUICE_RETURN_IF_ERROR(source->Assign(options));
    return std::unique_ptr<DeadLetterSource>(std::move(source));
  }

  absl::StatusOr<bool> Next(DeadLetterEntry& entry) override {
    absl::Time idle_deadline = absl::Now() + timeout_;
    while (!remaining_.empty()) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_.get(), 100);
      if (message == nullptr) {
        if (absl::Now() > idle_deadline) {
          return absl::UnavailableError(absl::StrCat(
              "kafka://", topic_, ": no records arrived for ", absl::FormatDuration(timeout_),
              " though ", remaining_.size(), " partitions have more: are the brokers up?"));
        }
        continue;
      }
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
          message, rd_kafka_message_destroy);
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        // Transient consumer errors (brokers down) are retried by librdkafka.
        if (message->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
            message->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
          continue;
        }
        return absl::UnavailableError(
            absl::StrCat("kafka://", topic_, ": ", rd_kafka_message_errstr(message)));
      }
      idle_deadline = absl::Now() + timeout_;
      auto end = remaining_.find(message->partition);
      if (end == remaining_.end() || message->offset >= end->second) continue;
      if (message->offset + 1 >= end->second) remaining_.erase(end);
      entry = DeadLetterEntry();
      entry.partition = message->partition;
      entry.offset = message->offset;
      if (message->key != nullptr) {
        entry.record.key.assign(static_cast<const char*>(message->key), message->key_len);
      }
      if (message->payload != nullptr) {
        entry.record.value.assign(static_cast<const char*>(message->payload), message->len);
      }
      rd_kafka_timestamp_type_t type;
      const int64_t timestamp_ms = rd_kafka_message_timestamp(message, &type);
      if (timestamp_ms > 0) entry.record.timestamp_us = timestamp_ms * 1000;
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          entry.record.headers.emplace_back(
              name, value == nullptr ? std::string()
                                     : std::string(static_cast<const char*>(value), size));
        }
      }
      return true;
    }
    return false;
  }

  absl::Status Commit(const std::map<int32_t, int64_t>& offsets) override {
    if (group_.empty()) return DeadLetterSource::Commit(offsets);
    if (offsets.empty()) return absl::OkStatus();
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto& [partition, offset] : offsets) {
      rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition)->offset = offset;
    }
    const rd_kafka_resp_err_t error = rd_kafka_commit(consumer_.get(), list.get(), 0);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(absl::StrCat("kafka://", topic_, ": commit for group \"",
                                                 group_, "\" failed: ", rd_kafka_err2str(error)));
    }
    return absl::OkStatus();
  }

  int64_t expected() const override { return expected_; }

 private:
  KafkaDeadLetterSource(rd_kafka_t* consumer, std::string topic, absl::Duration timeout)
      : consumer_(consumer), topic_(std::move(topic)), timeout_(timeout) {}

  absl::Status Assign(const DeadLetterSourceOptions& options) {
    group_ = options.group;
    const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(timeout_));
    // The partition count.
    int partitions = -1;
    {
      rd_kafka_topic_t* handle = rd_kafka_topic_new(consumer_.get(), topic_.c_str(), nullptr);
      const rd_kafka_metadata_t* metadata = nullptr;
      const rd_kafka_resp_err_t error =
          rd_kafka_metadata(consumer_.get(), 0, handle, &metadata, timeout_ms);
      rd_kafka_topic_destroy(handle);
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::UnavailableError(absl::StrCat(
            "kafka://", topic_, ": brokers did not answer: ", rd_kafka_err2str(error)));
      }
      if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        partitions = metadata->topics[0].partition_cnt;
      }
      const rd_kafka_resp_err_t topic_error =
          metadata->topic_cnt == 1 ? metadata->topics[0].err : RD_KAFKA_RESP_ERR_NO_ERROR;
      rd_kafka_metadata_destroy(metadata);
      if (partitions <= 0) {
        return absl::NotFoundError(absl::StrCat("kafka://", topic_, ": no such topic (",
                                                rd_kafka_err2str(topic_error), ")"));
      }
    }
    // Where each partition starts: the group's committed offset when
    // resuming, else the beginning (or `start`).
    std::map<int32_t, int64_t> start;
    if (options.resume && !group_.empty()) {
      PartitionList list(rd_kafka_topic_partition_list_new(partitions));
      for (int32_t p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), p);
      }
      const rd_kafka_resp_err_t error = rd_kafka_committed(consumer_.get(), list.get(), timeout_ms);
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::UnavailableError(absl::StrCat("kafka://", topic_, ": committed offsets of \"",
                                                   group_, "\": ", rd_kafka_err2str(error)));
      }
      for (int i = 0; i < list->cnt; ++i) {
        if (list->elems[i].offset >= 0) start[list->elems[i].partition] = list->elems[i].offset;
      }
    } else {
      start = options.start.kafka_offsets;
    }
    PartitionList assignment(rd_kafka_topic_partition_list_new(partitions));
    expected_ = 0;
    for (int32_t p = 0; p < partitions; ++p) {
      int64_t low = 0;
      int64_t high = 0;
      const rd_kafka_resp_err_t error = rd_kafka_query_watermark_offsets(
          consumer_.get(), topic_.c_str(), p, &low, &high, timeout_ms);
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::UnavailableError(absl::StrCat("kafka://", topic_, ": partition ", p,
                                                   " watermarks: ", rd_kafka_err2str(error)));
      }
      auto found = start.find(p);
      const int64_t from = std::max(low, found == start.end() ? low : found->second);
      if (from >= high) continue;
      expected_ += high - from;
      remaining_[p] = high;
      rd_kafka_topic_partition_list_add(assignment.get(), topic_.c_str(), p)->offset = from;
    }
    if (assignment->cnt > 0) {
      const rd_kafka_resp_err_t error = rd_kafka_assign(consumer_.get(), assignment.get());
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::UnavailableError(
            absl::StrCat("kafka://", topic_, ": assign: ", rd_kafka_err2str(error)));
      }
    }
    return absl::OkStatus();
  }

  std::unique_ptr<rd_kafka_t, ClientDeleter> consumer_;
  const std::string topic_;
  const absl::Duration timeout_;
  std::string group_;
  // Partition -> high watermark at Open, for partitions not yet read to it.
  std::map<int32_t, int64_t> remaining_;
  int64_t expected_ = 0;
};

}  // namespace

std::string DeadLetterLocation::ToString() const {
  return is_kafka() ? absl::StrCat(Av(kKafkaScheme), topic) : absl::StrCat("file ", path);
}

absl::StatusOr<DeadLetterLocation> ParseDeadLetterLocation(std::string_view text) {
  DeadLetterLocation location;
  if (text.starts_with(kKafkaScheme)) {
    location.kind = DeadLetterLocation::Kind::kKafka;
    location.topic = std::string(text.substr(kKafkaScheme.size()));
    if (location.topic.empty() || location.topic.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", Av(text),
                       "\": expected kafka://<topic> (the brokers come from "
                       "--brokers or --config)"));
    }
    return location;
  }
  if (text.empty()) return absl::InvalidArgumentError("no dead-letter queue given");
  location.path = std::string(text);
  return location;
}

absl::StatusOr<KafkaClientOptions> KafkaClientFromFlags(const std::string& brokers,
                                                        const std::vector<std::string>& properties,
                                                        const std::string& config_path) {
  KafkaClientOptions client;
  if (!config_path.empty()) {
    SLUICE_ASSIGN_OR_RETURN(ConfigNode root, config::LoadYamlFile(config_path));
    const ConfigNode* dead_letter = root.Find("dead_letter");
    const ConfigNode* found = dead_letter != nullptr ? dead_letter->Find("brokers") : nullptr;
    if (found == nullptr || !found->is_scalar()) {
      return absl::InvalidArgumentError(absl::StrCat(
          config_path, ": no `dead_letter: {type: kafka, brokers: ...}` to take the brokers from"));
    }
    client.brokers = found->scalar();
    if (const ConfigNode* map = dead_letter->Find("properties"); map != nullptr && map->is_map()) {
      for (const ConfigNode::Entry& entry : map->entries()) {
        if (entry.value.is_scalar())
          client.properties.emplace_back(entry.key, entry.value.scalar());
      }
    }
  }
  if (!brokers.empty()) client.brokers = brokers;
  for (const std::string& property : properties) {
    const size_t equals = property.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("-X \"", property, "\": expected name=value (a librdkafka property)"));
    }
    client.properties.emplace_back(property.substr(0, equals), property.substr(equals + 1));
  }
  if (client.brokers.empty()) {
    return absl::InvalidArgumentError("a kafka:// queue needs --brokers host:port or --config");
  }
  if (client.is_embedded()) {
    return absl::InvalidArgumentError(
        "brokers \"embedded\" name the broker inside a running sluice process, which this "
        "command cannot reach; give its address (`sluice broker` prints it)");
  }
  return client;
}

absl::StatusOr<std::unique_ptr<DeadLetterSource>> OpenDeadLetterSource(
    const DeadLetterLocation& where, const DeadLetterSourceOptions& options) {
  if (where.is_kafka()) return KafkaDeadLetterSource::Open(where.topic, options);
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<DeadLetterFileReader> reader,
                          DeadLetterFileReader::Open(where.path, options.start.file_position));
  return std::unique_ptr<DeadLetterSource>(
      new FileDeadLetterSource(std::move(reader), options.start.file_index));
}

bool AppendJsonUtf8(std::string_view bytes, std::string& out) {
  return AppendJsonQuotedIfUtf8(bytes, out);
}

std::string PrintableBytes(std::string_view bytes, size_t max_bytes) {
  std::string out;
  size_t at = 0;
  while (at < bytes.size() && at < max_bytes) {
    const auto byte = static_cast<unsigned char>(bytes[at]);
    const size_t length = Utf8SequenceLength(bytes, at);
    if (byte >= 0x80 && length > 1) {
      out.append(bytes.substr(at, length));
      at += length;
      continue;
    }
    if (byte >= 0x20 && byte < 0x7F) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(absl::StrFormat("\\x%02x", byte));
    }
    ++at;
  }
  if (at < bytes.size()) out.append("...");
  return out;
}

}  // namespace sluice::cli
