// File: tests/support/stage_harness.h
//
// Runs one stage, configured from YAML exactly as a user writes it in a
// pipeline file, over events the test gives, through the real config loader
// and runtime (tools/cli/stage_path_runner.h, which `sluice test` uses too),
// and reports what came out: the events that reached the next stage, the
// dead letters (with their error text) and how the events ended.
//
//   StageRunResult result = RunStage(R"(
//     type: json_parse
//     required: [/id]
//   )", {{.value = R"({"id": 1})"}, {.value = "not json"}});
//   EXPECT_EQ(result.emitted.size(), 1);
//   EXPECT_THAT(result.dead_letters[0].error, HasSubstr("not valid JSON"));
//
// The pipeline is: `input` (a producer emitting `inputs` in order, one
// partition, offsets 0..n-1) -> your stage -> `output` (a recording sink).
// Config errors name the file "stage.yaml" with lines as in your YAML text.
// Retries default to max_attempts 1 (straight to the dead-letter queue)
// unless your YAML has a `retry:` block. The dead-letter queue is in memory.
//
// Not thread-safe: one harness run at a time per process.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

#include "tools/cli/stage_path_runner.h"

namespace sluice::testing {

using TestEvent = cli::PathEvent;
using StageRunResult = cli::PathRunResult;

struct HarnessOptions {
  // Events per batch from the input (0: as many as demand allows).
  size_t batch_size = 0;
  // Extra top-level YAML for the pipeline (e.g. "data_dir: /tmp/x").
  std::string pipeline_yaml;
};

// input -> `stage_yaml` -> output.
StageRunResult RunStage(std::string_view stage_yaml, std::vector<TestEvent> inputs,
                        HarnessOptions options = {});
// input -> `sink_yaml` (a consumer).
StageRunResult RunSink(std::string_view sink_yaml, std::vector<TestEvent> inputs,
                       HarnessOptions options = {});
// `source_yaml` (a producer) -> output. Runs until the source finishes.
StageRunResult RunSource(std::string_view source_yaml, HarnessOptions options = {});

// Asserts that the run ended OK with every one of `inputs` events either kept
// (acknowledged by the output) or dropped: none dead-lettered, none in flight.
void ExpectEveryEventKeptOrDropped(const StageRunResult& result, size_t inputs);

// Loads input -> stage -> output without running it: the config errors, as
// `sluice validate` would print them, or OK.
absl::Status CheckStage(std::string_view stage_yaml);

}  // namespace sluice::testing
