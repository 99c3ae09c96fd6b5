// File: tools/cli/stage_path_runner.h
//
// Runs a path of stages from a pipeline config (one stage, or a chain where
// each subscribes to the one before) between a scripted input and a recording
// output, through the real config loader and runtime, and reports what came
// out. `sluice test` runs a pipeline's unit tests with it, and the C++ tests
// of every built-in stage use it (tests/support/stage_harness.h).
//
//   PathRunResult result = RunStagePath(pipeline_keys, {parse_node, filter_node},
//                                       {{.value = R"({"level":"error"})"}});
//
// The input is a producer emitting the events in order (one partition,
// offsets 0..n-1); it is left out when the first stage is a source. The
// output records every event it receives; it is left out when the last stage
// is a sink. The dead-letter queue is in memory unless the pipeline keys name
// one, and retries default to one attempt unless they say otherwise.
//
// Not thread-safe: one run at a time per process.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

#include "pipeline/config/config_node.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/pipeline.h"

namespace sluice::cli {

struct PathEvent {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timestamp_us = 0;

  friend bool operator==(const PathEvent&, const PathEvent&) = default;
};

struct PathRunResult {
  // OK, a config error, or why the run stopped.
  absl::Status status;
  // What reached the output, in arrival order.
  std::vector<PathEvent> emitted;
  std::vector<DeadLetter> dead_letters;
  RunReport report;

  std::vector<std::string> values() const;
  // The `error` of each dead letter, in order.
  std::vector<std::string> dead_letter_errors() const;
};

struct PathRunOptions {
  // Events per batch from the input (0: as many as demand allows).
  size_t batch_size = 0;
  // Only load and check the config; run nothing.
  bool check_only = false;
  // The first stage is the source even if its type could also be a sink or
  // a processor (`file`): no input is put in front of it.
  bool source_first = false;
};

// `pipeline_keys`: a pipeline's top-level map (its `stages` are ignored) or
// null. `stages`: the stages' maps, in path order; their `subscribe` keys are
// replaced.
PathRunResult RunStagePath(const ConfigNode* pipeline_keys, std::vector<ConfigNode> stages,
                           std::vector<PathEvent> inputs, const PathRunOptions& options = {});

}  // namespace sluice::cli
