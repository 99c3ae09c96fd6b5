// File: pipeline/dead_letter_queue.h
//
// A DeadLetterQueue durably stores the events that failed for good (retries
// exhausted, a non-retryable error, or a crash of the stage that held them),
// so that an operator can inspect and replay them. An event is done (and its
// offset committable) only once its dead-letter record is stored: if the
// backend fails, the event stays in flight and is written again after a
// backoff, so nothing is lost while the backend is down.
//
// Backends: Kafka topic and local file (issue #6), and InMemoryDeadLetterQueue
// below for tests.
//
// Implementation rules:
//   - Write() must not block: hand I/O to your own thread and call `done`
//     from there. It may also call `done` before returning.
//   - Call `done` exactly once per Write(), from any thread.
//
// Thread-safe: Write() is called concurrently by every stage instance.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

#include "pipeline/event.h"
#include "pipeline/mutex.h"

namespace sluice {

// One failed event with why and where it failed. Owns copies of its bytes: it
// outlives the batch the event came in.
struct DeadLetter {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timestamp_us = 0;

  std::string pipeline;
  std::string stage;
  // The real error, e.g. `INVALID_ARGUMENT: field "amount": not a number` or
  // `crashed: INTERNAL: lookup table missing`.
  std::string error;
  absl::StatusCode code = absl::StatusCode::kUnknown;
  uint32_t attempts = 0;
  absl::Time failed_at;
  // The source stage the event entered through, and its coordinates there.
  std::string source;
  Origin origin;
  // The source's own name for origin.partition, if it gave one
  // (StageContext::NamePartition): a Kafka topic and partition. Empty and -1
  // otherwise.
  std::string source_topic;
  int32_t source_partition = -1;
  // The trace id of the event's W3C `traceparent` header (32 hex digits), ""
  // if it had none: the record's `sluice.dlq.trace_id` header.
  std::string trace_id;
};

// Records written together. Shared and immutable: a failed write is tried
// again with the same records, without copying them.
using DeadLetterBatch = std::shared_ptr<const std::vector<DeadLetter>>;

class DeadLetterQueue {
 public:
  using WriteDone = std::function<void(absl::Status)>;

  virtual ~DeadLetterQueue() = default;
  // Stores `records`, then calls `done` with OK, or with the error that kept
  // them from being stored (kUnavailable: the runtime writes them again).
  virtual void Write(DeadLetterBatch records, WriteDone done) = 0;
  // Where the records go, for summaries and logs: "file sluice-data/x/dead-letters.log",
  // "kafka topic orders.dlq". Never a secret.
  virtual std::string description() const { return "dead-letter queue"; }
};

// Keeps records in memory. For tests; `set_failure` makes writes fail, as a
// backend that is down would.
//
// Thread-safe.
class InMemoryDeadLetterQueue final : public DeadLetterQueue {
 public:
  void Write(DeadLetterBatch records, WriteDone done) override;
  std::string description() const override { return "memory"; }

  std::vector<DeadLetter> records() const;
  size_t size() const;
  // Writes fail with `status` until it is set back to OK.
  void set_failure(absl::Status status);
  // Write() calls that failed so far.
  size_t failed_writes() const;

 private:
  mutable Mutex mu_;
  std::vector<DeadLetter> records_ ABSL_GUARDED_BY(mu_);
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  size_t failed_writes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sluice
