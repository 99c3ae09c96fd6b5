// File: connectors/stdout/stdout_sink.h
//
// StdoutSink (`type: stdout`) writes one line per event to standard output:
// for watching a pipeline, and for piping it into other tools. Writing to a
// terminal or a pipe blocks, so the stage never writes itself: it hands each
// batch (its memory retained, no copy) to a writer thread of its own
// (connectors/internal/batch_writer.h), which formats and writes the lines in
// arrival order and only then acknowledges the events. If stdout is closed
// (EPIPE) the events fail with kUnavailable and are retried, then
// dead-lettered; none is acknowledged unwritten.
//
//   - name: print
//     type: stdout
//     subscribe: [parse]
//     format: json        # value (default) | json
//
// Formats:
//   - value: the value's bytes as they are, then "\n". A value holding a
//     newline spans several lines; use json to keep one event per line.
//   - json: one JSON object per line,
//       {"key":"user-7","value":"...","headers":{"trace":"abc"},
//        "timestamp_us":1700000000000000,"origin":{"partition":0,"offset":7}}
//     key, value and header values are JSON strings (bytes that are not
//     UTF-8 become U+FFFD); repeated header names repeat in the object, in
//     order.
//
// Instances (`concurrency: N`) share stdout under one process-wide lock, so
// each batch's lines stay together and no line is torn.
//
// Thread-compatible, like every stage.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <unistd.h>

#include "connectors/internal/batch_writer.h"
#include "pipeline/stage.h"

namespace sluice::connectors {

enum class StdoutFormat { kValue, kJson };

struct StdoutSinkOptions {
  // Defaults to kValue.
  StdoutFormat format = StdoutFormat::kValue;
};

// Appends `event` as one line (with its "\n") in `format` to `out`.
void AppendEventLine(const Event& event, StdoutFormat format, std::string& out);
// Appends `bytes` as a JSON string literal, quotes included: invalid UTF-8
// becomes \ufffd (AppendJsonQuoted, pipeline/json_quote.h).
void AppendJsonString(std::string_view bytes, std::string& out);

class StdoutSink final : public Consumer {
 public:
  // Writes to `fd`: standard output, or a file in tests. `what` names the
  // sink in errors. REQUIRES: `fd` stays open while the sink lives.
  StdoutSink(StdoutSinkOptions options, int fd, std::string what);
  ~StdoutSink() override;

  static ConsumerFactory Factory(StdoutSinkOptions options, int fd = STDOUT_FILENO);

  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override;
  absl::Status Flush() override;
  void Stop() override;

 private:
  std::unique_ptr<internal::BatchWriter> writer_;
};

}  // namespace sluice::connectors
