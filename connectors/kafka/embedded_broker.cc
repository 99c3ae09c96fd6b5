#include "connectors/kafka/embedded_broker.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include <librdkafka/rdkafka_mock.h>

#include "pipeline/mutex.h"
#include "pipeline/string_view_compat.h"

namespace sluice::connectors::kafka {
namespace {

absl::Status MockError(rd_kafka_resp_err_t error, std::string_view what) {
  if (error == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  const std::string message =
      absl::StrCat("embedded broker: ", Av(what), ": ", rd_kafka_err2str(error));
  switch (error) {
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return absl::AlreadyExistsError(message);
    case RD_KAFKA_RESP_ERR__UNKNOWN_BROKER:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return absl::NotFoundError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(
    EmbeddedBrokerOptions options) {
  if (options.brokers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("embedded broker: brokers must be at least 1, got ", options.brokers));
  }
  // The mock cluster needs a client handle for its bookkeeping (logging,
  // timers); a producer that never produces is the lightest one. No
  // bootstrap.servers: it connects nowhere.
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  // Warnings and worse only: the handle's own notice that it has no
  // bootstrap.servers is expected.
  if (rd_kafka_conf_set(conf, "client.id", "sluice-embedded-broker", error, sizeof(error)) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "4", error, sizeof(error)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("embedded broker: ", error));
  }
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("embedded broker: cannot create a client: ", error));
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(handle, options.brokers);
  if (cluster == nullptr) {
    rd_kafka_destroy(handle);
    return absl::InternalError(
        "embedded broker: librdkafka could not start the mock cluster (no loopback listener?)");
  }
  std::unique_ptr<EmbeddedBroker> broker(new EmbeddedBroker());
  broker->handle_ = handle;
  broker->cluster_ = cluster;
  broker->bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(cluster);
  broker->broker_count_ = options.brokers;
  return broker;
}

absl::StatusOr<EmbeddedBroker*> EmbeddedBroker::Shared() {
  static Mutex mu;
  // Leaked on purpose: clients on other threads (a stage being stopped, a
  // librdkafka background thread) may still talk to it while static
  // destructors run; the process exit takes it down.
  static EmbeddedBroker* shared = nullptr;  // guarded by mu
  MutexLock lock(&mu);
  if (shared == nullptr) {
    absl::StatusOr<std::unique_ptr<EmbeddedBroker>> started = Start();
    if (!started.ok()) return started.status();
    shared = started->release();
  }
  return shared;
}

EmbeddedBroker::~EmbeddedBroker() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (handle_ != nullptr) rd_kafka_destroy(handle_);
}

absl::Status EmbeddedBroker::CreateTopic(std::string_view topic, int partitions) {
  if (topic.empty()) return absl::InvalidArgumentError("embedded broker: empty topic name");
  if (partitions < 1) {
    return absl::InvalidArgumentError(absl::StrCat("embedded broker: topic \"", Av(topic),
                                                   "\": partitions must be at least 1, got ",
                                                   partitions));
  }
  const std::string name(topic);
  return MockError(
      rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, std::min(3, broker_count_)),
      absl::StrCat("create topic \"", name, "\""));
}

absl::Status EmbeddedBroker::EnsureTopic(std::string_view topic, int partitions) {
  absl::Status created = CreateTopic(topic, partitions);
  if (absl::IsAlreadyExists(created)) return absl::OkStatus();
  return created;
}

absl::Status EmbeddedBroker::SetBrokerDown(int32_t broker_id) {
  return MockError(rd_kafka_mock_broker_set_down(cluster_, broker_id),
                   absl::StrCat("broker ", broker_id, " down"));
}

absl::Status EmbeddedBroker::SetBrokerUp(int32_t broker_id) {
  return MockError(rd_kafka_mock_broker_set_up(cluster_, broker_id),
                   absl::StrCat("broker ", broker_id, " up"));
}

absl::Status EmbeddedBroker::SetBrokerRtt(int32_t broker_id, absl::Duration rtt) {
  return MockError(rd_kafka_mock_broker_set_rtt(cluster_, broker_id,
                                                static_cast<int>(absl::ToInt64Milliseconds(rtt))),
                   absl::StrCat("broker ", broker_id, " rtt"));
}

void EmbeddedBroker::PushRequestErrors(int16_t api_key,
                                       absl::Span<const rd_kafka_resp_err_t> errors) {
  if (errors.empty()) return;
  rd_kafka_mock_push_request_errors_array(cluster_, api_key, errors.size(), errors.data());
}

void EmbeddedBroker::ClearRequestErrors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(cluster_, api_key);
}

void EmbeddedBroker::SetTopicError(std::string_view topic, rd_kafka_resp_err_t error) {
  const std::string name(topic);
  rd_kafka_mock_topic_set_error(cluster_, name.c_str(), error);
}

absl::Status EmbeddedBroker::SetPartitionLeader(std::string_view topic, int32_t partition,
                                                int32_t broker_id) {
  const std::string name(topic);
  return MockError(rd_kafka_mock_partition_set_leader(cluster_, name.c_str(), partition, broker_id),
                   absl::StrCat("leader of ", name, "[", partition, "]"));
}

}  // namespace sluice::connectors::kafka
