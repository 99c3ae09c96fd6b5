// File: connectors/file/file_sink.h
//
// FileSink (`type: file` as a sink) appends each event's value and a "\n" to
// a local file: newline-delimited JSON (NDJSON) when the values are JSON.
// The stage never touches the file itself: it hands each batch (its memory
// retained, no copy) and the batch's deferred acknowledgement to a writer
// thread (connectors/internal/batch_writer.h), which writes in arrival order
// and acknowledges an event only once its bytes are written, and synced if
// `fsync` says so. A failed write fails the events it held with kUnavailable
// (retried by policy, then dead-lettered) after cutting the partial write
// off the file; nothing is acknowledged unwritten.
//
//   - name: archive
//     type: file
//     subscribe: [parse]
//     path: out/orders.ndjson     # relative to the config file's directory
//     flush: interval             # every_batch (default) | interval
//     flush_interval: 200ms
//     fsync: every_flush          # never (default) | every_flush | interval
//
// Decisions:
//   - An event whose value holds a "\n" would become two lines: it fails
//     with kInvalidArgument (to the dead-letter queue) instead.
//   - `concurrency` must be 1: two instances cannot append to one file in
//     order. The file opens (created with its parent directories, appended
//     to if it exists) in Start(); a file that cannot be opened fails the
//     start, naming the path.
//   - Retried events are written when their retry comes, after events that
//     arrived meanwhile: order is arrival order at this sink.
//
// Thread-compatible, like every stage.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"

#include "connectors/internal/batch_writer.h"
#include "connectors/internal/posix_file.h"
#include "pipeline/stage.h"

namespace sluice::connectors {

struct FileSinkOptions {
  // The file, already resolved against the config's directory. REQUIRES: not
  // empty.
  std::string path;
  // When bytes go to the file. Defaults to every_batch.
  internal::FlushMode flush = internal::FlushMode::kEveryBatch;
  // flush: interval only: the longest an event waits in memory, and the
  // bytes or events that write sooner. Defaults to 1s, 1MiB and 5000; keep
  // flush_events below the stage's buffer_size (10000), which is all the
  // events a sink may hold unacknowledged.
  absl::Duration flush_interval = absl::Seconds(1);
  size_t flush_bytes = size_t{1} << 20;
  size_t flush_events = 5000;
  // When written bytes are synced to disk. Defaults to never (acknowledged
  // once written: survives a process crash, not a power cut).
  internal::FsyncMode fsync = internal::FsyncMode::kNever;
  // fsync: interval only. Defaults to 1s.
  absl::Duration fsync_interval = absl::Seconds(1);
};

class FileSink final : public Consumer {
 public:
  // `what` names the sink in errors: `file sink "archive"`.
  FileSink(FileSinkOptions options, std::string what);
  ~FileSink() override;

  static ConsumerFactory Factory(FileSinkOptions options);

  // Opens the file and starts the writer. Errors name the path.
  absl::Status Start(const StageContext& context) override;
  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override;
  absl::Status Flush() override;
  // Writes out what is held, then closes the file.
  void Stop() override;

 private:
  const FileSinkOptions options_;
  const std::string what_;
  internal::FileDescriptor fd_;
  std::unique_ptr<internal::BatchWriter> writer_;
};

}  // namespace sluice::connectors
