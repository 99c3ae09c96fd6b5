#include "connectors/internal/batch_writer.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

#include "connectors/internal/posix_file.h"

namespace sluice::connectors::internal {

EventBatch RetainEvents(const EventBatch& input) {
  EventBatch events;
  events.RetainMemoryOf(input);
  events.reserve(input.size());
  for (const Event& event : input) events.AppendView(event);
  return events;
}

BatchWriter::BatchWriter(int fd, BatchWriterOptions options, BatchFormatter formatter, Mutex* fd_mu)
    : fd_(fd), options_(std::move(options)), formatter_(std::move(formatter)), fd_mu_(fd_mu) {
  thread_ = std::thread([this] { Run(); });
}

BatchWriter::~BatchWriter() { Stop(); }

void BatchWriter::Submit(EventBatch events, PendingAcks acks) {
  MutexLock lock(&mu_);
  assert(!stop_ && "Submit() after Stop()");
  jobs_.push_back({std::move(events), std::move(acks)});
  cv_.notify_one();
}

void BatchWriter::FlushSoon() {
  MutexLock lock(&mu_);
  flush_requested_ = true;
  cv_.notify_one();
}

void BatchWriter::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t BatchWriter::flushes() const {
  MutexLock lock(&mu_);
  return flushes_;
}

uint64_t BatchWriter::syncs() const {
  MutexLock lock(&mu_);
  return syncs_;
}

absl::Time BatchWriter::NextDeadline() const { return std::min(flush_due_, sync_due_); }

void BatchWriter::Run() {
  std::vector<Job> jobs;
  for (;;) {
    bool stopping = false;
    bool flush_requested = false;
    {
      std::unique_lock<Mutex> lock(mu_);
      const absl::Time deadline = NextDeadline();
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !jobs_.empty() || stop_ || flush_requested_;
      };
      if (deadline == absl::InfiniteFuture()) {
        cv_.wait(lock, ready);
      } else {
        cv_.wait_until(lock, absl::ToChronoTime(deadline), ready);
      }
      jobs.swap(jobs_);
      stopping = stop_;
      flush_requested = flush_requested_;
      flush_requested_ = false;
    }

    const absl::Time now = absl::Now();
    for (Job& job : jobs) {
      formatter_(job.events, buffer_);
      held_events_ += job.events.size();
      held_.push_back(std::move(job.acks));
    }
    // The formatted bytes are ours now: let the input batches' memory go.
    jobs.clear();

    if (!held_.empty() || !buffer_.empty()) {
      bool write_now = true;
      if (options_.flush == FlushMode::kInterval && !flush_requested && !stopping) {
        if (flush_due_ == absl::InfiniteFuture()) flush_due_ = now + options_.flush_interval;
        write_now = now >= flush_due_ || buffer_.size() >= options_.flush_bytes ||
                    held_events_ >= options_.flush_events;
      }
      if (write_now) WriteHeld();
    }
    if (sync_due_ != absl::InfiniteFuture() && (absl::Now() >= sync_due_ || stopping)) Sync();
    if (stopping) {
      MutexLock lock(&mu_);
      if (jobs_.empty()) return;
    }
  }
}

void BatchWriter::WriteHeld() {
  flush_due_ = absl::InfiniteFuture();
  absl::Status status;
  if (!buffer_.empty()) {
    std::unique_lock<Mutex> fd_lock;
    if (fd_mu_ != nullptr) fd_lock = std::unique_lock<Mutex>(*fd_mu_);
    std::optional<uint64_t> size_before;
    if (options_.truncate_on_error) {
      absl::StatusOr<uint64_t> size = FileSize(fd_, options_.path);
      if (size.ok()) size_before = *size;
    }
    status = WriteAll(fd_, buffer_, options_.path);
    if (!status.ok() && size_before.has_value()) {
      if (absl::Status undone = Truncate(fd_, *size_before, options_.path); !undone.ok()) {
        spdlog::error("{}: could not undo a partial write: {}", options_.what, undone.ToString());
      }
    }
    if (status.ok() && options_.fsync == FsyncMode::kEveryFlush) {
      status = SyncData(fd_, options_.path);
      if (status.ok()) {
        MutexLock lock(&mu_);
        ++syncs_;
      }
    }
    if (status.ok()) {
      MutexLock lock(&mu_);
      ++flushes_;
    }
  }
  if (status.ok()) {
    if (options_.fsync == FsyncMode::kInterval && !buffer_.empty() &&
        sync_due_ == absl::InfiniteFuture()) {
      sync_due_ = absl::Now() + options_.fsync_interval;
    }
    for (PendingAcks& acks : held_) acks.Ack();
  } else {
    spdlog::warn("{}: {}; failing {} events for retry", options_.what, status.ToString(),
                 held_events_);
    for (PendingAcks& acks : held_) acks.Fail(absl::Status(status.code(), status.message()));
  }
  held_.clear();
  held_events_ = 0;
  buffer_.clear();
}

void BatchWriter::Sync() {
  sync_due_ = absl::InfiniteFuture();
  if (absl::Status status = SyncData(fd_, options_.path); !status.ok()) {
    // The events were acknowledged at write time (fsync: interval): a failed
    // sync can only be reported.
    spdlog::error("{}: {}", options_.what, status.ToString());
    return;
  }
  MutexLock lock(&mu_);
  ++syncs_;
}

}  // namespace sluice::connectors::internal
