#include "connectors/stdout/stdout_sink.h"

#include <charconv>
#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/config/stage_registry.h"
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

// The length of the valid UTF-8 sequence at the start of `bytes`, or 0.
size_t Utf8SequenceLength(std::string_view bytes) {
  const auto byte = [&bytes](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const unsigned char lead = byte(0);
  size_t length;
  uint32_t min_code_point;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    min_code_point = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    min_code_point = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    min_code_point = 0x10000;
  } else {
    return 0;
  }
  if (bytes.size() < length) return 0;
  uint32_t code_point = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3F);
  }
  if (code_point < min_code_point || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

template <typename T>
void AppendNumber(T value, std::string& out) {
  char digits[24];
  const std::to_chars_result result = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, result.ptr);
}

}  // namespace

void AppendJsonString(std::string_view bytes, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x80) {
      const size_t length = Utf8SequenceLength(bytes.substr(i));
      if (length == 0) {
        out.append("\\ufffd");
        ++i;
      } else {
        out.append(bytes.data() + i, length);
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

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
