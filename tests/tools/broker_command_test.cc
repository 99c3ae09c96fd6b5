// `sluice broker` as scripts use it: a child process that prints its
// bootstrap address alone on stdout's first line, serves real clients over
// TCP (kcat, librdkafka), and exits 0 on SIGINT. The kcat interop tests run
// kcat, an independent Kafka client, against it: kcat reads what sluice's
// Kafka sink wrote, byte for byte, and a plain librdkafka consumer reads what
// kcat produced, keys and headers included.
#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"
#include "tests/support/stage_harness.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

// A `sluice ...` child process whose stdout is a pipe we read.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> args) {
    int out[2];
    if (::pipe(out) != 0) {
      ADD_FAILURE() << "pipe: " << errno;
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_fd_ = out[0];
  }
  ~ChildProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The first line of stdout (without "\n"), or "" if none came in time.
  std::string ReadLine(absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      if (size_t newline = buffer_.find('\n'); newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return "";
      pollfd ready{stdout_fd_, POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
      char chunk[256];
      const ssize_t got = ::read(stdout_fd_, chunk, sizeof(chunk));
      if (got <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

  // Sends `signal` and waits for the exit: its code (128 + N if killed by
  // N), or -1 if it did not exit within `timeout`.
  int Signal(int signal, absl::Duration timeout = absl::Seconds(20)) {
    ::kill(pid_, signal);
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return -1;
      }
      absl::SleepFor(absl::Milliseconds(20));  // polling the child's exit, with a deadline
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool reaped_ = false;
  std::string buffer_;
};

TEST(BrokerCommandTest, PrintsItsAddressFirstServesClientsAndExitsZeroOnSigint) {
  ChildProcess broker({kSluice, "broker", "--topics", "a:4,b:1"});
  const std::string address = broker.ReadLine();
  ASSERT_THAT(address, MatchesRegex("127\\.0\\.0\\.1:[0-9]+"));
  ASSERT_TRUE(ProduceMessages(address, "b", {{.key = "k", .value = "hello"}}).ok());
  const std::vector<KafkaMessage> read = ReadTopic(address, "b", 1);
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].value, "hello");
  // The topics exist with the partitions asked for.
  const CommandResult listing = RunCommand({"kcat", "-L", "-b", address, "-t", "a"});
  EXPECT_THAT(listing.stdout_text, HasSubstr("topic \"a\" with 4 partitions"));
  EXPECT_EQ(broker.Signal(SIGINT), 0);
}

TEST(BrokerCommandTest, SeveralBrokersPrintACommaListAndSigtermStopsToo) {
  ChildProcess broker({kSluice, "broker", "--brokers", "3"});
  const std::string address = broker.ReadLine();
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(address, ',')).size(), 3u) << address;
  EXPECT_EQ(broker.Signal(SIGTERM), 0);
}

TEST(BrokerCommandTest, FixedPortAndBadTopicsAreUsageErrors) {
  const CommandResult port = RunCommand({kSluice, "broker", "--port", "9092"});
  EXPECT_EQ(port.exit_code, 2);
  EXPECT_THAT(port.stderr_text, HasSubstr("cannot be honoured"));
  EXPECT_TRUE(port.stdout_text.empty());
  const CommandResult topics = RunCommand({kSluice, "broker", "--topics", "a:zero"});
  EXPECT_EQ(topics.exit_code, 2);
  EXPECT_THAT(topics.stderr_text, HasSubstr("partitions must be a whole number"));
}

// kcat prints each message as "<key length>|<key>|<value length>|<value>|<headers>\n";
// the lengths make binary bytes unambiguous.
std::vector<KafkaMessage> ParseKcatOutput(const std::string& text) {
  std::vector<KafkaMessage> messages;
  size_t at = 0;
  auto read_length = [&](int64_t& length) {
    const size_t bar = text.find('|', at);
    if (bar == std::string::npos) return false;
    const bool ok = absl::SimpleAtoi(text.substr(at, bar - at), &length);
    at = bar + 1;
    return ok;
  };
  while (at < text.size()) {
    KafkaMessage message;
    int64_t key_length = 0;
    int64_t value_length = 0;
    if (!read_length(key_length)) break;
    if (key_length >= 0) message.key = text.substr(at, static_cast<size_t>(key_length));
    at += static_cast<size_t>(std::max<int64_t>(key_length, 0)) + 1;  // key, "|"
    if (!read_length(value_length)) break;
    message.value = text.substr(at, static_cast<size_t>(value_length));
    at += static_cast<size_t>(value_length) + 1;
    const size_t end = text.find('\n', at);
    for (absl::string_view header :
         absl::StrSplit(text.substr(at, end - at), ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> pair = absl::StrSplit(header, absl::MaxSplits('=', 1));
      message.headers.push_back(std::move(pair));
    }
    at = end + 1;
    messages.push_back(std::move(message));
  }
  return messages;
}

TEST(KcatInteropTest, KcatReadsWhatTheKafkaSinkWroteByteForByte) {
  ChildProcess broker({kSluice, "broker", "--topics", "in:1,out:1"});
  const std::string address = broker.ReadLine();
  ASSERT_FALSE(address.empty());
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 200; ++i) {
    inputs.push_back({.key = absl::StrCat("key|", i, "\xc3\xa9"),
                      .value = absl::StrCat("{\"n\":", i, "}\ttab\nline|bar\xff"),
                      .headers = {{"trace", absl::StrCat("t", i)}, {"kind", "order"}}});
  }
  const StageRunResult result =
      RunSink("type: kafka\nbrokers: " + address + "\ntopic: out\n", inputs, {.batch_size = 16});
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.report.events_acknowledged(), inputs.size());

  const CommandResult kcat =
      RunCommand({"kcat", "-C", "-b", address, "-t", "out", "-e", "-q", "-f", "%K|%k|%S|%s|%h\n"});
  ASSERT_EQ(kcat.exit_code, 0) << kcat.stderr_text;
  const std::vector<KafkaMessage> read = ParseKcatOutput(kcat.stdout_text);
  ASSERT_EQ(read.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(read[i].key, inputs[i].key) << i;
    EXPECT_EQ(read[i].value, inputs[i].value) << i;
    EXPECT_EQ(read[i].headers, inputs[i].headers) << i;
  }
  EXPECT_EQ(broker.Signal(SIGINT), 0);
}

TEST(KcatInteropTest, WhatKcatProducesReadsBackWithKeysAndHeaders) {
  ChildProcess broker({kSluice, "broker", "--topics", "in:1,out:1"});
  const std::string address = broker.ReadLine();
  ASSERT_FALSE(address.empty());
  const std::string dir = MakeTempDir("kcat-produce");
  std::string lines;
  for (int i = 0; i < 50; ++i) absl::StrAppend(&lines, "user-", i % 5, ":{\"n\":", i, "}\n");
  WriteFile(dir + "/in.txt", lines);
  const CommandResult kcat =
      RunCommand({"kcat", "-P", "-b", address, "-t", "in", "-K:", "-H", "h=v", "-H", "source=kcat"},
                 dir + "/in.txt");
  ASSERT_EQ(kcat.exit_code, 0) << kcat.stderr_text;
  const std::vector<KafkaMessage> read = ReadTopic(address, "in", 50);
  ASSERT_EQ(read.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(read[i].key, absl::StrCat("user-", i % 5));
    EXPECT_EQ(read[i].value, absl::StrCat("{\"n\":", i, "}"));
    EXPECT_EQ(read[i].headers,
              (std::vector<std::pair<std::string, std::string>>{{"h", "v"}, {"source", "kcat"}}));
  }
  EXPECT_EQ(broker.Signal(SIGINT), 0);
}

// The whole path through independent clients: kcat produces (keys and
// headers), `sluice run` consumes with the Kafka source and writes with the
// Kafka sink, kcat reads the result back, byte for byte.
TEST(KcatInteropTest, KcatToSluiceRunToKcatKeepsKeysValuesAndHeaders) {
  ChildProcess broker({kSluice, "broker", "--topics", "in:1,out:1"});
  const std::string address = broker.ReadLine();
  ASSERT_FALSE(address.empty());
  const std::string dir = MakeTempDir("kcat-relay");
  std::string lines;
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&lines, "user-", i % 7, ":{\"n\":", i, ",\"s\":\"\xc3\xa9\ttab\"}\n");
  }
  WriteFile(dir + "/in.txt", lines);
  const CommandResult produced =
      RunCommand({"kcat", "-P", "-b", address, "-t", "in", "-K:", "-H", "h=v", "-H", "trace=abc"},
                 dir + "/in.txt");
  ASSERT_EQ(produced.exit_code, 0) << produced.stderr_text;
  WriteFile(dir + "/relay.yaml", absl::StrCat(R"(name: relay
data_dir: )",
                                              dir, R"(/data
stages:
  - name: source
    type: kafka
    brokers: ")",
                                              address, R"("
    group: relay
    topics: [in]
    auto_offset_reset: earliest
  - name: sink
    type: kafka
    subscribe: [source]
    brokers: ")",
                                              address, R"("
    topic: out
)"));
  ChildProcess run({kSluice, "run", dir + "/relay.yaml", "--quiet"});
  std::vector<KafkaMessage> read;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (read.size() < 100 && absl::Now() < deadline) {
    const CommandResult kcat = RunCommand(
        {"kcat", "-C", "-b", address, "-t", "out", "-e", "-q", "-f", "%K|%k|%S|%s|%h\n"});
    ASSERT_EQ(kcat.exit_code, 0) << kcat.stderr_text;
    read = ParseKcatOutput(kcat.stdout_text);
  }
  EXPECT_EQ(run.Signal(SIGINT, absl::Seconds(30)), 0);
  ASSERT_EQ(read.size(), 100u);
  const std::vector<std::string> sent = absl::StrSplit(lines, '\n', absl::SkipEmpty());
  for (size_t i = 0; i < read.size(); ++i) {
    const std::pair<std::string, std::string> key_value =
        absl::StrSplit(sent[i], absl::MaxSplits(':', 1));
    EXPECT_EQ(read[i].key, key_value.first) << i;
    EXPECT_EQ(read[i].value, key_value.second) << i;
    EXPECT_EQ(read[i].headers,
              (std::vector<std::pair<std::string, std::string>>{{"h", "v"}, {"trace", "abc"}}));
  }
  EXPECT_EQ(broker.Signal(SIGINT), 0);
}

}  // namespace
}  // namespace sluice::testing
