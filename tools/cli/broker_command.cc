// `sluice broker`: an embedded Kafka broker (librdkafka's mock cluster) in a
// process of its own, for local development and for tests that drive real
// clients (kcat, kafka-python, another sluice) against it. It prints the
// bootstrap address alone on stdout's first line, flushed, so that a script
// can read it, and runs until SIGINT/SIGTERM (exit 0).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include <signal.h>

#include "connectors/kafka/embedded_broker.h"
#include "tools/cli/commands.h"

namespace sluice::cli {
namespace {

struct TopicSpec {
  std::string name;
  int partitions = connectors::kafka::kEmbeddedDefaultPartitions;
};

// "a:4,b:1,c" -> {a,4} {b,1} {c,4}.
absl::StatusOr<std::vector<TopicSpec>> ParseTopics(const std::string& text) {
  std::vector<TopicSpec> topics;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    TopicSpec topic;
    const size_t colon = item.rfind(':');
    if (colon == absl::string_view::npos) {
      topic.name = std::string(item);
    } else {
      topic.name = std::string(item.substr(0, colon));
      if (!absl::SimpleAtoi(item.substr(colon + 1), &topic.partitions) || topic.partitions < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("--topics: \"", item, "\": partitions must be a whole number >= 1"));
      }
    }
    if (topic.name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--topics: \"", item, "\": no topic name"));
    }
    topics.push_back(std::move(topic));
  }
  return topics;
}

}  // namespace

int Broker(const BrokerArgs& args) {
  if (args.port != 0) {
    std::cerr << "sluice broker: --port " << args.port
              << " cannot be honoured: librdkafka 2.0.2's mock cluster binds 127.0.0.1 at a port "
                 "it picks itself and has no way to choose it. Omit --port and read the address "
                 "from the first line of stdout.\n";
    return kExitConfig;
  }
  absl::StatusOr<std::vector<TopicSpec>> topics = ParseTopics(args.topics);
  if (!topics.ok()) {
    std::cerr << "sluice broker: " << topics.status().message() << "\n";
    return kExitConfig;
  }
  // Block the signals before the broker's threads start (they inherit the
  // mask), and take them back from SIG_IGN (a shell's background job), so
  // that sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  // A reader of stdout that went away must not kill the broker.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<connectors::kafka::EmbeddedBroker>> broker =
      connectors::kafka::EmbeddedBroker::Start({.brokers = args.brokers});
  if (!broker.ok()) {
    std::cerr << "sluice broker: " << broker.status().message() << "\n";
    return kExitRuntime;
  }
  for (const TopicSpec& topic : *topics) {
    if (absl::Status created = (*broker)->CreateTopic(topic.name, topic.partitions);
        !created.ok()) {
      std::cerr << "sluice broker: " << created.message() << "\n";
      return kExitConfig;
    }
  }
  std::cout << (*broker)->bootstrap_servers() << std::endl;  // flushed: scripts wait for it
  std::cerr << "sluice broker: " << args.brokers << (args.brokers == 1 ? " broker" : " brokers")
            << " at " << (*broker)->bootstrap_servers();
  for (const TopicSpec& topic : *topics) {
    std::cerr << (&topic == &topics->front() ? "; topics " : ", ") << topic.name << ":"
              << topic.partitions;
  }
  std::cerr << " (in memory, nothing on disk); Ctrl-C to stop" << std::endl;

  int received = 0;
  while (sigwait(&signals, &received) != 0) {
  }
  std::cerr << "sluice broker: " << (received == SIGINT ? "SIGINT" : "SIGTERM") << ": stopping"
            << std::endl;
  broker->reset();
  return kExitOk;
}

}  // namespace sluice::cli
