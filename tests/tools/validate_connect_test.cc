// `sluice validate --connect` as a user runs it, against an embedded broker in
// this test process (a real Kafka protocol server on loopback): brokers that
// answer and topics that exist pass; a missing topic, an unreachable broker
// (a closed port) and an unwritable dead-letter file fail with exit code 2
// and a message naming the stage, its place and what failed.
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/kafka/embedded_broker.h"
#include "tests/support/command.h"

namespace sluice::testing {
namespace {

using connectors::kafka::EmbeddedBroker;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

// A loopback port nothing listens on: bound by the kernel's choice, then
// closed.
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ADD_FAILURE() << "cannot bind a loopback port";
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// A Kafka source on `source_brokers` reading `topics` -> a Kafka sink on
// `sink_brokers` writing `sink_topic`, dead letters to `dead_letters`.
std::string RelayConfig(const std::string& source_brokers, const std::string& topics,
                        const std::string& sink_brokers, const std::string& sink_topic,
                        const std::string& dead_letters) {
  return absl::StrCat(R"(name: relay
dead_letter:
  type: file
  path: )",
                      dead_letters, R"(
stages:
  - name: orders
    type: kafka
    brokers: ")",
                      source_brokers, R"("
    group: relay
    topics: )",
                      topics, R"(
  - name: publish
    type: kafka
    subscribe: orders
    brokers: ")",
                      sink_brokers, R"("
    topic: )",
                      sink_topic, "\n");
}

class ValidateConnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EmbeddedBroker>> started = EmbeddedBroker::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    broker_ = *std::move(started);
    ASSERT_TRUE(broker_->CreateTopic("orders", 2).ok());
    ASSERT_TRUE(broker_->CreateTopic("enriched", 1).ok());
    dir_ = MakeTempDir("validate-connect");
    config_ = dir_ + "/relay.yaml";
  }

  const std::string& address() const { return broker_->bootstrap_servers(); }

  std::unique_ptr<EmbeddedBroker> broker_;
  std::string dir_;
  std::string config_;
};

TEST_F(ValidateConnectTest, PassesWhenBrokersAnswerTopicsExistAndDeadLettersAreWritable) {
  // The dead-letter file's directory does not exist yet: it can be created,
  // which is enough, and validate creates nothing.
  const std::string dead_letters = dir_ + "/not/yet/dead-letters.log";
  WriteFile(config_, RelayConfig(address(), "[orders]", address(), "enriched", dead_letters));
  const CommandResult result = RunCommand({kSluice, "validate", "--connect", config_});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stderr_text,
              HasSubstr(absl::StrCat("connect: stage \"orders\": brokers \"", address(),
                                     "\" answered (1 broker); topic \"orders\" (2 partitions) "
                                     "exists\n")));
  EXPECT_THAT(result.stderr_text,
              HasSubstr(absl::StrCat("connect: stage \"publish\": brokers \"", address(),
                                     "\" answered (1 broker); topic \"enriched\" (1 partition) "
                                     "exists\n")));
  EXPECT_THAT(result.stderr_text,
              HasSubstr("connect: dead letters: \"" + dead_letters + "\" is writable\n"));
  EXPECT_THAT(result.stderr_text, HasSubstr("ok: pipeline \"relay\", 2 stages, connected"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/not"));
}

TEST_F(ValidateConnectTest, AMissingTopicNamesTheStageTheTopicAndItsPlace) {
  WriteFile(config_, RelayConfig(address(), "[orders, refunds]", address(), "audit",
                                 dir_ + "/dead-letters.log"));
  for (int run = 0; run < 2; ++run) {  // the first run created nothing either
    const CommandResult result =
        RunCommand({kSluice, "validate", "--connect", "--timeout", "5s", config_});
    EXPECT_EQ(result.exit_code, 2) << result.stderr_text;
    EXPECT_THAT(result.stderr_text,
                HasSubstr(absl::StrCat(config_,
                                       ":10:13: stage \"orders\": topic \"refunds\" does "
                                       "not exist on \"",
                                       address(), "\"\n")));
    EXPECT_THAT(result.stderr_text,
                HasSubstr(absl::StrCat(config_,
                                       ":15:12: stage \"publish\": topic \"audit\" does "
                                       "not exist on \"",
                                       address(), "\"\n")));
    EXPECT_THAT(result.stderr_text, Not(HasSubstr("ok: pipeline")));
  }
}

TEST_F(ValidateConnectTest, AnUnreachableBrokerFailsWithinTheTimeoutWithTheReason) {
  const std::string closed = absl::StrCat("127.0.0.1:", ClosedPort());
  WriteFile(config_,
            RelayConfig(address(), "[orders]", closed, "enriched", dir_ + "/dead-letters.log"));
  const absl::Time start = absl::Now();
  const CommandResult result =
      RunCommand({kSluice, "validate", "--connect", "--timeout", "1s", config_});
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(result.exit_code, 2) << result.stderr_text;
  EXPECT_THAT(result.stderr_text,
              HasSubstr(absl::StrCat(config_, ":14:14: stage \"publish\": brokers \"", closed,
                                     "\" did not answer within 1s: ")));
  EXPECT_THAT(result.stderr_text, HasSubstr("Connection refused"));
  // The reachable stage still passes and says so.
  EXPECT_THAT(result.stderr_text, HasSubstr("connect: stage \"orders\": brokers"));
  EXPECT_LT(took, absl::Seconds(15));
}

TEST_F(ValidateConnectTest, AnUnwritableDeadLetterFileFails) {
  // A regular file where a directory would have to be.
  WriteFile(dir_ + "/blocker", "");
  WriteFile(config_, RelayConfig(address(), "[orders]", address(), "enriched",
                                 dir_ + "/blocker/dead-letters.log"));
  const CommandResult result = RunCommand({kSluice, "validate", "--connect", config_});
  EXPECT_EQ(result.exit_code, 2) << result.stderr_text;
  EXPECT_THAT(result.stderr_text,
              HasSubstr(absl::StrCat(config_, ":4:9: dead letters: cannot create \"", dir_,
                                     "/blocker/dead-letters.log\": \"", dir_,
                                     "/blocker\" is not a directory\n")));
}

TEST_F(ValidateConnectTest, StaticErrorsAreReportedFirstAndNothingIsContacted) {
  WriteFile(config_, RelayConfig("127.0.0.1:1", "[orders]", address(), "enriched",
                                 dir_ + "/dead-letters.log") +
                         "    linger: 5\n");
  const CommandResult result = RunCommand({kSluice, "validate", "--connect", config_});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("stage \"publish\": unknown key \"linger\""));
  EXPECT_THAT(result.stderr_text, Not(HasSubstr("connect:")));
  EXPECT_THAT(result.stderr_text, Not(HasSubstr("did not answer")));
}

TEST(ValidateConnectOptionsTest, EmbeddedBrokersPassWithANoteAndABadTimeoutIsAUsageError) {
  const std::string configs = std::string(SLUICE_SOURCE_DIR) + "/configs";
  const CommandResult embedded =
      RunCommand({kSluice, "validate", "--connect", configs + "/quickstart.yaml"});
  EXPECT_EQ(embedded.exit_code, 0) << embedded.stderr_text;
  EXPECT_THAT(embedded.stderr_text, HasSubstr("brokers: embedded, the broker `sluice run` starts"));
  const CommandResult bad_timeout = RunCommand(
      {kSluice, "validate", "--connect", "--timeout", "soon", configs + "/quickstart.yaml"});
  EXPECT_EQ(bad_timeout.exit_code, 2);
  EXPECT_THAT(bad_timeout.stderr_text, HasSubstr("--timeout: \"soon\" is not a positive duration"));
}

}  // namespace
}  // namespace sluice::testing
