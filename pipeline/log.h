// File: pipeline/log.h
//
// The process's log: spdlog to stderr, one line per event of note, as text
// (a readable `key=value` line) or JSON (one object per line), with every
// secret the config holds scrubbed out of every line.
//
// An event of note is logged through LogEvent, named by a stable snake_case
// event ("stage_crashed", "partitions_assigned"; docs/runbooks.md lists
// them) and carrying the pipeline, stage and instance it happened in plus
// its own fields:
//
//   LogEvent(spdlog::level::err, "stage_crashed")
//       .Pipeline("orders").Stage("parse").Instance(0)
//       .Field("reason", "crashed: INTERNAL: bad state");
//
// prints, with `log: {format: json}`,
//
//   {"time":"2026-12-01T11:03:51.123456Z","level":"error","event":"stage_crashed",
//    "pipeline":"orders","stage":"parse","instance":0,"reason":"crashed: ..."}
//
// and with `format: text`
//
//   2026-12-01T11:03:51.123456Z error stage_crashed pipeline=orders stage=parse
//   instance=0 reason="crashed: INTERNAL: bad state"
//
// Lines logged with plain spdlog calls (librdkafka's own, older call sites)
// get the same time and level; in JSON their text is the "message" field of
// an "event":"log" object.
//
// Secrets: AddSecret() registers a value (a SASL password, a bearer token:
// whatever the config marks secret, tools/cli registers them after loading);
// from then on no log line carries it ("******" stands in), whoever logged
// it. Redact() does the same to any text (run summaries, dead-letter error
// texts), for output that does not go through the log.
//
// Without ConfigureLogging() (tests, programs embedding pipelines) events at
// warn and above go to spdlog's default logger as text; those below are not
// written.
//
// Thread-safe: LogEvent, Redact() and AddSecret() may be called from any
// thread; ConfigureLogging() once at start, before threads log.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "spdlog/common.h"

namespace sluice {

enum class LogFormat { kText, kJson };

// The `log:` block of a pipeline file (docs/configuration.md).
struct LogOptions {
  // `format: text | json`. Defaults to text.
  LogFormat format = LogFormat::kText;
  // `level: trace | debug | info | warn | error | off`. Defaults to info.
  // Commits are logged at debug (one per commit would flood info).
  spdlog::level::level_enum level = spdlog::level::info;
};

// "text" / "json"; kInvalidArgument otherwise, naming the choices.
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text);
// "trace", "debug", "info", "warn" (or "warning"), "error", "off";
// kInvalidArgument otherwise.
absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view text);
std::string_view LogFormatName(LogFormat format);

// Makes spdlog's default logger (and the events' logger) write to stderr in
// `options.format` at `options.level`. Call again to change them.
void ConfigureLogging(const LogOptions& options);

// From now on `value` never appears in a log line. Empty values and values
// shorter than 3 characters are ignored (masking "a" everywhere would mangle
// every line without protecting anything).
void AddSecret(std::string_view value);
// `text` with every registered secret replaced by "******".
std::string Redact(std::string_view text);

// W3C trace context: the trace id (32 lowercase hex digits) of a
// `traceparent` header value ("00-<trace id>-<parent id>-<flags>"), or "" if
// the value is not one (wrong shape, an all-zero trace id).
std::string TraceIdOf(std::string_view traceparent);
// The header carrying it.
inline constexpr std::string_view kTraceparentHeader = "traceparent";

// One structured log line, written when the LogEvent is destroyed (the end
// of the full expression for a temporary). Fields keep the order they were
// added in; the builder methods are no-ops when the level is off.
class LogEvent {
 public:
  // REQUIRES: `event` outlives the LogEvent (a string literal).
  LogEvent(spdlog::level::level_enum level, std::string_view event);
  ~LogEvent();
  LogEvent(const LogEvent&) = delete;
  LogEvent& operator=(const LogEvent&) = delete;

  LogEvent& Pipeline(std::string_view name) { return Field("pipeline", name); }
  LogEvent& Stage(std::string_view name) { return Field("stage", name); }
  LogEvent& Instance(uint32_t index) { return Field("instance", static_cast<int64_t>(index)); }
  LogEvent& Field(std::string_view key, std::string_view value);
  LogEvent& Field(std::string_view key, const char* value) {
    return Field(key, std::string_view(value));
  }
  LogEvent& Field(std::string_view key, const std::string& value) {
    return Field(key, std::string_view(value));
  }
  LogEvent& Field(std::string_view key, int64_t value);
  LogEvent& Field(std::string_view key, uint64_t value);
  LogEvent& Field(std::string_view key, int value) { return Field(key, int64_t{value}); }
  LogEvent& Field(std::string_view key, uint32_t value) { return Field(key, int64_t{value}); }
  LogEvent& Field(std::string_view key, double value);
  // JSON true/false; text true/false.
  LogEvent& Field(std::string_view key, bool value);

  // Whether this line will be written (the level is enabled).
  bool enabled() const { return enabled_; }

 private:
  struct Entry {
    std::string key;
    std::string value;
    bool quoted;  // a string (JSON quotes it); else a number as written
  };

  spdlog::level::level_enum level_;
  bool enabled_;
  std::string_view event_;  // a literal: outlives the line
  std::vector<Entry> fields_;
};

}  // namespace sluice
