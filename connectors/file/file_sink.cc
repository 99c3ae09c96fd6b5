#include "connectors/file/file_sink.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/string_view_compat.h"

namespace sluice::connectors {

FileSink::FileSink(FileSinkOptions options, std::string what)
    : options_(std::move(options)), what_(std::move(what)) {}

FileSink::~FileSink() { Stop(); }

ConsumerFactory FileSink::Factory(FileSinkOptions options) {
  return [options](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<FileSink>(options,
                                      absl::StrCat("file sink \"", Av(context.stage_name()), "\""));
  };
}

absl::Status FileSink::Start(const StageContext& context) {
  (void)context;
  absl::StatusOr<internal::FileDescriptor> fd = internal::OpenForAppend(options_.path);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(), absl::StrCat(what_, ": ", fd.status().message()));
  }
  fd_ = std::move(*fd);
  internal::BatchWriterOptions writer;
  writer.what = what_;
  writer.path = options_.path;
  writer.flush = options_.flush;
  writer.flush_interval = options_.flush_interval;
  writer.flush_bytes = options_.flush_bytes;
  writer.flush_events = options_.flush_events;
  writer.fsync = options_.fsync;
  writer.fsync_interval = options_.fsync_interval;
  writer.truncate_on_error = true;
  writer_ = std::make_unique<internal::BatchWriter>(
      fd_.get(), std::move(writer), [](const EventBatch& events, std::string& out) {
        for (const Event& event : events) {
          out.append(event.value().data(), event.value().size());
          out.push_back('\n');
        }
      });
  return absl::OkStatus();
}

absl::Status FileSink::HandleEvents(const EventBatch& batch, ConsumerAcks& acks) {
  // One event per line: a value with a newline in it cannot be written.
  std::vector<size_t> rejected;
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::string_view value = batch[i].value();
    if (std::memchr(value.data(), '\n', value.size()) != nullptr) rejected.push_back(i);
  }
  if (rejected.empty()) {
    writer_->Submit(internal::RetainEvents(batch), acks.Defer());
    return absl::OkStatus();
  }
  EventBatch events;
  events.RetainMemoryOf(batch);
  size_t next_rejected = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (next_rejected < rejected.size() && rejected[next_rejected] == i) {
      ++next_rejected;
      acks.Fail(batch[i], absl::InvalidArgumentError(absl::StrCat(
                              what_, ": the value holds a newline; NDJSON takes one per line")));
    } else {
      events.AppendView(batch[i]);
    }
  }
  if (!events.empty()) writer_->Submit(std::move(events), acks.Defer());
  return absl::OkStatus();
}

absl::Status FileSink::Flush() {
  if (writer_ != nullptr) writer_->FlushSoon();
  return absl::OkStatus();
}

void FileSink::Stop() {
  if (writer_ != nullptr) writer_->Stop();
  writer_.reset();
  fd_.Close();
}

// ---------------------------------------------------------------------------
// Registration: `type: file` as a sink

namespace {

ConsumerFactory MakeFileSink(StageTypeContext& context) {
  OptionReader& options = context.options;
  FileSinkOptions sink;
  std::optional<std::string> path = options.String("path");
  if (!path.has_value() && !options.failed()) {
    options.Error("path", "is required");
  } else if (path.has_value() && path->empty()) {
    options.Error("path", "must not be empty");
  } else if (path.has_value()) {
    sink.path = internal::ResolvePath(*path, context.config_dir);
  }
  if (auto flush = options.Enum<internal::FlushMode>(
          "flush", {{"every_batch", internal::FlushMode::kEveryBatch},
                    {"interval", internal::FlushMode::kInterval}})) {
    sink.flush = *flush;
  }
  sink.flush_interval =
      options.Duration("flush_interval", absl::Milliseconds(1)).value_or(sink.flush_interval);
  if (std::optional<uint64_t> bytes = options.Bytes("flush_bytes")) {
    if (*bytes == 0) {
      options.Error("flush_bytes", "must be at least 1");
    } else {
      sink.flush_bytes = *bytes;
    }
  }
  sink.flush_events = static_cast<size_t>(
      options.Int("flush_events", 1).value_or(static_cast<int64_t>(sink.flush_events)));
  if (auto fsync = options.Enum<internal::FsyncMode>(
          "fsync", {{"never", internal::FsyncMode::kNever},
                    {"every_flush", internal::FsyncMode::kEveryFlush},
                    {"interval", internal::FsyncMode::kInterval}})) {
    sink.fsync = *fsync;
  }
  sink.fsync_interval =
      options.Duration("fsync_interval", absl::Milliseconds(1)).value_or(sink.fsync_interval);
  context.RequireSingleInstance("a file sink appends to one file in order");
  if (options.failed()) return nullptr;
  return FileSink::Factory(std::move(sink));
}

}  // namespace

SLUICE_REGISTER_CONSUMER("file", MakeFileSink);

}  // namespace sluice::connectors
