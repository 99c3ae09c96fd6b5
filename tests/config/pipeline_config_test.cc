// Broken pipeline files and the errors they must produce, each with its
// file:line:column, all errors of a file together.
#include "pipeline/config/pipeline_config.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/config/stage_registry.h"
#include "tests/support/test_stages.h"
#include "tools/config/yaml_loader.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Types of this test's own, so that the table does not depend on the
// built-in stages' options.
ProducerFactory MakeCfgSource(StageTypeContext& context) {
  context.options.Int("count", 0);
  context.options.Duration("interval");
  return testing::MakeGenerator(std::make_shared<testing::GeneratorState>(), {.total = 10});
}
ProducerConsumerFactory MakeCfgMap(StageTypeContext& context) {
  context.options.Double("factor", 0, 10);
  context.options.String("field");
  return testing::MakeMap();
}
ConsumerFactory MakeCfgSink(StageTypeContext& context) {
  context.options.String("path");
  return testing::MakeSink(std::make_shared<testing::SinkLog>());
}
SLUICE_REGISTER_PRODUCER("cfg_source", MakeCfgSource);
SLUICE_REGISTER_PRODUCER_CONSUMER("cfg_map", MakeCfgMap);
SLUICE_REGISTER_CONSUMER("cfg_sink", MakeCfgSink);
SLUICE_REGISTER_PRODUCER_CONSUMER("cfg_router", MakeCfgMap);
SLUICE_REGISTER_NAMED_OUTPUTS("cfg_router");

absl::StatusOr<PipelineConfig> Load(const std::string& yaml,
                                    const std::map<std::string, std::string>& env = {}) {
  config::LoadOptions options;
  options.environment = &env;
  ConfigErrors errors;
  absl::StatusOr<ConfigNode> root = config::LoadYamlString(yaml, "p.yaml", options, errors);
  if (!root.ok()) return root.status();
  return BuildPipelineConfig(*root, {.default_name = "p", .earlier_errors = &errors});
}

std::vector<std::string> Errors(const std::string& yaml,
                                const std::map<std::string, std::string>& env = {}) {
  absl::StatusOr<PipelineConfig> config = Load(yaml, env);
  if (config.ok()) return {};
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return absl::StrSplit(config.status().message(), '\n');
}

constexpr const char* kGood = R"(name: orders
stages:
  - name: in
    type: cfg_source
    count: 5
  - name: work
    type: cfg_map
    subscribe: in
    concurrency: 2
  - name: out
    type: cfg_sink
    subscribe: [work]
)";

TEST(PipelineConfigTest, GoodConfigBuildsStagesWithRolesFromTheTopology) {
  absl::StatusOr<PipelineConfig> config = Load(kGood);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->options.name, "orders");
  ASSERT_EQ(config->graph.size(), 3u);
  EXPECT_EQ(config->graph[0].role, StageRole::kProducer);
  EXPECT_EQ(config->graph[1].role, StageRole::kProducerConsumer);
  EXPECT_EQ(config->graph[1].concurrency, 2u);
  EXPECT_EQ(config->graph[2].role, StageRole::kConsumer);
  EXPECT_EQ(config->stages[2].options.subscribe, std::vector<std::string>{"work"});
}

TEST(PipelineConfigTest, GoodConfigRunsToTheEnd) {
  absl::StatusOr<PipelineConfig> config = Load(kGood);
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = MakePipeline(*std::move(config));
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_EQ(report.events_emitted(), 10u);
  EXPECT_EQ(report.events_acknowledged(), 10u);
}

struct BrokenCase {
  const char* title;
  const char* yaml;
  std::vector<std::string> errors;
};

class BrokenConfigTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenConfigTest, ReportsEveryErrorWithItsPlace) {
  const BrokenCase& c = GetParam();
  EXPECT_EQ(Errors(c.yaml), c.errors) << c.title;
}

const BrokenCase kBrokenCases[] = {
    {"unknown key with a did-you-mean",
     R"(stages:
  - name: in
    type: cfg_source
    cuont: 5
  - name: out
    type: cfg_sink
    subscribe: in
)",
     {R"(p.yaml:4:5: stage "in": unknown key "cuont"; did you mean "count"?)"}},
    {"unknown top-level key",
     R"(nmae: x
stages:
  - {name: in, type: cfg_source}
  - {name: out, type: cfg_sink, subscribe: in}
)",
     {R"(p.yaml:1:1: pipeline: unknown key "nmae"; did you mean "name"?)"}},
    {"wrong types and out-of-range values",
     R"(stages:
  - name: in
    type: cfg_source
    count: lots
    interval: 5
  - name: work
    type: cfg_map
    subscribe: in
    concurrency: 0
    factor: 11
    max_demand: ten
  - name: out
    type: cfg_sink
    subscribe: work
)",
     {R"(p.yaml:4:12: stage "in": count: expected an integer, got "lots")",
      R"(p.yaml:5:15: stage "in": interval: expected a duration with a unit (250ms, 5s, 1m), got "5")",
      R"(p.yaml:9:18: stage "work": concurrency: 0 is out of range [1, 100000])",
      R"(p.yaml:10:13: stage "work": factor: 11 is out of range [0, 10])",
      R"(p.yaml:11:17: stage "work": max_demand: expected an integer, got "ten")"}},
    {"unknown stage type",
     R"(stages:
  - name: in
    type: cfg_sorce
  - name: out
    type: cfg_sink
    subscribe: in
)",
     {R"(p.yaml:3:11: stage "in": unknown stage type "cfg_sorce"; did you mean "cfg_source"?)"}},
    {"dangling and self subscribe",
     R"(stages:
  - name: in
    type: cfg_source
  - name: work
    type: cfg_map
    subscribe: [in, work]
  - name: out
    type: cfg_sink
    subscribe: wrok
)",
     {R"(p.yaml:6:21: stage "work": subscribes to itself)",
      R"(p.yaml:9:16: stage "out": subscribes to unknown stage "wrok"; did you mean "work"?)"}},
    {"a cycle",
     R"(stages:
  - name: in
    type: cfg_source
  - name: a
    type: cfg_map
    subscribe: [in, b]
  - name: b
    type: cfg_map
    subscribe: a
  - name: out
    type: cfg_sink
    subscribe: b
)",
     {R"(p.yaml:9:16: stage "b": subscriptions form a cycle: a <- b <- a)"}},
    {"a sink with no producer, a source with no consumer",
     R"(stages:
  - name: lonely
    type: cfg_source
  - name: out
    type: cfg_sink
)",
     {R"(p.yaml:2:11: stage "lonely" (type cfg_source) is a source with no subscribers, so its events go nowhere; subscribe a stage to it)",
      R"(p.yaml:4:11: stage "out" (type cfg_sink) subscribes to nothing, so it will never receive events; add `subscribe:`)"}},
    {"a processor nobody subscribes to",
     R"(stages:
  - name: in
    type: cfg_source
  - name: work
    type: cfg_map
    subscribe: in
)",
     {R"(p.yaml:4:11: stage "work" (type cfg_map) has no subscribers, so its events go nowhere; subscribe a stage to it)"}},
    {"a source that subscribes",
     R"(stages:
  - name: in
    type: cfg_source
  - name: in2
    type: cfg_source
    subscribe: in
  - name: out
    type: cfg_sink
    subscribe: in2
)",
     {R"(p.yaml:6:16: stage "in2" (type cfg_source) is a source and cannot subscribe to other stages)"}},
    {"duplicate stage names and duplicate keys",
     R"(stages:
  - name: in
    type: cfg_source
  - name: in
    type: cfg_source
  - name: out
    type: cfg_sink
    type: cfg_sink
    subscribe: in
)",
     {R"(p.yaml:4:11: stage "in" is declared twice (first at line 2))",
      R"(p.yaml:8:5: duplicate key "type")"}},
    {"malformed YAML",
     R"(stages:
  - name: in
    type: [cfg_source
)",
     {R"(p.yaml:4:1: malformed YAML: end of sequence flow not found)"}},
    {"min_demand at or above max_demand",
     R"(stages:
  - {name: in, type: cfg_source}
  - name: out
    type: cfg_sink
    subscribe: in
    max_demand: 100
    min_demand: 200
)",
     {R"(p.yaml:7:17: stage "out": min_demand: (200) must be less than max_demand (100))"}},
    {"named output of a stage without outputs",
     R"(stages:
  - {name: in, type: cfg_source}
  - {name: work, type: cfg_map, subscribe: in}
  - {name: out, type: cfg_sink, subscribe: work.orders}
)",
     {R"(p.yaml:4:44: stage "out": "work.orders": stage "work" (type cfg_map) has no named outputs; subscribe to "work")"}},
    {"bad nested blocks",
     R"(supervision:
  strategy: one_for_some
  max_restarts: -1
retry:
  max_attempts: 0
  jitter: 2
dead_letter:
  type: flie
stages:
  - {name: in, type: cfg_source}
  - {name: out, type: cfg_sink, subscribe: in, buffer_keep: middle}
)",
     {R"(p.yaml:2:13: supervision: strategy: "one_for_some" is not one of: one_for_one, one_for_all, rest_for_one)",
      R"(p.yaml:3:17: supervision: max_restarts: -1 is out of range [0, 1000000])",
      R"(p.yaml:5:17: retry: max_attempts: 0 is out of range [1, 1000000])",
      R"(p.yaml:6:11: retry: jitter: 2 is out of range [0, 1])",
      R"(p.yaml:8:9: dead_letter: type: unknown dead-letter type "flie"; did you mean "file"? (known: file, kafka, memory))",
      R"(p.yaml:11:61: stage "out": buffer_keep: "middle" is not one of: first, last)"}},
};

INSTANTIATE_TEST_SUITE_P(Table, BrokenConfigTest, ::testing::ValuesIn(kBrokenCases));

TEST(PipelineConfigTest, MissingVariableWithoutDefaultIsAnErrorAtItsValue) {
  EXPECT_THAT(
      Errors(R"(name: ${PIPELINE_NAME}
stages:
  - {name: in, type: cfg_source, count: "${COUNT}"}
  - {name: out, type: cfg_sink, subscribe: in}
)",
             {{"COUNT", "3"}}),
      ElementsAre(
          R"(p.yaml:1:7: environment variable PIPELINE_NAME is not set (write ${PIPELINE_NAME:-default} to give a default))"));
}

TEST(PipelineConfigTest, VariablesAndDefaultsAreInterpolated) {
  absl::StatusOr<PipelineConfig> config = Load(R"(name: ${NAME:-fallback}-${ENVIRONMENT}
stages:
  - {name: in, type: cfg_source, count: "${COUNT}"}
  - {name: out, type: cfg_sink, subscribe: in, path: "$${literal}"}
)",
                                               {{"ENVIRONMENT", "prod"}, {"COUNT", "3"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->options.name, "fallback-prod");
}

TEST(PipelineConfigTest, OverridesReplaceValuesByPathAndStageName) {
  config::LoadOptions options;
  options.overrides = {"name=changed", "stages.work.concurrency=3", "stages.2.max_demand=64"};
  absl::StatusOr<ConfigNode> root = config::LoadYamlString(kGood, "p.yaml", options);
  ASSERT_TRUE(root.ok()) << root.status();
  absl::StatusOr<PipelineConfig> config = BuildPipelineConfig(*root, {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->options.name, "changed");
  EXPECT_EQ(config->graph[1].concurrency, 3u);
  EXPECT_EQ(config->graph[2].max_demand, 64);
}

TEST(PipelineConfigTest, OverrideOfAnUnknownStageIsAnError) {
  config::LoadOptions options;
  options.overrides = {"stages.nope.concurrency=3"};
  absl::StatusOr<ConfigNode> root = config::LoadYamlString(kGood, "p.yaml", options);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().message(),
            R"(--set: "stages.nope.concurrency": no item "nope" in the list)");
}

TEST(PipelineConfigTest, NamedOutputsBecomeBroadcastSubscriptionsWithSelectors) {
  absl::StatusOr<PipelineConfig> config = Load(R"(stages:
  - {name: in, type: cfg_source}
  - {name: router, type: cfg_router, subscribe: in}
  - {name: orders, type: cfg_sink, subscribe: router.orders}
  - {name: rest, type: cfg_sink, subscribe: [router.refunds, router._unmatched]}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->graph[1].dispatch, DispatchMode::kBroadcast);
  const StageOptions& orders = config->stages[2].options;
  EXPECT_EQ(orders.subscribe, std::vector<std::string>{"router"});
  ASSERT_TRUE(orders.selector);
  EventBatch batch;
  const Header route_orders[] = {{"sluice.route", "orders"}};
  const Header route_refunds[] = {{"sluice.route", "refunds"}};
  // Copies: a second Append may move the batch's events.
  const Event a = batch.Append({.value = "a", .headers = route_orders});
  const Event b = batch.Append({.value = "b", .headers = route_refunds});
  EXPECT_TRUE(orders.selector(a));
  EXPECT_FALSE(orders.selector(b));
  const StageOptions& rest = config->stages[3].options;
  EXPECT_EQ(rest.subscribe, std::vector<std::string>{"router"});
  EXPECT_FALSE(rest.selector(a));
  EXPECT_TRUE(rest.selector(b));
}

TEST(PipelineConfigTest, SecretsAreMaskedWhenPrinted) {
  absl::StatusOr<ConfigNode> root = config::LoadYamlString(R"(stages:
  - name: in
    type: kafka
    properties:
      sasl.password: hunter2
      sasl.username: alice
    token: abc123
)",
                                                           "p.yaml");
  ASSERT_TRUE(root.ok());
  const std::string printed = config::ToYaml(*root);
  EXPECT_THAT(printed, HasSubstr("sasl.username: alice"));
  EXPECT_THAT(printed, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(printed, ::testing::Not(HasSubstr("abc123")));
  EXPECT_THAT(printed, HasSubstr("sasl.password: \"******\""));
}

TEST(PipelineConfigTest, PartitionBySourcePartitionHashesTheEventsOriginPartition) {
  absl::StatusOr<PipelineConfig> config = Load(R"(stages:
  - name: in
    type: cfg_source
    dispatch: partition
    partition_by: source_partition
  - name: out
    type: cfg_sink
    subscribe: in
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const PartitionKey& key_of = config->stages[0].options.partition_by;
  ASSERT_TRUE(key_of != nullptr);
  auto event_from = [](int32_t partition, std::string_view key) {
    return Event({.key = key, .origin = {.partition = Partition(partition)}});
  };
  // Same source partition, whatever the key: same bytes; other partition:
  // other bytes.
  const Event a = event_from(3, "x"), b = event_from(3, "y"), c = event_from(4, "x");
  EXPECT_EQ(key_of(a), key_of(b));
  EXPECT_NE(key_of(a), key_of(c));
  EXPECT_THAT(Errors(R"(stages:
  - name: in
    type: cfg_source
    dispatch: partition
    partition_by: sourcepartition
  - name: out
    type: cfg_sink
    subscribe: in
)"),
              ElementsAre(HasSubstr("p.yaml:5:19: stage \"in\": partition_by: \"sourcepartition\" "
                                    "is not `key`, `header:<name>` or `source_partition`")));
}

}  // namespace
}  // namespace sluice
