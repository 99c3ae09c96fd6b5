// File: tests/chaos/chaos_util.h
//
// What the fault-injection tests share: events numbered by an "id" field put
// on a topic, read back from where they ended (a sink file of JSON lines, a
// dead-letter file), and the tally each scenario prints.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

#include "connectors/file/dead_letter_file.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"

#include "simdjson.h"

namespace sluice::testing {

// Arrivals by id: how many times each event arrived.
using IdCounts = std::map<int64_t, int>;

// The "id" of a JSON event value; -1 if it has none (not JSON, a torn line).
inline int64_t IdOf(simdjson::dom::parser& parser, std::string_view value) {
  simdjson::dom::element root;
  int64_t id = -1;
  if (parser.parse(value.data(), value.size()).get(root) != simdjson::SUCCESS ||
      root["id"].get(id) != simdjson::SUCCESS) {
    return -1;
  }
  return id;
}

// The ids of a file of JSON lines (a file sink's output); lines without one
// count under -1.
inline IdCounts IdsInFile(const std::string& path) {
  IdCounts ids;
  simdjson::dom::parser parser;
  for (absl::string_view line : absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty())) {
    ++ids[IdOf(parser, std::string_view(line.data(), line.size()))];
  }
  return ids;
}

// Every record of a dead-letter file, in file order; none if there is no
// file. A record that does not parse fails the calling test.
inline std::vector<DeadLetter> ReadDeadLetters(const std::string& path) {
  std::vector<DeadLetter> letters;
  auto reader = connectors::DeadLetterFileReader::Open(path);
  if (!reader.ok()) return letters;
  connectors::DeadLetterFileEntry entry;
  while (true) {
    absl::StatusOr<bool> next = (*reader)->Next(entry);
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok() || !*next) break;
    absl::StatusOr<connectors::ParsedDeadLetter> parsed =
        connectors::ParseDeadLetterRecord(entry.record);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) letters.push_back(std::move(parsed->letter));
  }
  return letters;
}

// The ids of the events in a dead-letter file; `reason` gets the error of
// the last record. No file: none.
inline IdCounts DeadLetterIds(const std::string& path, std::string* reason = nullptr) {
  IdCounts ids;
  simdjson::dom::parser parser;
  for (const DeadLetter& letter : ReadDeadLetters(path)) {
    ++ids[IdOf(parser, letter.value)];
    if (reason != nullptr) *reason = letter.error;
  }
  return ids;
}

// Produces `count` events {"id":N} (N from 0, key "k<N>") to `topic`.
inline absl::Status ProduceIdEvents(const std::string& brokers, const std::string& topic,
                                    int count) {
  std::vector<KafkaMessage> messages;
  messages.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    messages.push_back({.key = absl::StrCat("k", i), .value = absl::StrCat("{\"id\":", i, "}")});
  }
  return ProduceMessages(brokers, topic, messages);
}

// Ids 0..produced-1 against where they arrived.
struct Tally {
  int missing = 0;     // in neither
  int duplicated = 0;  // arrivals beyond the first
  int in_both = 0;     // in the sink and the dead letters
};

inline Tally Count(int produced, const IdCounts& delivered, const IdCounts& dead_lettered) {
  Tally tally;
  for (int64_t id = 0; id < produced; ++id) {
    const auto sink = delivered.find(id);
    const auto dlq = dead_lettered.find(id);
    const int arrivals = (sink == delivered.end() ? 0 : sink->second) +
                         (dlq == dead_lettered.end() ? 0 : dlq->second);
    if (arrivals == 0) ++tally.missing;
    if (arrivals > 1) tally.duplicated += arrivals - 1;
    if (sink != delivered.end() && dlq != dead_lettered.end()) ++tally.in_both;
  }
  return tally;
}

}  // namespace sluice::testing
