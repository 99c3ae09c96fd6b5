#include "connectors/stdout/stdout_sink.h"

#include <charconv>
#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/json_quote.h"
#include "pipeline/mutex.h"
#include "pipeline/string_view_compat.h"

namespace sluice::connectors {
namespace {

// Held around every write to a shared descriptor: stdout belongs to the
// whole process.
Mutex& OutputMutex() {
  static Mutex* const mu = new Mutex();  // never destroyed: sinks may outlive statics
  return *mu;
}

template <typename T>
void AppendNumber(T value, std::string& out) {
  char digits[24];
  const std::to_chars_result result = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, result.ptr);
}

}  // namespace

void AppendJsonString(std::string_view bytes, std::string& out) { AppendJsonQuoted(bytes, out); }

void AppendEventLine(const Event& event, StdoutFormat format, std::string& out) {
  if (format == StdoutFormat::kValue) {
    out.append(event.value().data(), event.value().size());
    out.push_back('\n');
    return;
  }
  out.append("{\"key\":");
  AppendJsonString(event.key(), out);
  out.append(",\"value\":");
  AppendJsonString(event.value(), out);
  out.append(",\"headers\":{");
  bool first = true;
  for (const Header& header : event.headers()) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(header.key, out);
    out.push_back(':');
    AppendJsonString(header.value, out);
  }
  out.append("},\"timestamp_us\":");
  AppendNumber(event.timestamp_us(), out);
  out.append(",\"origin\":{\"partition\":");
  AppendNumber(event.origin().partition.value(), out);
  out.append(",\"offset\":");
  AppendNumber(event.origin().offset.value(), out);
  out.append("}}\n");
}

StdoutSink::StdoutSink(StdoutSinkOptions options, int fd, std::string what) {
  internal::BatchWriterOptions writer_options;
  writer_options.what = std::move(what);
  writer_options.path = fd == STDOUT_FILENO ? "<stdout>" : absl::StrCat("<fd ", fd, ">");
  const StdoutFormat format = options.format;
  writer_ = std::make_unique<internal::BatchWriter>(
      fd, std::move(writer_options),
      [format](const EventBatch& events, std::string& out) {
        for (const Event& event : events) AppendEventLine(event, format, out);
      },
      &OutputMutex());
}

StdoutSink::~StdoutSink() { Stop(); }

ConsumerFactory StdoutSink::Factory(StdoutSinkOptions options, int fd) {
  return [options, fd](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<StdoutSink>(
        options, fd, absl::StrCat("stdout sink \"", Av(context.stage_name()), "\""));
  };
}

absl::Status StdoutSink::HandleEvents(const EventBatch& batch, ConsumerAcks& acks) {
  writer_->Submit(internal::RetainEvents(batch), acks.Defer());
  return absl::OkStatus();
}

absl::Status StdoutSink::Flush() {
  writer_->FlushSoon();
  return absl::OkStatus();
}

void StdoutSink::Stop() { writer_->Stop(); }

// ---------------------------------------------------------------------------
// Registration: `type: stdout`

namespace {

ConsumerFactory MakeStdoutSink(StageTypeContext& context) {
  OptionReader& options = context.options;
  StdoutSinkOptions sink;
  if (std::optional<StdoutFormat> format = options.Enum<StdoutFormat>(
          "format", {{"value", StdoutFormat::kValue}, {"json", StdoutFormat::kJson}})) {
    sink.format = *format;
  }
  if (options.failed()) return nullptr;
  return StdoutSink::Factory(sink);
}

}  // namespace

SLUICE_REGISTER_CONSUMER("stdout", MakeStdoutSink);

}  // namespace sluice::connectors
