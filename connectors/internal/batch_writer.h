// File: connectors/internal/batch_writer.h
//
// A BatchWriter is the I/O thread behind a sink that writes bytes to a file
// descriptor (the file sink, the stdout sink). The sink's HandleEvents()
// hands it a batch (retaining the input's memory, no payload copy) and the
// batch's deferred acknowledgements, and returns at once; the writer thread
// formats the events, writes them in arrival order, syncs them if the policy
// says so, and only then acknowledges them. A failed write or sync fails the
// events it held (kUnavailable), so they are retried and then dead-lettered,
// never silently lost.
//
//   BatchWriter writer(fd, {.what = "file sink \"out\"", .path = path}, FormatValueLines);
//   // in HandleEvents():
//   writer.Submit(RetainEvents(batch), acks.Defer());
//   // in Flush(): writer.FlushSoon();   in Stop(): writer.Stop();
//
// Flushing (writing the formatted bytes to the descriptor):
//   - kEveryBatch: every batch is written as soon as the thread takes it
//     (batches that queued up meanwhile are written together);
//   - kInterval: bytes accumulate in memory and are written every
//     `flush_interval`, or sooner once `flush_bytes` bytes or `flush_events`
//     events are held, and on FlushSoon() and Stop().
// Syncing (fdatasync): kNever; kEveryFlush (acknowledged after the sync);
// kInterval (acknowledged after the write, synced every `fsync_interval`).
//
// Memory: what waits here is bounded by the runtime, which stops handing a
// sink input once `buffer_size` of its events are unacknowledged.
//
// Thread-safe: Submit(), FlushSoon() and Stop() may be called from any
// thread; one stage instance calls them one at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

#include "pipeline/event_batch.h"
#include "pipeline/mutex.h"
#include "pipeline/stage.h"

namespace sluice::connectors::internal {

enum class FlushMode { kEveryBatch, kInterval };
enum class FsyncMode { kNever, kEveryFlush, kInterval };

struct BatchWriterOptions {
  // Names the sink in errors and logs: `file sink "out"`.
  std::string what;
  // The destination in error messages: a path, or "<stdout>".
  std::string path;
  // Defaults to kEveryBatch.
  FlushMode flush = FlushMode::kEveryBatch;
  // kInterval only: the longest bytes wait in memory, and the size or event
  // count that writes them sooner. Defaults to 1s, 1 MiB and 5000 events.
  absl::Duration flush_interval = absl::Seconds(1);
  size_t flush_bytes = size_t{1} << 20;
  size_t flush_events = 5000;
  // Defaults to kNever.
  FsyncMode fsync = FsyncMode::kNever;
  // kInterval only. Defaults to 1s.
  absl::Duration fsync_interval = absl::Seconds(1);
  // After a failed write, cut the file back to its size before the write, so
  // the retried events do not follow half a line. Regular files only.
  bool truncate_on_error = false;
};

// Appends the bytes that represent `events` to `out`.
using BatchFormatter = std::function<void(const EventBatch& events, std::string& out)>;

// A batch holding views of `input`'s events and keeping all its memory alive
// (no payload copy), to be read on another thread.
EventBatch RetainEvents(const EventBatch& input);

class BatchWriter {
 public:
  // Starts the thread. `fd` must stay open until Stop() returns. `fd_mu`,
  // if not null, is held around each write (writers sharing one descriptor,
  // as stdout, so their lines do not interleave) and must outlive this.
  BatchWriter(int fd, BatchWriterOptions options, BatchFormatter formatter, Mutex* fd_mu = nullptr);
  // Stop().
  ~BatchWriter();
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  // Queues `events` with the acknowledgement that completes them. Never
  // blocks beyond a short lock. REQUIRES: Stop() has not been called.
  void Submit(EventBatch events, PendingAcks acks);
  // Asks the thread to write out (and sync, by policy) all it holds now,
  // whatever the flush policy: the sink's Flush(). Does not wait.
  void FlushSoon();
  // Writes out everything submitted, completes its acknowledgements, syncs
  // unless the policy is kNever, and joins the thread. Idempotent.
  void Stop();

  // Flushes that wrote bytes, and syncs done; for tests.
  uint64_t flushes() const;
  uint64_t syncs() const;

 private:
  struct Job {
    EventBatch events;
    PendingAcks acks;
  };

  void Run();
  // Writes `buffer_` and completes `held_`.
  void WriteHeld();
  void Sync();
  absl::Time NextDeadline() const;

  const int fd_;
  const BatchWriterOptions options_;
  const BatchFormatter formatter_;
  Mutex* const fd_mu_;

  mutable Mutex mu_;
  CondVar cv_;
  std::vector<Job> jobs_ ABSL_GUARDED_BY(mu_);
  bool flush_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t flushes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;

  // The writer thread's own state.
  std::string buffer_;
  std::vector<PendingAcks> held_;
  size_t held_events_ = 0;
  absl::Time flush_due_ = absl::InfiniteFuture();  // kInterval: when held bytes must go
  absl::Time sync_due_ = absl::InfiniteFuture();   // fsync kInterval: when written bytes sync

  std::thread thread_;
};

}  // namespace sluice::connectors::internal
