#include "connectors/file/file_source.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include <unistd.h>

#include "pipeline/clock.h"
#include "pipeline/config/stage_registry.h"
#include "pipeline/string_view_compat.h"

namespace sluice::connectors {

FileSource::FileSource(FileSourceOptions options, std::string what,
                       std::shared_ptr<FileSourcePosition> position)
    : options_(std::move(options)), what_(std::move(what)), position_(std::move(position)) {}

FileSource::~FileSource() { Stop(); }

ProducerFactory FileSource::Factory(FileSourceOptions options) {
  auto position = std::make_shared<FileSourcePosition>();
  return [options = std::move(options),
          position](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Producer>> {
    return std::make_unique<FileSource>(
        options, absl::StrCat("file source \"", Av(context.stage_name()), "\""), position);
  };
}

absl::Status FileSource::Start(const StageContext& context) {
  context_ = &context;
  absl::StatusOr<internal::FileDescriptor> fd = internal::OpenForRead(options_.path);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(), absl::StrCat(what_, ": ", fd.status().message()));
  }
  fd_ = std::move(*fd);
  int64_t first_line = 1;
  uint64_t first_byte = 0;
  if (position_ != nullptr) {
    MutexLock lock(&position_->mu);
    first_line = position_->next_line;
    first_byte = position_->next_byte;
  }
  if (first_byte > 0 && ::lseek(fd_.get(), static_cast<off_t>(first_byte), SEEK_SET) < 0) {
    return internal::ErrnoError(errno, absl::StrCat(what_, ": seek"), options_.path);
  }
  reader_ = std::thread([this, first_line, first_byte] { ReadLoop(first_line, first_byte); });
  return absl::OkStatus();
}

void FileSource::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (reader_.joinable()) reader_.join();
  fd_.Close();
}

absl::Status FileSource::HandleDemand(size_t demand, ProducerOutput& out) {
  EventBatch& batch = out.batch();
  const int64_t now_us = absl::ToUnixMicros(context_->clock().Now());
  size_t emitted = 0;
  bool retained = false;
  bool finished = false;
  absl::Status failure;
  while (emitted < demand) {
    if (current_index_ >= current_.lines.size()) {
      MutexLock lock(&mu_);
      if (blocks_.empty()) {
        if (reader_done_) {
          if (reader_status_.ok()) {
            finished = true;
          } else {
            failure = absl::Status(reader_status_.code(), reader_status_.message());
          }
        }
        break;
      }
      current_ = std::move(blocks_.front());
      blocks_.pop_front();
      current_index_ = 0;
      retained = false;
      cv_.notify_all();  // the reader may go on
    }
    if (!retained) {
      batch.Retain(current_.bytes);
      retained = true;
    }
    const size_t take = std::min(demand - emitted, current_.lines.size() - current_index_);
    batch.reserve(batch.size() + take);
    const char* bytes = current_.bytes->data();
    for (size_t i = current_index_; i < current_index_ + take; ++i) {
      const Line& line = current_.lines[i];
      EventFields fields;
      fields.value = std::string_view(bytes + line.start, line.size);
      fields.timestamp_us = now_us;
      fields.origin.partition = Partition(0);
      fields.origin.offset = Offset(line.number);
      batch.AppendView(fields);
    }
    current_index_ += take;
    emitted += take;
    if (position_ != nullptr) {
      const Line& last = current_.lines[current_index_ - 1];
      MutexLock lock(&position_->mu);
      position_->next_line = last.number + 1;
      position_->next_byte = current_.file_offset + last.end;
    }
  }
  // A read error crashes the instance, but only after the lines read before
  // it went out (their position is kept, so the restart reads on from there).
  if (!failure.ok() && emitted == 0) return failure;
  if (finished) out.Finish();
  return absl::OkStatus();
}

absl::StatusOr<FileSource::LineBlock> FileSource::SplitLines(std::shared_ptr<std::string> bytes,
                                                             uint64_t file_offset, size_t length,
                                                             int64_t& next_line) const {
  LineBlock block;
  block.file_offset = file_offset;
  const char* data = bytes->data();
  size_t start = 0;
  while (start < length) {
    const void* newline = std::memchr(data + start, '\n', length - start);
    const size_t end =
        newline != nullptr ? static_cast<size_t>(static_cast<const char*>(newline) - data) : length;
    size_t size = end - start;
    if (size > 0 && data[start + size - 1] == '\r') --size;
    const int64_t number = next_line++;
    if (size > options_.max_line_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(what_, ": ", options_.path, ":", number, ": line of ", size,
                       " bytes exceeds max_line_bytes (", options_.max_line_bytes, ")"));
    }
    const size_t after = std::min(length, end + 1);
    if (size > 0) block.lines.push_back({start, size, after, number});
    start = after;
  }
  block.bytes = std::move(bytes);
  return block;
}

void FileSource::Deliver(LineBlock block) {
  if (block.lines.empty()) return;
  {
    MutexLock lock(&mu_);
    blocks_.push_back(std::move(block));
  }
  context_->Wake();
}

void FileSource::ReaderFinished(absl::Status status) {
  {
    MutexLock lock(&mu_);
    reader_done_ = true;
    reader_status_ = std::move(status);
  }
  context_->Wake();
}

void FileSource::ReadLoop(int64_t next_line, uint64_t offset) {
  // `pending` holds the bytes read from `offset` on that are not in a block
  // yet: at most one incomplete line, then what the last read added.
  auto pending = std::make_shared<std::string>();
  for (;;) {
    {
      std::unique_lock<Mutex> lock(mu_);
      cv_.wait(lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_ || blocks_.size() < kMaxQueuedBlocks;
      });
      if (stop_) return;
    }
    const size_t old_size = pending->size();
    pending->resize(old_size + kReadBytes);
    ssize_t got;
    do {
      got = ::read(fd_.get(), pending->data() + old_size, kReadBytes);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      const int error = errno;
      ReaderFinished(internal::ErrnoError(error, absl::StrCat(what_, ": read"), options_.path,
                                          absl::StatusCode::kUnavailable));
      return;
    }
    pending->resize(old_size + static_cast<size_t>(got));

    if (got == 0) {
      if (options_.follow) {
        // Wait for the file to grow; the incomplete line stays pending.
        std::unique_lock<Mutex> lock(mu_);
        cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.poll_interval),
                     [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_; });
        if (stop_) return;
        continue;
      }
      // The end: what is pending is the last line, without a final "\n".
      absl::StatusOr<LineBlock> block = SplitLines(pending, offset, pending->size(), next_line);
      if (!block.ok()) {
        ReaderFinished(block.status());
        return;
      }
      Deliver(std::move(*block));
      ReaderFinished(absl::OkStatus());
      return;
    }

    const void* last_newline = memrchr(pending->data() + old_size, '\n', static_cast<size_t>(got));
    if (last_newline == nullptr) {
      // Still inside one line: keep reading into the same buffer.
      if (pending->size() > options_.max_line_bytes + 1) {
        ReaderFinished(absl::InvalidArgumentError(
            absl::StrCat(what_, ": ", options_.path, ":", next_line,
                         ": line exceeds max_line_bytes (", options_.max_line_bytes, ")")));
        return;
      }
      continue;
    }
    const size_t complete =
        static_cast<size_t>(static_cast<const char*>(last_newline) - pending->data()) + 1;
    auto next_pending = std::make_shared<std::string>();
    next_pending->reserve(kReadBytes);
    next_pending->assign(pending->data() + complete, pending->size() - complete);
    absl::StatusOr<LineBlock> block = SplitLines(std::move(pending), offset, complete, next_line);
    if (!block.ok()) {
      ReaderFinished(block.status());
      return;
    }
    Deliver(std::move(*block));
    offset += complete;
    pending = std::move(next_pending);
  }
}

// ---------------------------------------------------------------------------
// Registration: `type: file` as a source

namespace {

ProducerFactory MakeFileSource(StageTypeContext& context) {
  OptionReader& options = context.options;
  FileSourceOptions source;
  std::optional<std::string> path = options.String("path");
  if (!path.has_value() && !options.failed()) {
    options.Error("path", "is required");
  } else if (path.has_value() && path->empty()) {
    options.Error("path", "must not be empty");
  } else if (path.has_value()) {
    source.path = internal::ResolvePath(*path, context.config_dir);
  }
  source.follow = options.Bool("follow").value_or(false);
  source.poll_interval =
      options.Duration("poll_interval", absl::Milliseconds(1)).value_or(source.poll_interval);
  if (std::optional<uint64_t> bytes = options.Bytes("max_line_bytes")) {
    if (*bytes == 0 || *bytes > (uint64_t{1} << 30)) {
      options.Error("max_line_bytes", "must be between 1 and 1GiB");
    } else {
      source.max_line_bytes = *bytes;
    }
  }
  context.RequireSingleInstance("a file source reads one file in order");
  if (options.failed()) return nullptr;
  return FileSource::Factory(std::move(source));
}

}  // namespace

SLUICE_REGISTER_PRODUCER("file", MakeFileSource);

}  // namespace sluice::connectors
