// File: connectors/file/dead_letter_file.h
//
// The local-file dead-letter backend (`dead_letter: {type: file}`): an
// append-only file of checksummed, length-prefixed records, one per failed
// event, and the reader that `sluice dlq inspect|replay` and tests use to
// read it back. The format is specified in docs/dead-letter-file-format.md;
// in short, each record is
//
//   magic "\xF5DLQ" | u32 payload length | u32 XXH32(length bytes + payload) | payload
//
// and the payload is a DeadLetterRecord: the failed event's key, value,
// headers and timestamp, with the `sluice.dlq.*` headers of DESIGN.md
// ("Dead letters") appended. A record cut short by a crash (a torn tail) or
// damaged on disk (bad checksum) is detected by the reader, reported in its
// stats and skipped; the reader never crashes on a bad file.
//
//   auto queue = std::make_shared<DeadLetterFileQueue>(
//       DeadLetterFileOptions{.path = "/var/lib/sluice/dead-letters.log"});
//   ...
//   SLUICE_ASSIGN_OR_RETURN(DeadLetterFileContents contents,
//                           ReadDeadLetterFile("/var/lib/sluice/dead-letters.log"));
//   for (const DeadLetterFileEntry& entry : contents.entries) { ... }
//   if (contents.stats.torn_tail_bytes > 0) { ... }
//
// Thread safety: DeadLetterFileQueue is thread-safe (Write() is called by
// every stage instance). A DeadLetterFileReader is thread-compatible. The
// free functions keep no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "connectors/internal/posix_file.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/mutex.h"

namespace sluice::connectors {

// The headers a dead-letter record adds to the failed event's own (DESIGN.md
// "Dead letters"). `error_code` is the absl::StatusCode name of the failure
// ("INVALID_ARGUMENT"); `source.stage` names the source stage the event came
// through; `source.topic` is written only by sources that have topics and is
// read back when present.
inline constexpr std::string_view kDlqHeaderPrefix = "sluice.dlq.";
inline constexpr std::string_view kDlqPipelineHeader = "sluice.dlq.pipeline";
inline constexpr std::string_view kDlqStageHeader = "sluice.dlq.stage";
inline constexpr std::string_view kDlqErrorHeader = "sluice.dlq.error";
inline constexpr std::string_view kDlqErrorCodeHeader = "sluice.dlq.error_code";
inline constexpr std::string_view kDlqAttemptsHeader = "sluice.dlq.attempts";
inline constexpr std::string_view kDlqFailedAtHeader = "sluice.dlq.failed_at";
inline constexpr std::string_view kDlqSourceStageHeader = "sluice.dlq.source.stage";
inline constexpr std::string_view kDlqSourceTopicHeader = "sluice.dlq.source.topic";
inline constexpr std::string_view kDlqSourcePartitionHeader = "sluice.dlq.source.partition";
inline constexpr std::string_view kDlqSourceOffsetHeader = "sluice.dlq.source.offset";
inline constexpr std::string_view kDlqReplayCountHeader = "sluice.dlq.replay_count";

// A dead-letter record as stored (and as `dlq replay` re-publishes it): the
// failed event's key, value and timestamp; its own headers, then the
// `sluice.dlq.*` ones.
struct DeadLetterRecord {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timestamp_us = 0;

  friend bool operator==(const DeadLetterRecord&, const DeadLetterRecord&) = default;
};

// The record for `letter`. The event's own `sluice.dlq.*` headers (left by
// an earlier dead-lettering of a replayed event) are replaced by fresh ones,
// except that `sluice.dlq.replay_count` keeps the event's value (`dlq
// replay` sets it when it re-publishes; 0 when absent).
DeadLetterRecord MakeDeadLetterRecord(const DeadLetter& letter);

// What a record says, split back into fields: `letter.headers` holds the
// event's own headers only.
struct ParsedDeadLetter {
  DeadLetter letter;
  uint32_t replay_count = 0;
};

// The inverse of MakeDeadLetterRecord(). Missing metadata headers leave
// their fields at the defaults. Errors: kDataLoss when a metadata header
// holds what it cannot (a partition that is not a number).
absl::StatusOr<ParsedDeadLetter> ParseDeadLetterRecord(const DeadLetterRecord& record);

// The file format's framing, exposed for tests and tools.
inline constexpr std::string_view kDeadLetterFrameMagic =
    "\xF5"
    "DLQ";
inline constexpr size_t kDeadLetterFrameHeaderBytes = 12;
// Payloads longer than this are refused on write and treated as corruption
// on read.
inline constexpr uint32_t kMaxDeadLetterPayloadBytes = uint32_t{1} << 30;
inline constexpr uint8_t kDeadLetterPayloadVersion = 1;

// Appends `record` as one framed record to `out`. Errors: kInvalidArgument if
// the payload would exceed kMaxDeadLetterPayloadBytes.
absl::Status AppendDeadLetterFrame(const DeadLetterRecord& record, std::string& out);
// Decodes a (checksum-verified) payload. Errors: kDataLoss for a payload
// that is not a version-1 record.
absl::StatusOr<DeadLetterRecord> DecodeDeadLetterPayload(std::string_view payload);

enum class DeadLetterFsync {
  kNever,       // acknowledged once written: survives a process crash, not a power cut
  kEveryWrite,  // acknowledged once written and fdatasync'ed
};

struct DeadLetterFileOptions {
  // The file; created (with missing parent directories) on the first write.
  // REQUIRES: not empty.
  std::string path;
  // Defaults to kEveryWrite: a dead letter is the last copy of an event.
  DeadLetterFsync fsync = DeadLetterFsync::kEveryWrite;
};

// Appends dead-letter records to a local file on a thread of its own. Each
// Write() is queued and returns at once; the thread takes every write queued
// so far, appends their records in one write(2), syncs once (group commit),
// then calls each `done` with OK. If the file cannot be opened, written or
// synced, each of those `done` gets kUnavailable (the runtime writes the
// records again after a backoff) and a partial write is cut off the file.
// The destructor finishes every queued write, then joins the thread.
class DeadLetterFileQueue final : public DeadLetterQueue {
 public:
  explicit DeadLetterFileQueue(DeadLetterFileOptions options);
  ~DeadLetterFileQueue() override;

  void Write(DeadLetterBatch records, WriteDone done) override;
  std::string description() const override { return "file " + options_.path; }

  const std::string& path() const { return options_.path; }

 private:
  struct PendingWrite {
    DeadLetterBatch records;
    WriteDone done;
  };

  void Run();
  absl::Status Append(const std::vector<PendingWrite>& writes);

  const DeadLetterFileOptions options_;

  Mutex mu_;
  CondVar cv_;
  std::vector<PendingWrite> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;

  // The writer thread's own.
  internal::FileDescriptor fd_;
  std::string buffer_;
};

// One good record and where it starts in the file.
struct DeadLetterFileEntry {
  uint64_t position = 0;
  DeadLetterRecord record;
};

// What a read found besides good records.
struct DeadLetterFileStats {
  // Good records returned.
  uint64_t records = 0;
  // Damaged regions skipped (runs of bytes between good records that hold
  // no intact record: a bad magic, length or checksum, or a payload that
  // does not decode), and their bytes.
  uint64_t corrupt_regions = 0;
  uint64_t skipped_bytes = 0;
  // Bytes at the end that do not make a whole record: a write cut short by a
  // crash, or one still in progress. Not consumed: position() stays before
  // them.
  uint64_t torn_tail_bytes = 0;
};

// Reads a dead-letter file front to back, skipping what is damaged: after a
// bad record it looks for the next magic and goes on from there. It reads
// the file as it is when it reaches the end: to read what was appended
// since, open a new reader at position().
class DeadLetterFileReader {
 public:
  // Opens `path` and starts at `start_position` (0, or a position() from an
  // earlier read, to resume). Errors: kNotFound, kPermissionDenied, ...
  static absl::StatusOr<std::unique_ptr<DeadLetterFileReader>> Open(const std::string& path,
                                                                    uint64_t start_position = 0);

  // Reads the next good record into `entry`: true, or false at the end of
  // the file (check stats() for a torn tail). Errors: only I/O errors
  // (kUnavailable); damage is skipped and counted, never an error.
  absl::StatusOr<bool> Next(DeadLetterFileEntry& entry);

  const DeadLetterFileStats& stats() const { return stats_; }
  // The file position after the last good record or skipped region: where
  // a resumed read starts, and where a torn tail begins.
  uint64_t position() const { return position_; }

 private:
  DeadLetterFileReader(internal::FileDescriptor fd, std::string path, uint64_t position);

  // Reads until `bytes` are available or the file ends.
  absl::Status Fill(size_t bytes);
  size_t available() const { return buffer_.size() - start_; }
  const char* data() const { return buffer_.data() + start_; }
  void Consume(size_t bytes);
  // Skips the damaged bytes at position(): up to the next magic, or to the
  // end of the file.
  absl::Status Resync();
  // True if an intact record starts somewhere after the first byte of what
  // is buffered. REQUIRES: the file was read to its end.
  bool HasFrameAfterStart() const;

  internal::FileDescriptor fd_;
  std::string path_;
  std::string buffer_;
  size_t start_ = 0;  // first unconsumed byte of buffer_
  uint64_t position_ = 0;
  bool eof_ = false;
  bool in_corrupt_region_ = false;
  DeadLetterFileStats stats_;
};

struct DeadLetterFileContents {
  std::vector<DeadLetterFileEntry> entries;
  DeadLetterFileStats stats;
};

// Reads a whole dead-letter file.
absl::StatusOr<DeadLetterFileContents> ReadDeadLetterFile(const std::string& path);

}  // namespace sluice::connectors
