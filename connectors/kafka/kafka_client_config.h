// File: connectors/kafka/kafka_client_config.h
//
// The part of a Kafka stage's options that every Kafka client shares (source,
// sink, the dead-letter writer): where the brokers are and which librdkafka
// properties to pass through, and how that becomes an rd_kafka_conf_t.
//
//   - name: orders
//     type: kafka
//     brokers: embedded              # or "kafka-1:9092,kafka-2:9092"
//     properties:                    # any librdkafka property, passed as given
//       security.protocol: sasl_ssl
//       sasl.mechanism: PLAIN
//       sasl.username: svc-orders
//       sasl.password: ${KAFKA_PASSWORD}   # masked in `validate --print` and logs
//       linger.ms: 5
//
//   KafkaClientOptions client = *ReadKafkaClientOptions(context.options);
//   SLUICE_ASSIGN_OR_RETURN(rd_kafka_conf_t* conf, MakeRdKafkaConf(client));
//   // ... set callbacks, then rd_kafka_new(RD_KAFKA_CONSUMER, conf, ...) takes it.
//   // A producer: MakeIdempotentProducer(client, {.delivery_report = ..., .opaque = this}).
//
// Decisions (docs/kafka.md, "Client config"):
//   - Property names and values are checked against librdkafka when the
//     config is read (no I/O: a throwaway conf), so `sluice validate` reports
//     an unknown or invalid property with its file:line:column.
//   - `bootstrap.servers` / `metadata.broker.list` in `properties` are errors:
//     `brokers` says where the brokers are, once.
//   - `brokers: embedded` means the process-wide in-process broker
//     (connectors/kafka/embedded_broker.h), started by the first
//     MakeRdKafkaConf() that needs it, never by reading the config.
//
// Thread-safe: free functions over their arguments (MakeRdKafkaConf may start
// the shared embedded broker, which is itself thread-safe).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include <librdkafka/rdkafka.h>

#include "pipeline/config/option_reader.h"

namespace sluice::connectors::kafka {

// `brokers: embedded`: the process-wide embedded broker.
inline constexpr std::string_view kEmbeddedBrokers = "embedded";

struct KafkaClientOptions {
  // "host:port,..." or "embedded". REQUIRES: not empty.
  std::string brokers;
  // librdkafka properties passed through as given (`properties:` map in the
  // stage's YAML; values may be strings, numbers or booleans, stored as their
  // text), in the order written. Defaults to none.
  std::vector<std::pair<std::string, std::string>> properties;

  bool is_embedded() const { return brokers == kEmbeddedBrokers; }
};

// Reads `brokers` (required, string) and `properties` (optional map) from the
// stage's options; errors go to `options` (with their place) and nullopt is
// returned.
std::optional<KafkaClientOptions> ReadKafkaClientOptions(OptionReader& options);

// A librdkafka conf with bootstrap.servers set (`embedded` resolved to the
// in-process broker, started on first use), librdkafka's log lines routed to
// spdlog (replace with rd_kafka_conf_set_log_cb) and every property applied; an
// unknown or invalid property is an error naming the property and
// librdkafka's text (kInvalidArgument). Caller owns the conf
// (rd_kafka_conf_destroy, or rd_kafka_new takes it).
absl::StatusOr<rd_kafka_conf_t*> MakeRdKafkaConf(const KafkaClientOptions& options);

// Where an idempotent producer reports to its owner: librdkafka calls these
// from rd_kafka_poll()/rd_kafka_flush() on the producer, with `opaque`.
// Either callback may be null (none installed).
struct ProducerCallbacks {
  void (*delivery_report)(rd_kafka_t* producer, const rd_kafka_message_t* message,
                          void* opaque) = nullptr;
  void (*error)(rd_kafka_t* producer, int code, const char* reason, void* opaque) = nullptr;
  void* opaque = nullptr;
};

// The producer every Kafka writer uses (the sink, the dead-letter queue): the
// conf of MakeRdKafkaConf(options) with enable.idempotence=true (so acks=all,
// and librdkafka's own retries neither duplicate nor reorder), `callbacks`
// installed. Readers of the stage config reject `enable.idempotence: false`
// before this is called. Errors: MakeRdKafkaConf()'s; kInvalidArgument when
// librdkafka refuses the config ("librdkafka refused the producer config:
// ..."). The message does not name the stage: callers prefix it. Caller owns
// the producer (rd_kafka_destroy).
absl::StatusOr<rd_kafka_t*> MakeIdempotentProducer(const KafkaClientOptions& options,
                                                   const ProducerCallbacks& callbacks);

// The log callback MakeRdKafkaConf() installs: librdkafka's syslog levels
// to spdlog's (0-3 error, 4 warning, 5-6 info, 7 debug). For a client that
// installs a log callback of its own and forwards to this one.
void LogRdKafkaToSpdlog(const rd_kafka_t* client, int level, const char* facility,
                        const char* message);

// Property names whose values are secrets (sasl.password, ssl.key.password,
// ssl.key.pem, sasl.oauthbearer.client.secret, ...): masked in
// `sluice validate --print` and logs.
bool IsSecretProperty(std::string_view name);

// The librdkafka properties IsSecretProperty() names explicitly (it also
// matches any name containing "password" or "secret"). Exposed so a test can
// check that the config printer masks every one of them.
absl::Span<const std::string_view> KnownSecretProperties();

// "name=value" for logs, the value masked when IsSecretProperty(name).
std::string DescribeProperty(std::string_view name, std::string_view value);

}  // namespace sluice::connectors::kafka
