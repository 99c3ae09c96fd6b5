#include "tests/support/stage_harness.h"

#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tools/config/yaml_loader.h"

namespace sluice::testing {
namespace {

StageRunResult Run(std::string_view yaml, std::vector<TestEvent> inputs,
                   const HarnessOptions& options, bool check_only = false,
                   bool source_first = false) {
  StageRunResult result;
  absl::StatusOr<ConfigNode> stage = config::LoadYamlString(yaml, "stage.yaml");
  if (!stage.ok()) {
    result.status = stage.status();
    return result;
  }
  absl::StatusOr<ConfigNode> pipeline = ConfigNode::Map({});
  if (!options.pipeline_yaml.empty()) {
    pipeline = config::LoadYamlString(options.pipeline_yaml, "pipeline.yaml");
    if (!pipeline.ok()) {
      result.status = pipeline.status();
      return result;
    }
  }
  std::vector<ConfigNode> stages;
  stages.push_back(*std::move(stage));
  return cli::RunStagePath(
      &*pipeline, std::move(stages), std::move(inputs),
      {.batch_size = options.batch_size, .check_only = check_only, .source_first = source_first});
}

}  // namespace

StageRunResult RunStage(std::string_view stage_yaml, std::vector<TestEvent> inputs,
                        HarnessOptions options) {
  return Run(stage_yaml, std::move(inputs), options);
}

StageRunResult RunSink(std::string_view sink_yaml, std::vector<TestEvent> inputs,
                       HarnessOptions options) {
  return Run(sink_yaml, std::move(inputs), options);
}

StageRunResult RunSource(std::string_view source_yaml, HarnessOptions options) {
  return Run(source_yaml, {}, options, /*check_only=*/false, /*source_first=*/true);
}

void ExpectEveryEventKeptOrDropped(const StageRunResult& result, size_t inputs) {
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.dead_letters, ::testing::IsEmpty());
  EXPECT_EQ(result.report.events_emitted(), inputs);
  EXPECT_EQ(result.report.events_acknowledged(), result.emitted.size());
  EXPECT_EQ(result.report.events_acknowledged() + result.report.events_dropped(), inputs);
  EXPECT_EQ(result.report.events_in_flight(), 0u);
}

absl::Status CheckStage(std::string_view stage_yaml) {
  return Run(stage_yaml, {}, {}, /*check_only=*/true).status;
}

}  // namespace sluice::testing
