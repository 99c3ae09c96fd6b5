// The shared Kafka client config: properties pass through to librdkafka
// (checked, errors naming the property), `embedded` resolves to the
// in-process broker, and secret properties are masked wherever a config is
// printed.
#include "connectors/kafka/kafka_client_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/kafka/embedded_broker.h"
#include "tools/config/yaml_loader.h"

namespace sluice::connectors::kafka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ConfValue(rd_kafka_conf_t* conf, const char* name) {
  char value[512];
  size_t size = sizeof(value);
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return value;
}

TEST(KafkaClientConfigTest, AppliesBrokersAndEveryProperty) {
  absl::StatusOr<rd_kafka_conf_t*> conf = MakeRdKafkaConf(
      {.brokers = "a:1,b:2", .properties = {{"linger.ms", "7"}, {"client.id", "me"}}});
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(ConfValue(*conf, "bootstrap.servers"), "a:1,b:2");
  EXPECT_EQ(ConfValue(*conf, "linger.ms"), "7");
  EXPECT_EQ(ConfValue(*conf, "client.id"), "me");
  rd_kafka_conf_destroy(*conf);
}

TEST(KafkaClientConfigTest, EmbeddedResolvesToTheSharedBroker) {
  absl::StatusOr<rd_kafka_conf_t*> conf = MakeRdKafkaConf({.brokers = "embedded"});
  ASSERT_TRUE(conf.ok()) << conf.status();
  absl::StatusOr<EmbeddedBroker*> shared = EmbeddedBroker::Shared();
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(ConfValue(*conf, "bootstrap.servers"), (*shared)->bootstrap_servers());
  rd_kafka_conf_destroy(*conf);
}

TEST(KafkaClientConfigTest, UnknownOrInvalidPropertyIsAnErrorNamingIt) {
  absl::StatusOr<rd_kafka_conf_t*> unknown =
      MakeRdKafkaConf({.brokers = "a:1", .properties = {{"linger.mss", "5"}}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("\"linger.mss\""));
  EXPECT_THAT(unknown.status().message(), HasSubstr("No such configuration property"));

  absl::StatusOr<rd_kafka_conf_t*> bad_value =
      MakeRdKafkaConf({.brokers = "a:1", .properties = {{"compression.type", "zip"}}});
  EXPECT_EQ(bad_value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_value.status().message(), HasSubstr("kafka property \"compression.type\""));
  EXPECT_THAT(bad_value.status().message(), HasSubstr("Invalid value"));
}

TEST(KafkaClientConfigTest, SecretPropertiesAreRecognised) {
  for (const char* name : {"sasl.password", "ssl.key.password", "ssl.key.pem",
                           "sasl.oauthbearer.client.secret", "ssl.keystore.password"}) {
    EXPECT_TRUE(IsSecretProperty(name)) << name;
  }
  for (const char* name : {"sasl.username", "linger.ms", "ssl.ca.location", "bootstrap.servers"}) {
    EXPECT_FALSE(IsSecretProperty(name)) << name;
  }
  EXPECT_EQ(DescribeProperty("sasl.password", "hunter2"), "sasl.password=******");
  EXPECT_EQ(DescribeProperty("linger.ms", "5"), "linger.ms=5");
}

TEST(KafkaClientConfigTest, MakeIdempotentProducerIsIdempotentWithTheCallersProperties) {
  int owner = 0;
  absl::StatusOr<rd_kafka_t*> producer = MakeIdempotentProducer(
      {.brokers = "127.0.0.1:1", .properties = {{"client.id", "dlq"}}},
      {.delivery_report = [](rd_kafka_t*, const rd_kafka_message_t*, void*) {}, .opaque = &owner});
  ASSERT_TRUE(producer.ok()) << producer.status();
  // rd_kafka_conf() is the producer's own conf: what rd_kafka_new() was given.
  rd_kafka_conf_t* conf = rd_kafka_conf_dup(rd_kafka_conf(*producer));
  EXPECT_EQ(ConfValue(conf, "enable.idempotence"), "true");
  EXPECT_EQ(ConfValue(conf, "client.id"), "dlq");
  EXPECT_EQ(ConfValue(conf, "bootstrap.servers"), "127.0.0.1:1");
  EXPECT_EQ(rd_kafka_opaque(*producer), &owner);
  rd_kafka_conf_destroy(conf);
  rd_kafka_destroy(*producer);
}

TEST(KafkaClientConfigTest, MakeIdempotentProducerReportsAConfigLibrdkafkaRefuses) {
  // Idempotence needs acks=all: rd_kafka_new() refuses acks=1.
  absl::StatusOr<rd_kafka_t*> producer =
      MakeIdempotentProducer({.brokers = "127.0.0.1:1", .properties = {{"acks", "1"}}}, {});
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(producer.status().message(), HasSubstr("librdkafka refused the producer config"));
  EXPECT_THAT(producer.status().message(), HasSubstr("acks"));
}

TEST(KafkaClientConfigTest, ConfigPrinterMasksEveryKafkaSecretProperty) {
  for (std::string_view name : KnownSecretProperties()) {
    EXPECT_TRUE(config::IsSecretKey(name)) << name;
  }
  absl::StatusOr<ConfigNode> root = config::LoadYamlString(
      "stages:\n  - name: out\n    type: kafka\n    properties:\n"
      "      sasl.username: svc\n      sasl.password: hunter2\n"
      "      ssl.key.pem: \"-----BEGIN PRIVATE KEY-----\"\n"
      "      sasl.oauthbearer.config: principal=me secret=s3cr3t\n",
      "p.yaml");
  ASSERT_TRUE(root.ok()) << root.status();
  const std::string printed = config::ToYaml(*root);
  EXPECT_THAT(printed, HasSubstr("sasl.username: svc"));
  EXPECT_THAT(printed, Not(HasSubstr("hunter2")));
  EXPECT_THAT(printed, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(printed, Not(HasSubstr("s3cr3t")));
}

}  // namespace
}  // namespace sluice::connectors::kafka
