// `sluice bench`: what it prints, the JSON it writes (its documented fields,
// with counts that must hold), and its exit codes. Not its speed: that is
// measured, not tested (docs/BENCHMARKS.md).
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/support/command.h"

#include "simdjson.h"

namespace sluice {
namespace {

using ::sluice::testing::CommandResult;
using ::sluice::testing::MakeTempDir;
using ::sluice::testing::ReadFile;
using ::sluice::testing::RunCommand;
using ::testing::HasSubstr;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";
const std::string kBenchConfigs = std::string(SLUICE_SOURCE_DIR) + "/configs/bench";

TEST(BenchCommandTest, RunsTheConfigAndWritesItsResultsAsJson) {
  const std::string json_path = MakeTempDir("bench") + "/bench.json";
  CommandResult result = RunCommand({kSluice, "bench", kBenchConfigs + "/generator-map-null.yaml",
                                     "--events", "20000", "--runs", "2", "--json", json_path});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("events/s: median "));
  EXPECT_THAT(result.stdout_text, HasSubstr("latency (event timestamp to sink): p50 "));
  EXPECT_THAT(result.stdout_text, HasSubstr("slowest stage: "));

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const std::string text = ReadFile(json_path);
  ASSERT_EQ(parser.parse(text).get(root), simdjson::SUCCESS) << text;
  EXPECT_EQ(std::string_view(root["schema"].get_string().value()), "sluice-bench/1");
  EXPECT_THAT(std::string(root["config"].get_string().value()),
              HasSubstr("generator-map-null.yaml"));
  EXPECT_GT(root["machine"]["cores"].get_int64().value(), 0);
  EXPECT_GT(root["machine"]["memory_bytes"].get_int64().value(), 0);
  EXPECT_FALSE(std::string_view(root["build"]["type"].get_string().value()).empty());
  EXPECT_GT(root["events_per_sec"]["median"].get_double().value(), 0);
  EXPECT_LE(root["events_per_sec"]["min"].get_double().value(),
            root["events_per_sec"]["max"].get_double().value());
  EXPECT_GT(root["mb_per_sec"]["median"].get_double().value(), 0);
  EXPECT_GT(root["peak_rss_bytes"].get_int64().value(), 0);
  // Every event reaching the sink counts once in the latency histogram (two
  // runs of 20,000), and the percentiles are ordered.
  simdjson::dom::element latency = root["latency_us"];
  EXPECT_EQ(latency["samples"].get_int64().value(), 40000);
  EXPECT_LE(latency["p50"].get_int64().value(), latency["p99"].get_int64().value());
  EXPECT_LE(latency["p99"].get_int64().value(), latency["p999"].get_int64().value());

  simdjson::dom::array runs = root["runs"].get_array().value();
  ASSERT_EQ(runs.size(), 2u);
  for (simdjson::dom::element run : runs) {
    EXPECT_EQ(run["events"].get_int64().value(), 20000);
    // 100-byte payloads plus keys: at least 100 bytes an event.
    EXPECT_GE(run["bytes"].get_int64().value(), 20000 * 100);
    EXPECT_GT(run["elapsed_sec"].get_double().value(), 0);
    std::vector<std::string> names;
    simdjson::dom::array stages = run["stages"].get_array().value();
    for (simdjson::dom::element stage : stages) {
      names.emplace_back(stage["name"].get_string().value());
      EXPECT_EQ(stage["events_in"].get_int64().value(), 20000) << names.back();
    }
    EXPECT_THAT(names, ::testing::ElementsAre("generator", "map", "sink"));
  }
  EXPECT_EQ(root["peers"].get_array().value().size(), 0u);
}

TEST(BenchCommandTest, DurationDrainsAnUnlimitedSource) {
  const std::string json_path = MakeTempDir("bench") + "/bench.json";
  CommandResult result = RunCommand({kSluice, "bench", kBenchConfigs + "/generator-map-null.yaml",
                                     "--duration", "300ms", "--runs", "1", "--json", json_path});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const std::string text = ReadFile(json_path);
  ASSERT_EQ(parser.parse(text).get(root), simdjson::SUCCESS) << text;
  simdjson::dom::element run = root["runs"].at(0);
  EXPECT_GT(run["events"].get_int64().value(), 0);
  EXPECT_GE(run["elapsed_sec"].get_double().value(), 0.3);
}

// The resident set is sampled every 100 ms; an in-memory pipeline running
// for two seconds holds memory bounded by demand, so its slope is near zero
// (a leak of one 100-byte event in ten would show as hundreds of MB/min).
TEST(BenchCommandTest, RssIsSampledAndFlatForABoundedPipeline) {
  const std::string json_path = MakeTempDir("bench") + "/bench.json";
  CommandResult result = RunCommand({kSluice, "bench", kBenchConfigs + "/generator-map-null.yaml",
                                     "--duration", "2s", "--runs", "1", "--json", json_path});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("rss MB/min"));
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const std::string text = ReadFile(json_path);
  ASSERT_EQ(parser.parse(text).get(root), simdjson::SUCCESS) << text;
  simdjson::dom::element run = root["runs"].at(0);
  EXPECT_GE(run["rss_samples"].get_int64().value(), 15);
  EXPECT_LT(std::abs(run["rss_slope_bytes_per_min"].get_double().value()), 20e6) << text;
  EXPECT_EQ(root["rss_slope_bytes_per_min"]["median"].get_double().value(),
            run["rss_slope_bytes_per_min"].get_double().value());
}

TEST(BenchCommandTest, CompareRunsThePeersOrSaysHowToBuildThem) {
  CommandResult result =
      RunCommand({kSluice, "bench", kBenchConfigs + "/generator-map-null.yaml", "--events", "20000",
                  "--runs", "1", "--compare", "--json", "-"});
#if SLUICE_PEERS_BUILT
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, HasSubstr("bare_handoff_batch1000"));
  EXPECT_THAT(result.stdout_text, HasSubstr("\"ratio\":"));
#else
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("--compare needs bench/sluice_peers_bench"));
#endif
}

TEST(BenchCommandTest, UsageAndConfigErrorsExitWithTwo) {
  const std::string config = kBenchConfigs + "/generator-map-null.yaml";
  CommandResult both = RunCommand({kSluice, "bench", config, "--events", "10", "--duration", "1s"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.stderr_text, HasSubstr("give --events or --duration, not both"));

  CommandResult unitless = RunCommand({kSluice, "bench", config, "--duration", "10"});
  EXPECT_EQ(unitless.exit_code, 2);
  EXPECT_THAT(unitless.stderr_text, HasSubstr("\"10\" is not a duration with a unit"));

  CommandResult no_generator =
      RunCommand({kSluice, "bench", kBenchConfigs + "/kafka-null.yaml", "--events", "10"});
  EXPECT_EQ(no_generator.exit_code, 2);
  EXPECT_THAT(no_generator.stderr_text, HasSubstr("has none; use --duration"));

  CommandResult missing = RunCommand({kSluice, "bench", kBenchConfigs + "/nope.yaml"});
  EXPECT_EQ(missing.exit_code, 2);

  CommandResult zero_runs = RunCommand({kSluice, "bench", config, "--runs", "0"});
  EXPECT_EQ(zero_runs.exit_code, 2);
}

TEST(BenchCommandTest, EveryBenchConfigValidates) {
  for (const char* name :
       {"generator-map-null.yaml", "json.yaml", "broadcast-4.yaml", "partition-8.yaml",
        "instances-10000.yaml", "chain-1000.yaml", "kafka-null.yaml", "kafka-dlq.yaml"}) {
    CommandResult result = RunCommand({kSluice, "validate", kBenchConfigs + "/" + name});
    EXPECT_EQ(result.exit_code, 0) << name << "\n" << result.stderr_text;
  }
}

}  // namespace
}  // namespace sluice
