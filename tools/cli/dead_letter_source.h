// File: tools/cli/dead_letter_source.h
//
// A DeadLetterSource reads the records of a dead-letter queue front to back,
// whichever backend wrote them: a local file (connectors/file/dead_letter_file.h)
// or a Kafka topic (connectors/kafka/kafka_dead_letter.h). `sluice dlq inspect`
// and `sluice dlq replay` read through it, so both backends look the same to
// them: a sequence of DeadLetterRecords, each with its place in the queue.
//
//   SLUICE_ASSIGN_OR_RETURN(DeadLetterLocation where,
//   ParseDeadLetterLocation("kafka://orders.dlq"));
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<DeadLetterSource> source,
//                           OpenDeadLetterSource(where, {.client = client}));
//   DeadLetterEntry entry;
//   while (*source->Next(entry)) { ... entry.record ... }
//
// A source reads what the queue holds when it is opened (a Kafka source stops
// at each partition's high watermark as of Open), so a read always ends.
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "connectors/file/dead_letter_file.h"
#include "connectors/kafka/kafka_client_config.h"

namespace sluice::cli {

// `kafka://topic` or a file path.
struct DeadLetterLocation {
  enum class Kind { kFile, kKafka };
  Kind kind = Kind::kFile;
  std::string path;   // kFile
  std::string topic;  // kKafka

  bool is_kafka() const { return kind == Kind::kKafka; }
  // "file <path>" or "kafka://<topic>".
  std::string ToString() const;
};

// Errors: kInvalidArgument for "kafka://" with no topic or an empty text.
absl::StatusOr<DeadLetterLocation> ParseDeadLetterLocation(std::string_view text);

// Kafka brokers and properties for the dlq commands: `--brokers` and `-X
// name=value` flags, or the `dead_letter:` block of a pipeline file
// (`--config`). Errors: kInvalidArgument (no brokers, `embedded` brokers,
// a malformed property), or the config's own errors.
absl::StatusOr<connectors::kafka::KafkaClientOptions> KafkaClientFromFlags(
    const std::string& brokers, const std::vector<std::string>& properties,
    const std::string& config_path);

// One record and its place in the queue.
struct DeadLetterEntry {
  connectors::DeadLetterRecord record;
  // Kafka: the record's partition and offset. File: partition 0 and the
  // record's index in the file (0 for its first good record).
  int32_t partition = 0;
  int64_t offset = 0;
  // File only: where the record starts, and where the next one does.
  uint64_t file_position = 0;
  uint64_t next_file_position = 0;
};

// Where a read starts: the file position and record index, or an offset per
// Kafka partition (partitions absent: from the beginning).
struct DeadLetterStart {
  uint64_t file_position = 0;
  int64_t file_index = 0;
  std::map<int32_t, int64_t> kafka_offsets;
};

struct DeadLetterSourceOptions {
  // Required for a Kafka queue.
  std::optional<connectors::kafka::KafkaClientOptions> client;
  // Kafka: the consumer group whose committed offsets are the start
  // (`resume`) and which Commit() commits to. Empty: no group (inspect).
  std::string group;
  // Start from the group's committed offsets (Kafka) or from `start` (file).
  bool resume = false;
  DeadLetterStart start;
  // Kafka: how long metadata, watermark and fetch calls may wait for the
  // brokers before the read fails (kUnavailable). Defaults to 10s.
  absl::Duration timeout = absl::Seconds(10);
};

// What a read skipped: a file's damaged regions and torn tail (see
// docs/dead-letter-file-format.md). Always zero for Kafka.
using DeadLetterDamage = connectors::DeadLetterFileStats;

class DeadLetterSource {
 public:
  virtual ~DeadLetterSource() = default;
  // The next record: true, or false at the end. Errors: I/O (kUnavailable),
  // brokers not answering (kUnavailable). Damage is skipped and counted.
  virtual absl::StatusOr<bool> Next(DeadLetterEntry& entry) = 0;
  virtual DeadLetterDamage damage() const { return {}; }
  // Kafka: commits `offsets` (partition -> next offset to read) for the
  // group, synchronously. Errors: kFailedPrecondition without a group,
  // kUnavailable when the commit fails.
  virtual absl::Status Commit(const std::map<int32_t, int64_t>& offsets) {
    (void)offsets;
    return absl::FailedPreconditionError("this dead-letter queue has no group to commit to");
  }
  // Kafka: the number of records in the queue from where the read starts to
  // the high watermarks (an upper bound of what Next() returns); file: -1.
  virtual int64_t expected() const { return -1; }
};

struct DlqKafkaArgs;  // tools/cli/commands.h

// The source options for `where` from a dlq command's flags: the brokers
// (Kafka), the timeout. Errors: kInvalidArgument.
absl::StatusOr<DeadLetterSourceOptions> DlqSourceOptions(const DeadLetterLocation& where,
                                                         const DlqKafkaArgs& args);

// Opens `where`. Errors: kNotFound (no such file, no such topic),
// kInvalidArgument (a Kafka queue without brokers), kUnavailable.
absl::StatusOr<std::unique_ptr<DeadLetterSource>> OpenDeadLetterSource(
    const DeadLetterLocation& where, const DeadLetterSourceOptions& options);

// Bytes as JSON: a quoted, escaped string if `bytes` is valid UTF-8,
// otherwise nothing is appended and false is returned (the caller writes a
// base64 field instead). pipeline/json_quote.h's
// AppendJsonQuotedIfUtf8.
bool AppendJsonUtf8(std::string_view bytes, std::string& out);
// Bytes for a terminal: printable ASCII and valid UTF-8 as is, the rest as
// \xNN escapes, cut at `max_bytes` with "..." appended.
std::string PrintableBytes(std::string_view bytes, size_t max_bytes);

}  // namespace sluice::cli
