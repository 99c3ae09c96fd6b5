// File: pipeline/config/option_reader.h
//
// An OptionReader reads the options of one map in a config (a stage, the
// supervision block, a dead-letter target) with their types checked. Every
// problem goes to a shared ConfigErrors with the offending value's place, and
// reading goes on, so that all errors of a file come out in one run. Every
// key asked for, present or not, becomes a known key: Finish() reports the
// keys nobody asked for as unknown, with a did-you-mean among the known ones.
//
//   OptionReader options(stage_node, "stage \"gen\"", errors);
//   int64_t count = options.Int("count", 0).value_or(0);
//   absl::Duration interval = options.Duration("interval").value_or(absl::Seconds(1));
//   options.Finish();   // "unknown key "cuont"; did you mean "count"?"
//
// Scalars: integers in decimal (`_` separators allowed: 1_000_000); numbers;
// booleans `true`/`false`; durations with a unit (`250ms`, `5s`, `1m`, `1h`,
// `1.5s`); byte sizes with an optional unit (`512`, `64KiB`, `1MiB`, `1GiB`,
// also `KB`/`MB`/`GB` as powers of 1000). Quotes do not matter to a number:
// `count: "${COUNT}"` is read as an integer once the variable is in.
//
// Thread-compatible. The node and the errors must outlive the reader.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

#include "pipeline/config/config_errors.h"
#include "pipeline/config/config_node.h"

namespace sluice {

class OptionReader {
 public:
  // `node` is the map to read, or null (no options given: every read returns
  // nullopt). A node that is neither a map nor null is reported as an error.
  // `what` names it in messages: `stage "parse"`, `supervision`.
  OptionReader(const ConfigNode* node, std::string what, ConfigErrors& errors);

  // Each of these returns the value under `key`, or nullopt if the key is
  // absent or its value is invalid (then an error was recorded).
  std::optional<std::string> String(std::string_view key);
  std::optional<int64_t> Int(std::string_view key,
                             int64_t min = std::numeric_limits<int64_t>::min(),
                             int64_t max = std::numeric_limits<int64_t>::max());
  std::optional<double> Double(std::string_view key,
                               double min = -std::numeric_limits<double>::infinity(),
                               double max = std::numeric_limits<double>::infinity());
  std::optional<bool> Bool(std::string_view key);
  // REQUIRES: a unit; `min` bounds it from below (defaults to zero).
  std::optional<absl::Duration> Duration(std::string_view key,
                                         absl::Duration min = absl::ZeroDuration());
  std::optional<uint64_t> Bytes(std::string_view key);
  // A single scalar or a list of scalars.
  std::optional<std::vector<std::string>> StringList(std::string_view key);
  // One of the named choices; an error lists them all.
  template <typename E>
  std::optional<E> Enum(std::string_view key,
                        std::initializer_list<std::pair<std::string_view, E>> choices);
  // The raw node (marked known), for values of a shape of your own.
  const ConfigNode* Node(std::string_view key);
  // A reader for the map under `key` (an empty one if absent), named
  // `<what>.<key>` in messages. Finish() it yourself.
  OptionReader Nested(std::string_view key);
  // Marks `key` as known without reading it (read elsewhere).
  void Known(std::string_view key) { known_.emplace_back(key); }

  // Records an error about the value under `key` (or, if absent, about the
  // map itself): `<what>: <key>: <message>`.
  void Error(std::string_view key, std::string_view message);
  // Records an error at a mark of your own: `<what>: <message>`.
  void ErrorAt(const SourceMark& mark, std::string_view message);

  const std::string& what() const { return what_; }
  // The map's own place (or a default mark if absent).
  const SourceMark& mark() const;
  bool has(std::string_view key) const { return node_ != nullptr && node_->Find(key); }
  // True if any error was recorded through this reader.
  bool failed() const { return failed_; }
  ConfigErrors& errors() { return *errors_; }

  // Reports every key of the map that was never asked for. Call once, after
  // all reads.
  void Finish();

 private:
  const ConfigNode* Scalar(std::string_view key);

  const ConfigNode* node_;
  std::string what_;
  ConfigErrors* errors_;
  std::vector<std::string> known_;
  bool failed_ = false;
};

// Parsers shared with command-line flags: they return nullopt for text that
// is not a valid value of their kind.
std::optional<absl::Duration> ParseConfigDuration(std::string_view text);
std::optional<uint64_t> ParseConfigBytes(std::string_view text);
std::optional<int64_t> ParseConfigInt(std::string_view text);

template <typename E>
std::optional<E> OptionReader::Enum(std::string_view key,
                                    std::initializer_list<std::pair<std::string_view, E>> choices) {
  std::optional<std::string> text = String(key);
  if (!text) return std::nullopt;
  std::string names;
  for (const auto& [name, value] : choices) {
    if (*text == name) return value;
    if (!names.empty()) names += ", ";
    names += name;
  }
  Error(key, "\"" + *text + "\" is not one of: " + names);
  return std::nullopt;
}

}  // namespace sluice
