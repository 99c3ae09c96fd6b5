// Poison input (issue #9): malformed JSON, an oversized payload, binary
// garbage and empty messages among good events on a Kafka topic. Each bad
// one is dead-lettered with a reason naming what is wrong and where; the
// pipeline keeps running; every good event, one with a hundred 1 KB headers
// among them, reaches the sink intact.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/kafka/embedded_broker.h"
#include "tests/chaos/chaos_util.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"
#include "tests/tools/sluice_process.h"

#include "simdjson.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

TEST(PoisonTest, EachBadMessageIsDeadLetteredWithItsReasonAndTheRestFlows) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  ASSERT_TRUE(broker->CreateTopic("events", 2).ok());

  // Good events are {"id": N}; each bad one is keyed by what it is.
  std::vector<KafkaMessage> messages;
  const std::map<std::string, std::string> bad = {
      {"malformed", R"({"id": 1, "name": )"},
      {"oversized", absl::StrCat(R"({"id": 2, "blob": ")", std::string(70000, 'x'), "\"}")},
      {"binary", std::string("\x00\xff\xfe\x01garbage\x7f\x80", 13)},
      {"empty", ""},
      {"array", "[1, 2, 3]"},
  };
  constexpr int kGood = 1000;
  int next_bad = 0;
  auto bad_it = bad.begin();
  for (int i = 0; i < kGood; ++i) {
    KafkaMessage good{.key = absl::StrCat("k", i), .value = absl::StrCat("{\"id\": ", i, "}")};
    if (i == 500) {
      for (int h = 0; h < 100; ++h) {
        good.headers.emplace_back(absl::StrCat("h", h), std::string(1024, 'a' + h % 26));
      }
    }
    messages.push_back(std::move(good));
    // A bad one every 150 good ones, each kind once.
    if (i % 150 == 75 && bad_it != bad.end()) {
      messages.push_back({.key = bad_it->first, .value = bad_it->second});
      ++bad_it;
      ++next_bad;
    }
  }
  ASSERT_EQ(next_bad, static_cast<int>(bad.size()));
  ASSERT_TRUE(ProduceMessages(broker->bootstrap_servers(), "events", messages).ok());

  const std::string dir = MakeTempDir("chaos-poison");
  WriteFile(dir + "/poison.yaml", absl::StrCat(R"(name: poison
data_dir: )",
                                               dir, R"(/data
dead_letter: {type: file, path: )",
                                               dir, R"(/dead-letters.log}
stages:
  - name: in
    type: kafka
    brokers: ")",
                                               broker->bootstrap_servers(), R"("
    group: poison
    topics: [events]
    stop_when_idle: 2s
    properties: {fetch.wait.max.ms: 50}
  - name: parse
    type: json_parse
    subscribe: in
    max_bytes: 64KiB
    required: [/id]
  - name: out
    type: kafka
    subscribe: parse
    brokers: ")",
                                               broker->bootstrap_servers(), R"("
    topic: out
)"));
  SluiceProcess run({kSluice, "run", dir + "/poison.yaml", "--quiet"}, dir, "run");
  ASSERT_TRUE(run.started());
  ASSERT_EQ(run.Wait(absl::Seconds(90)), 0) << run.Stderr();
  EXPECT_THAT(run.Stderr(), HasSubstr("[adds up]"));

  // Dead letters: exactly the bad ones, by key, with their reasons.
  std::map<std::string, std::string> reasons;
  for (const DeadLetter& letter : ReadDeadLetters(dir + "/dead-letters.log")) {
    EXPECT_EQ(letter.stage, "parse");
    EXPECT_EQ(letter.source_topic, "events");
    EXPECT_EQ(letter.value, bad.at(letter.key)) << letter.key;
    reasons[letter.key] = letter.error;
  }
  ASSERT_EQ(reasons.size(), bad.size());
  EXPECT_THAT(reasons["malformed"], HasSubstr("not valid JSON at byte 18"));
  EXPECT_THAT(reasons["oversized"], HasSubstr("value is 70"));
  EXPECT_THAT(reasons["oversized"], HasSubstr("over max_bytes 65536"));
  EXPECT_THAT(reasons["binary"],
              HasSubstr("not valid JSON at byte 1: The input is not valid UTF-8"));
  EXPECT_THAT(reasons["empty"], HasSubstr("not valid JSON: Empty: no JSON found"));
  EXPECT_THAT(reasons["array"], HasSubstr("expected a JSON object, got array"));

  // The sink's topic: every good event once, the one with 100 headers with
  // all of them, byte for byte.
  std::map<int64_t, int> ids;
  size_t most_headers = 0;
  simdjson::dom::parser parser;
  for (const KafkaMessage& message : ReadTopic(broker->bootstrap_servers(), "out", kGood)) {
    simdjson::dom::element event;
    int64_t id = -1;
    ASSERT_EQ(parser.parse(message.value).get(event), simdjson::SUCCESS) << message.value;
    ASSERT_EQ(event["id"].get(id), simdjson::SUCCESS) << message.value;
    ++ids[id];
    if (id == 500) {
      ASSERT_EQ(message.headers.size(), 100u);
      for (int h = 0; h < 100; ++h) {
        EXPECT_EQ(message.headers[h].first, absl::StrCat("h", h));
        EXPECT_EQ(message.headers[h].second, std::string(1024, 'a' + h % 26));
      }
    }
    most_headers = std::max(most_headers, message.headers.size());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kGood));
  for (const auto& [id, count] : ids) EXPECT_EQ(count, 1) << id;
  EXPECT_EQ(most_headers, 100u);
  std::cout << "chaos poison: produced " << messages.size() << " delivered " << ids.size()
            << " dead-lettered " << reasons.size() << " duplicated 0 missing "
            << (kGood - static_cast<int>(ids.size())) << "\n";
}

}  // namespace
}  // namespace sluice::testing
