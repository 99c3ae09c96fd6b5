#include "pipeline/log.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

#include "pipeline/json_quote.h"
#include "pipeline/mutex.h"
#include "pipeline/string_view_compat.h"

namespace sluice {
namespace {

constexpr std::string_view kMask = "******";
constexpr char kEventLoggerName[] = "sluice.event";

// The configured format, read by every LogEvent (relaxed: a line written in
// the old format while ConfigureLogging() runs is harmless).
std::atomic<LogFormat> g_format{LogFormat::kText};
// The logger events go to; null until ConfigureLogging(). The loggers it
// points to are kept alive in Loggers() for the life of the process.
std::atomic<spdlog::logger*> g_event_logger{nullptr};

struct Secrets {
  Mutex mu;
  // Longest first, so a secret containing another is masked whole.
  std::vector<std::string> values ABSL_GUARDED_BY(mu);
  // Acquire/release with `values`: Redact() skips the lock while none exist.
  std::atomic<bool> any{false};
};

Secrets& GetSecrets() {
  static auto* secrets = new Secrets();
  return *secrets;
}

std::vector<std::shared_ptr<spdlog::logger>>& Loggers() {
  static auto* loggers = new std::vector<std::shared_ptr<spdlog::logger>>();
  return *loggers;
}

// key=value, the value quoted (Go-logfmt style) when it is empty or holds a
// space, '=', a quote or a control character.
void AppendTextValue(std::string& out, std::string_view text) {
  const bool plain = !text.empty() && std::none_of(text.begin(), text.end(), [](char c) {
    return c == ' ' || c == '=' || c == '"' || static_cast<unsigned char>(c) < 0x20;
  });
  if (plain) {
    out.append(text);
  } else {
    AppendJsonQuoted(text, out);
  }
}

std::string FormatTime(spdlog::log_clock::time_point time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromChrono(time), absl::UTCTimeZone());
}

// Writes every line: time and level first, the event's fields (or a plain
// line's text), then every registered secret masked.
class LineFormatter : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(message.payload.data(), message.payload.size());
    const std::string_view logger(message.logger_name.data(), message.logger_name.size());
    const bool is_event = logger == kEventLoggerName;
    // "warn" as the config spells it (spdlog says "warning").
    const spdlog::string_view_t level = message.level == spdlog::level::warn
                                            ? spdlog::string_view_t("warn")
                                            : spdlog::level::to_string_view(message.level);
    std::string line;
    line.reserve(payload.size() + 64);
    if (format_ == LogFormat::kJson) {
      line += "{\"time\":\"";
      line += FormatTime(message.time);
      line += "\",\"level\":\"";
      line.append(level.data(), level.size());
      line += "\",";
      if (is_event) {
        line.append(payload);
      } else {
        // Masked before quoting too: a secret holding a quote would not
        // match once escaped.
        line += "\"event\":\"log\",\"message\":";
        AppendJsonQuoted(Redact(payload), line);
      }
      line += "}";
    } else {
      line += FormatTime(message.time);
      line.push_back(' ');
      line.append(level.data(), level.size());
      line.push_back(' ');
      line.append(payload);
    }
    line = Redact(line);
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  const LogFormat format_;
};

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("log format \"", Av(text), "\": expected text or json"));
}

absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view text) {
  const std::string lower = absl::AsciiStrToLower(Av(text));
  if (lower == "trace") return spdlog::level::trace;
  if (lower == "debug") return spdlog::level::debug;
  if (lower == "info") return spdlog::level::info;
  if (lower == "warn" || lower == "warning") return spdlog::level::warn;
  if (lower == "error") return spdlog::level::err;
  if (lower == "off") return spdlog::level::off;
  return absl::InvalidArgumentError(absl::StrCat(
      "log level \"", Av(text), "\": expected trace, debug, info, warn, error or off"));
}

std::string_view LogFormatName(LogFormat format) {
  return format == LogFormat::kJson ? "json" : "text";
}

void ConfigureLogging(const LogOptions& options) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(std::make_unique<LineFormatter>(options.format));
  auto main_logger = std::make_shared<spdlog::logger>("sluice", sink);
  auto event_logger = std::make_shared<spdlog::logger>(kEventLoggerName, sink);
  for (const auto& logger : {main_logger, event_logger}) {
    logger->set_level(options.level);
    // Errors reach stderr at once; the sink flushes every line anyway.
    logger->flush_on(spdlog::level::warn);
  }
  Loggers().push_back(event_logger);
  Loggers().push_back(main_logger);
  g_format.store(options.format, std::memory_order_relaxed);
  g_event_logger.store(event_logger.get(), std::memory_order_release);
  spdlog::set_default_logger(main_logger);
}

void AddSecret(std::string_view value) {
  if (value.size() < 3) return;
  Secrets& secrets = GetSecrets();
  MutexLock lock(&secrets.mu);
  if (std::find(secrets.values.begin(), secrets.values.end(), value) != secrets.values.end())
    return;
  secrets.values.emplace_back(value);
  std::stable_sort(secrets.values.begin(), secrets.values.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  secrets.any.store(true, std::memory_order_release);
}

std::string Redact(std::string_view text) {
  Secrets& secrets = GetSecrets();
  std::string out(text);
  if (!secrets.any.load(std::memory_order_acquire)) return out;
  MutexLock lock(&secrets.mu);
  for (const std::string& secret : secrets.values) {
    for (size_t at = out.find(secret); at != std::string::npos;
         at = out.find(secret, at + kMask.size())) {
      out.replace(at, secret.size(), kMask);
    }
  }
  return out;
}

std::string TraceIdOf(std::string_view traceparent) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
  // Later versions may append fields after the flags ("-...").
  const absl::string_view stripped = absl::StripAsciiWhitespace(Av(traceparent));
  const std::string_view text(stripped.data(), stripped.size());
  if (text.size() < 55 || text[2] != '-' || text[35] != '-' || text[52] != '-') return "";
  if (text.size() > 55 && text[55] != '-') return "";
  const std::string_view version = text.substr(0, 2);
  const std::string_view trace_id = text.substr(3, 32);
  auto hex = [](std::string_view digits) {
    return std::all_of(digits.begin(), digits.end(),
                       [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); });
  };
  if (!hex(version) || version == "ff" || !hex(trace_id) || !hex(text.substr(36, 16))) return "";
  if (trace_id.find_first_not_of('0') == std::string_view::npos) return "";
  return absl::AsciiStrToLower(Av(trace_id));
}

LogEvent::LogEvent(spdlog::level::level_enum level, std::string_view event)
    : level_(level), event_(event) {
  spdlog::logger* logger = g_event_logger.load(std::memory_order_acquire);
  if (logger == nullptr) {
    // Nobody configured the log (a test, a program embedding pipelines):
    // say only what goes wrong, not every stage start, on its stdout.
    enabled_ = level >= spdlog::level::warn && spdlog::default_logger_raw()->should_log(level);
    return;
  }
  enabled_ = logger->should_log(level);
}

LogEvent& LogEvent::Field(std::string_view key, std::string_view value) {
  if (enabled_) fields_.push_back({std::string(key), Redact(value), true});
  return *this;
}

LogEvent& LogEvent::Field(std::string_view key, int64_t value) {
  if (enabled_) fields_.push_back({std::string(key), absl::StrCat(value), false});
  return *this;
}

LogEvent& LogEvent::Field(std::string_view key, uint64_t value) {
  if (enabled_) fields_.push_back({std::string(key), absl::StrCat(value), false});
  return *this;
}

LogEvent& LogEvent::Field(std::string_view key, double value) {
  if (enabled_) fields_.push_back({std::string(key), absl::StrFormat("%.6g", value), false});
  return *this;
}

LogEvent& LogEvent::Field(std::string_view key, bool value) {
  if (enabled_) fields_.push_back({std::string(key), value ? "true" : "false", false});
  return *this;
}

LogEvent::~LogEvent() {
  if (!enabled_) return;
  spdlog::logger* logger = g_event_logger.load(std::memory_order_acquire);
  const LogFormat format =
      logger == nullptr ? LogFormat::kText : g_format.load(std::memory_order_relaxed);
  if (logger == nullptr) logger = spdlog::default_logger_raw();
  std::string body;
  if (format == LogFormat::kJson) {
    body += "\"event\":";
    AppendJsonQuoted(event_, body);
    for (const Entry& field : fields_) {
      body.push_back(',');
      AppendJsonQuoted(field.key, body);
      body.push_back(':');
      if (field.quoted) {
        AppendJsonQuoted(field.value, body);
      } else {
        body += field.value;
      }
    }
  } else {
    body += event_;
    for (const Entry& field : fields_) {
      body.push_back(' ');
      body += field.key;
      body.push_back('=');
      AppendTextValue(body, field.value);
    }
  }
  logger->log(level_, "{}", body);
}

}  // namespace sluice
