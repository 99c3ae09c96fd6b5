// File: connectors/file/file_source.h
//
// FileSource (`type: file` as a source) reads a local file of
// newline-delimited records (NDJSON) and emits one event per line: the value
// is the line without its "\n" (and without a "\r" before it), the key is
// empty, the timestamp is when the line was emitted, and the origin is
// partition 0 with offset = the line's number, counting from 1, so that an
// error or a dead letter names the line (origin offset 7 = line 7). Empty
// lines are skipped (their numbers are not reused). A last line without a
// final "\n" is emitted too. The source finishes at the end of the file,
// unless `follow: true`, where it waits for more lines (as `tail -f`; it
// does not notice rotation or truncation).
//
//   - name: orders
//     type: file
//     path: data/orders.ndjson    # relative to the config file's directory
//
// Reading blocks, so it happens on a thread of the source's own: it reads the
// file in 256 KiB blocks, splits them into lines and hands the blocks over
// through a bounded queue (4 blocks), waking the stage (StageContext::Wake).
// HandleDemand() only takes lines from handed-over blocks, which the emitted
// batches retain: no line is copied. A missing or unreadable file fails
// Start(), naming the path. A read error, or a line longer than
// `max_line_bytes`, crashes the instance with a status naming the file and
// line; the supervisor restarts it.
//
// A restarted instance goes on after the last line its predecessor emitted
// (the factory keeps that position, as the broker keeps a Kafka source's):
// emitted events are still in flight in the pipeline, not lost, and none is
// emitted twice.
//
// `concurrency` must be 1: one reader per file.
//
// Thread-compatible, like every stage; the reader thread shares only the
// block queue, under a lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "connectors/internal/posix_file.h"
#include "pipeline/mutex.h"
#include "pipeline/stage.h"

namespace sluice::connectors {

struct FileSourceOptions {
  // The file, already resolved against the config's directory. REQUIRES: not
  // empty.
  std::string path;
  // Keep reading as the file grows, never finishing. Defaults to false.
  bool follow = false;
  // follow only: how often to look for new lines at the end of the file.
  // Defaults to 250ms.
  absl::Duration poll_interval = absl::Milliseconds(250);
  // The longest line accepted. Defaults to 16 MiB.
  size_t max_line_bytes = size_t{16} << 20;
};

// Where a file source stands, kept by its factory across restarts.
struct FileSourcePosition {
  Mutex mu;
  // The number of the next line to emit, and the file offset it starts at.
  int64_t next_line ABSL_GUARDED_BY(mu) = 1;
  uint64_t next_byte ABSL_GUARDED_BY(mu) = 0;
};

class FileSource final : public Producer {
 public:
  // `what` names the source in errors: `file source "orders"`. `position`
  // may be null (always start at the top).
  FileSource(FileSourceOptions options, std::string what,
             std::shared_ptr<FileSourcePosition> position);
  ~FileSource() override;

  static ProducerFactory Factory(FileSourceOptions options);

  // Opens the file (errors name the path) and starts the reader thread.
  absl::Status Start(const StageContext& context) override;
  absl::Status HandleDemand(size_t demand, ProducerOutput& out) override;
  // Stops and joins the reader thread.
  void Stop() override;

 private:
  struct Line {
    size_t start = 0;  // in the block's bytes
    size_t size = 0;   // without "\r\n"
    size_t end = 0;    // just after the line's "\n"
    int64_t number = 0;
  };
  // A run of whole lines read from the file, and the bytes they view.
  struct LineBlock {
    std::shared_ptr<const std::string> bytes;
    uint64_t file_offset = 0;  // of bytes[0]
    std::vector<Line> lines;
  };

  static constexpr size_t kReadBytes = 256 * 1024;
  static constexpr size_t kMaxQueuedBlocks = 4;

  void ReadLoop(int64_t first_line, uint64_t first_byte);
  // Splits the first `length` bytes of `bytes` (read from `file_offset`)
  // into lines numbered from `next_line`, which it advances; the last line
  // may lack its "\n" (the end of the file). Errors: a line longer than
  // max_line_bytes.
  absl::StatusOr<LineBlock> SplitLines(std::shared_ptr<std::string> bytes, uint64_t file_offset,
                                       size_t length, int64_t& next_line) const;
  // Queues `block` (if it has lines) and wakes the stage.
  void Deliver(LineBlock block);
  void ReaderFinished(absl::Status status);

  const FileSourceOptions options_;
  const std::string what_;
  const std::shared_ptr<FileSourcePosition> position_;
  const StageContext* context_ = nullptr;  // from Start(); outlives this
  internal::FileDescriptor fd_;

  Mutex mu_;
  CondVar cv_;
  std::deque<LineBlock> blocks_ ABSL_GUARDED_BY(mu_);
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;  // end of file (not follow), or an error
  absl::Status reader_status_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;

  // The stage's own: the block being emitted from.
  LineBlock current_;
  size_t current_index_ = 0;
};

}  // namespace sluice::connectors
