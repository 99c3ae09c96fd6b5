// File: pipeline/config/config_errors.h
//
// ConfigErrors collects every problem found in a configuration, each with the
// place it was written, so that one run reports them all (a user fixes five
// typos in one go, not in five runs). ToStatus() renders them one per line,
// in the order of the file:
//
//   pipeline.yaml:7:5: stage "parse": unknown key "concurency"; did you mean "concurrency"?
//   pipeline.yaml:12:16: stage "sink": subscribes to unknown stage "pars"; did you mean "parse"?
//
// Thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

#include "pipeline/config/config_node.h"

namespace sluice {

struct ConfigError {
  SourceMark mark;
  std::string message;

  // "file:line:column: message".
  std::string ToString() const;
};

class ConfigErrors {
 public:
  void Add(SourceMark mark, std::string message);

  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  // Sorted by file, line and column; an error reported twice appears once.
  std::vector<ConfigError> Sorted() const;
  // OK if empty; else kInvalidArgument whose message is Sorted(), one per line.
  absl::Status ToStatus() const;

 private:
  std::vector<ConfigError> errors_;
};

// The candidate closest to `word` by edit distance, if close enough to be a
// likely typo (at most a third of the word's length, and at least 1 edit
// allowed); empty otherwise.
std::string DidYouMean(std::string_view word, absl::Span<const std::string> candidates);

// `; did you mean "x"?` or nothing: for appending to a message.
std::string DidYouMeanSuffix(std::string_view word, absl::Span<const std::string> candidates);

}  // namespace sluice
