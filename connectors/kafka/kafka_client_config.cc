#include "connectors/kafka/kafka_client_config.h"

#include <array>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "spdlog/spdlog.h"

#include "connectors/kafka/embedded_broker.h"
#include "pipeline/string_view_compat.h"

namespace sluice::connectors::kafka {
namespace {

constexpr std::array<std::string_view, 8> kSecretProperties = {
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    // Holds the unsecured-JWT settings, which may carry credentials.
    "sasl.oauthbearer.config",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl_key",
    "ssl.keystore.password",
    "ssl.engine.callback_data",
};

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// Sets one property; on failure returns librdkafka's text, a secret value
// replaced by "******" in it.
std::optional<std::string> SetProperty(rd_kafka_conf_t* conf, const std::string& name,
                                       const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof(error)) ==
      RD_KAFKA_CONF_OK) {
    return std::nullopt;
  }
  std::string text = error;
  if (IsSecretProperty(name) && !value.empty()) {
    text = absl::StrReplaceAll(text, {{value, "******"}});
  }
  return text;
}

bool NamesTheBrokers(std::string_view name) {
  return name == "bootstrap.servers" || name == "metadata.broker.list";
}

}  // namespace

std::optional<KafkaClientOptions> ReadKafkaClientOptions(OptionReader& options) {
  KafkaClientOptions client;
  bool ok = true;
  std::optional<std::string> brokers;
  if (options.Node("brokers") == nullptr) {  // absent or null
    options.Error("brokers",
                  "is required: \"host:port,...\" or \"embedded\" (the in-process broker)");
    ok = false;
  } else if (brokers = options.String("brokers"); !brokers.has_value()) {
    ok = false;  // not a single value: recorded by String()
  } else if (absl::StripAsciiWhitespace(*brokers).empty()) {
    options.Error("brokers", "must not be empty");
    ok = false;
  } else {
    client.brokers = std::string(absl::StripAsciiWhitespace(*brokers));
  }

  if (const ConfigNode* properties = options.Node("properties")) {
    if (!properties->is_map()) {
      options.Error("properties", absl::StrCat("expected a map of librdkafka properties, got ",
                                               Av(properties->kind_name())));
      ok = false;
    } else {
      // Checked against librdkafka now (no I/O), so that `sluice validate`
      // reports a misspelt property at its place.
      ConfPtr check(rd_kafka_conf_new());
      for (const ConfigNode::Entry& entry : properties->entries()) {
        const std::string where = absl::StrCat("properties: \"", entry.key, "\": ");
        if (NamesTheBrokers(entry.key)) {
          options.ErrorAt(entry.key_mark, absl::StrCat(where, "set `brokers` instead"));
          ok = false;
          continue;
        }
        if (!entry.value.is_scalar()) {
          options.ErrorAt(entry.value.mark(),
                          absl::StrCat(where, "expected a string, number or boolean, got ",
                                       Av(entry.value.kind_name())));
          ok = false;
          continue;
        }
        if (std::optional<std::string> error =
                SetProperty(check.get(), entry.key, entry.value.scalar())) {
          options.ErrorAt(entry.value.mark(), where + *error);
          ok = false;
          continue;
        }
        client.properties.emplace_back(entry.key, entry.value.scalar());
      }
    }
  }
  if (!ok) return std::nullopt;
  return client;
}

// librdkafka's log lines go to spdlog (stderr by default would interleave
// with `sluice run`'s status line). Syslog levels: 0-3 error, 4 warning,
// 5-6 info, 7 debug.
void LogRdKafkaToSpdlog(const rd_kafka_t* client, int level, const char* facility,
                        const char* message) {
  const char* name = client != nullptr ? rd_kafka_name(client) : "rdkafka";
  if (level <= 3) {
    spdlog::error("librdkafka {} {}: {}", name, facility, message);
  } else if (level == 4) {
    spdlog::warn("librdkafka {} {}: {}", name, facility, message);
  } else if (level <= 6) {
    spdlog::info("librdkafka {} {}: {}", name, facility, message);
  } else {
    spdlog::debug("librdkafka {} {}: {}", name, facility, message);
  }
}

absl::StatusOr<rd_kafka_conf_t*> MakeRdKafkaConf(const KafkaClientOptions& options) {
  std::string bootstrap = options.brokers;
  if (options.is_embedded()) {
    absl::StatusOr<EmbeddedBroker*> broker = EmbeddedBroker::Shared();
    if (!broker.ok()) return broker.status();
    bootstrap = (*broker)->bootstrap_servers();
  }
  ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), LogRdKafkaToSpdlog);
  if (std::optional<std::string> error = SetProperty(conf.get(), "bootstrap.servers", bootstrap)) {
    return absl::InvalidArgumentError(absl::StrCat("kafka: brokers: ", *error));
  }
  for (const auto& [name, value] : options.properties) {
    if (NamesTheBrokers(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kafka property \"", name, "\": set `brokers` instead"));
    }
    if (std::optional<std::string> error = SetProperty(conf.get(), name, value)) {
      return absl::InvalidArgumentError(absl::StrCat("kafka property \"", name, "\": ", *error));
    }
  }
  return conf.release();
}

absl::StatusOr<rd_kafka_t*> MakeIdempotentProducer(const KafkaClientOptions& options,
                                                   const ProducerCallbacks& callbacks) {
  absl::StatusOr<rd_kafka_conf_t*> made = MakeRdKafkaConf(options);
  if (!made.ok()) return made.status();
  ConfPtr conf(*made);
  if (std::optional<std::string> error = SetProperty(conf.get(), "enable.idempotence", "true")) {
    return absl::InternalError(absl::StrCat("enable.idempotence: ", *error));
  }
  if (callbacks.delivery_report != nullptr) {
    rd_kafka_conf_set_dr_msg_cb(conf.get(), callbacks.delivery_report);
  }
  if (callbacks.error != nullptr) rd_kafka_conf_set_error_cb(conf.get(), callbacks.error);
  rd_kafka_conf_set_opaque(conf.get(), callbacks.opaque);
  char error[512];
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error, sizeof(error));
  if (producer == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("librdkafka refused the producer config: ", error));
  }
  (void)conf.release();  // rd_kafka_new() took it
  return producer;
}

bool IsSecretProperty(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(Av(name));
  for (std::string_view secret : kSecretProperties) {
    if (lower == secret) return true;
  }
  return absl::StrContains(lower, "password") || absl::StrContains(lower, "secret");
}

absl::Span<const std::string_view> KnownSecretProperties() { return kSecretProperties; }

std::string DescribeProperty(std::string_view name, std::string_view value) {
  return absl::StrCat(Av(name), "=", IsSecretProperty(name) ? "******" : Av(value));
}

}  // namespace sluice::connectors::kafka
