// File: connectors/kafka/embedded_broker.h
//
// An EmbeddedBroker is a Kafka cluster inside this process: librdkafka's mock
// cluster (rdkafka_mock.h), which speaks the real Kafka protocol over TCP on
// loopback, so any client (our stages, kcat, kafka-python) talks to it as to a
// real broker. It exists so that `brokers: embedded` pipelines, the
// quickstart, the tests and `sluice broker` need nothing installed beside
// sluice.
//
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedBroker> broker,
//                           EmbeddedBroker::Start({.brokers = 3}));
//   SLUICE_RETURN_IF_ERROR(broker->CreateTopic("orders", 4));
//   Produce(broker->bootstrap_servers(), ...);        // "127.0.0.1:41233,..."
//   SLUICE_RETURN_IF_ERROR(broker->SetBrokerDown(1));  // fault injection
//
// What it is not (docs/kafka.md, "Embedded broker"): it keeps everything in
// memory, nothing on disk, and only a few MB per partition (older messages
// are dropped once a partition holds about 5 MB); a restart loses it all.
// Brokers listen on 127.0.0.1 at ports the mock picks itself (librdkafka
// 2.0.2 has no way to choose them).
//
// Topics a client asks for that do not exist are auto-created by the mock
// with its default of 4 partitions (replication factor min(3, brokers));
// CreateTopic()/EnsureTopic() make them with the count you want first.
//
// Thread-safe: every method may be called from any thread (the mock cluster
// runs on its own thread and takes requests through a queue).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include <librdkafka/rdkafka.h>

typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace sluice::connectors::kafka {

struct EmbeddedBrokerOptions {
  // Brokers in the cluster, ids 1..brokers. Defaults to 1. REQUIRES: >= 1.
  int brokers = 1;
};

// The mock's partition count for topics it auto-creates.
inline constexpr int kEmbeddedDefaultPartitions = 4;

// Kafka protocol API keys, for PushRequestErrors() (librdkafka keeps its own
// constants in a private header).
inline constexpr int16_t kApiProduce = 0;
inline constexpr int16_t kApiFetch = 1;
inline constexpr int16_t kApiListOffsets = 2;
inline constexpr int16_t kApiMetadata = 3;
inline constexpr int16_t kApiOffsetCommit = 8;
inline constexpr int16_t kApiOffsetFetch = 9;
inline constexpr int16_t kApiFindCoordinator = 10;
inline constexpr int16_t kApiJoinGroup = 11;
inline constexpr int16_t kApiHeartbeat = 12;
inline constexpr int16_t kApiSyncGroup = 14;
inline constexpr int16_t kApiInitProducerId = 22;

class EmbeddedBroker {
 public:
  // Starts a standalone cluster, stopped when the object is destroyed.
  // Errors: kInternal if librdkafka cannot make the cluster.
  static absl::StatusOr<std::unique_ptr<EmbeddedBroker>> Start(EmbeddedBrokerOptions options = {});

  // The process-wide broker behind `brokers: embedded`: one broker, started
  // on the first call, alive until the process exits (never destroyed, so
  // that no client of it, on any thread, outlives it). A failed start is
  // returned and tried again on the next call.
  static absl::StatusOr<EmbeddedBroker*> Shared();

  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:port,..." for bootstrap.servers.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  int broker_count() const { return broker_count_; }

  // Creates `topic` with `partitions` partitions. Errors: kAlreadyExists if it
  // exists, kInvalidArgument for a bad name or count.
  absl::Status CreateTopic(std::string_view topic, int partitions);
  // As CreateTopic(), but a topic that exists already is fine (whatever its
  // partition count).
  absl::Status EnsureTopic(std::string_view topic, int partitions);

  // Fault injection (broker ids 1..broker_count()). A broker set down closes
  // its connections and refuses new ones until set up again.
  absl::Status SetBrokerDown(int32_t broker_id);
  absl::Status SetBrokerUp(int32_t broker_id);
  // Adds `rtt` to every response of the broker (zero: none).
  absl::Status SetBrokerRtt(int32_t broker_id, absl::Duration rtt);
  // The next errors.size() requests of Kafka API `api_key` (kApiProduce,
  // kApiFetch, ...) to any broker fail with these errors, in order.
  void PushRequestErrors(int16_t api_key, absl::Span<const rd_kafka_resp_err_t> errors);
  void ClearRequestErrors(int16_t api_key);
  // Metadata requests about `topic` answer `error` until set back to
  // RD_KAFKA_RESP_ERR_NO_ERROR.
  void SetTopicError(std::string_view topic, rd_kafka_resp_err_t error);
  absl::Status SetPartitionLeader(std::string_view topic, int32_t partition, int32_t broker_id);

  // The mock cluster itself, for fault APIs not wrapped here. Owned by this.
  rd_kafka_mock_cluster_t* mock_cluster() const { return cluster_; }

 private:
  EmbeddedBroker() = default;

  // The handle the mock cluster needs for its bookkeeping; destroyed after
  // the cluster.
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_servers_;
  int broker_count_ = 0;
};

}  // namespace sluice::connectors::kafka
