// `sluice run --metrics-address` as an operator meets it: the bound address
// on stderr, /metrics that promtool accepts and whose counters add up to
// the events sent, /readyz across start, a broker outage and a drain
// (SIGTERM). The sources read a broker of the test's own over TCP.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <signal.h>

#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"
#include "tests/tools/http_test_util.h"
#include "tests/tools/sluice_process.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

using Reply = HttpReply;

std::string KafkaPipeline(const std::string& bootstrap, const std::string& group,
                          const std::string& rest) {
  return absl::StrCat(R"(name: ops
shutdown_timeout: 10s
stages:
  - name: in
    type: kafka
    brokers: ")",
                      bootstrap, R"("
    group: )",
                      group, R"(
    topics: [events]
    commit_interval: 100ms
    properties: {fetch.wait.max.ms: 50, reconnect.backoff.ms: 50, reconnect.backoff.max.ms: 500}
)",
                      rest);
}

TEST(OpsEndpointTest, MetricsPassPromtoolAndTheCountersAddUpToTheEventsSent) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  ASSERT_TRUE(broker->CreateTopic("events", 2).ok());
  // 300 events: every 10th is filtered out, every 7th (not 10th) is poison
  // and dead-lettered, the rest reach the sink.
  constexpr int kEvents = 300;
  std::vector<KafkaMessage> messages;
  int dropped = 0, poisoned = 0;
  for (int i = 0; i < kEvents; ++i) {
    const bool keep = i % 10 != 0;
    const bool poison = keep && i % 7 == 0;
    dropped += keep ? 0 : 1;
    poisoned += poison ? 1 : 0;
    messages.push_back(
        {.key = absl::StrCat("k", i),
         .value = absl::StrCat(R"({"n": )", i, R"(, "keep": )", keep ? "true" : "false",
                               poison ? R"(, "tag": "poison"})" : "}"),
         .partition = i % 2});
  }
  ASSERT_TRUE(ProduceMessages(broker->bootstrap_servers(), "events", messages).ok());

  const std::string dir = MakeTempDir("ops-metrics");
  WriteFile(dir + "/pipeline.yaml",
            KafkaPipeline(broker->bootstrap_servers(), "ops-metrics", R"(  - name: keep
    type: filter
    subscribe: [in]
    field: /keep
    equals: true
  - name: poison
    type: fault
    subscribe: [keep]
    match: poison
    fail_rate: 1
  - name: out
    type: "null"
    subscribe: [poison]
dead_letter: {type: file, path: dead-letters.log}
)"));
  SluiceProcess run({kSluice, "run", dir + "/pipeline.yaml", "--quiet", "--metrics-address",
                     "127.0.0.1:0", "--set", "data_dir=" + dir + "/data"},
                    dir);
  const std::string address = MetricsAddress(run);
  ASSERT_THAT(address, ::testing::MatchesRegex("127\\.0\\.0\\.1:[0-9]+")) << run.Stderr();

  // While it runs: a scrape answers, with the names `sluice top` reads.
  const Reply first = HttpGet(address, "/metrics");
  ASSERT_EQ(first.status, 200);
  EXPECT_THAT(first.body, HasSubstr("# TYPE sluice_stage_events_in_total counter"));
  EXPECT_THAT(first.body, HasSubstr("# TYPE sluice_stage_processing_seconds histogram"));
  EXPECT_THAT(first.body, HasSubstr("sluice_build_info{"));

  // At the end: every event is done one way or the other.
  std::string metrics;
  ASSERT_TRUE(run.WaitFor(
      [&] {
        metrics = HttpGet(address, "/metrics").body;
        return MetricSum(metrics, "sluice_stage_events_acknowledged_total", {"stage=\"out\""}) +
                   MetricSum(metrics, "sluice_stage_events_dropped_total") +
                   MetricSum(metrics, "sluice_stage_events_dead_lettered_total") ==
               kEvents;
      },
      absl::Seconds(60)))
      << metrics << run.Stderr();
  EXPECT_EQ(MetricSum(metrics, "sluice_stage_events_out_total", {"stage=\"in\""}), kEvents);
  EXPECT_EQ(MetricSum(metrics, "sluice_stage_events_acknowledged_total", {"stage=\"out\""}),
            kEvents - dropped - poisoned);
  EXPECT_EQ(MetricSum(metrics, "sluice_stage_events_dropped_total", {"stage=\"keep\""}), dropped);
  EXPECT_EQ(MetricSum(metrics, "sluice_stage_events_dead_lettered_total", {"stage=\"poison\""}),
            poisoned);
  EXPECT_EQ(MetricSum(metrics, "sluice_dead_letter_writes_total", {"backend=\"file\""}), poisoned);
  EXPECT_EQ(MetricSum(metrics, "sluice_dead_letter_errors_total", {"backend=\"file\""}), 0);
  // Every batch callback timed once: as many samples as calls, at least one.
  EXPECT_GT(MetricSum(metrics, "sluice_stage_processing_seconds_count", {"stage=\"out\""}), 0);
  EXPECT_EQ(MetricSum(metrics, "sluice_stage_end_to_end_latency_seconds_count", {"stage=\"out\""}),
            kEvents - dropped - poisoned);
  // Both partitions commit everything: lag 0.
  ASSERT_TRUE(run.WaitFor(
      [&] {
        metrics = HttpGet(address, "/metrics").body;
        return MetricSum(metrics, "sluice_kafka_partition_committed_offset") == kEvents &&
               MetricSum(metrics, "sluice_kafka_partition_lag") == 0;
      },
      absl::Seconds(30)))
      << metrics;
  EXPECT_EQ(MetricSum(metrics, "sluice_kafka_source_connected"), 1);

  WriteFile(dir + "/metrics.txt", metrics);
  const CommandResult promtool = RunCommand({"promtool", "check", "metrics"}, dir + "/metrics.txt");
  EXPECT_EQ(promtool.exit_code, 0) << promtool.stdout_text << promtool.stderr_text;
  EXPECT_EQ(promtool.stdout_text + promtool.stderr_text, "");

  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(absl::Seconds(60)), 0) << run.Stderr();
}

TEST(OpsEndpointTest, ReadyOnceConnectedNotWhileTheBrokerIsDownAgainOnceUp) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  ASSERT_TRUE(broker->CreateTopic("events", 1).ok());
  const std::string dir = MakeTempDir("ops-ready");
  WriteFile(dir + "/pipeline.yaml", KafkaPipeline(broker->bootstrap_servers(), "ops-ready",
                                                  R"(  - name: out
    type: "null"
    subscribe: [in]
)"));
  SluiceProcess run({kSluice, "run", dir + "/pipeline.yaml", "--quiet", "--metrics-address",
                     "127.0.0.1:0", "--set", "data_dir=" + dir + "/data"},
                    dir);
  const std::string address = MetricsAddress(run);
  ASSERT_FALSE(address.empty()) << run.Stderr();
  Reply ready;
  ASSERT_TRUE(run.WaitFor(
      [&] {
        ready = HttpGet(address, "/readyz");
        return ready.status == 200;
      },
      absl::Seconds(30)))
      << ready.body;
  EXPECT_EQ(ready.body, "{\"ready\": true, \"reasons\": [], \"stuck_partitions\": []}\n");

  ASSERT_TRUE(broker->SetBrokerDown(1).ok());
  Reply down;
  ASSERT_TRUE(run.WaitFor(
      [&] {
        down = HttpGet(address, "/readyz");
        return down.status == 503;
      },
      absl::Seconds(30)))
      << down.body;
  EXPECT_THAT(down.body, HasSubstr("source \\\"in\\\" instance 0: not connected (brokers "
                                   "unreachable)"));
  EXPECT_EQ(HttpGet(address, "/healthz").status, 200);

  ASSERT_TRUE(broker->SetBrokerUp(1).ok());
  EXPECT_TRUE(
      run.WaitFor([&] { return HttpGet(address, "/readyz").status == 200; }, absl::Seconds(30)));
  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(absl::Seconds(60)), 0) << run.Stderr();
}

TEST(OpsEndpointTest, ReadyzSaysDrainingAfterSigtermBeforeTheProcessExits) {
  // A slow sink (2 events a second past a rate limit) with events in
  // flight: the drain takes seconds, and readiness must say so meanwhile.
  const std::string dir = MakeTempDir("ops-drain");
  WriteFile(dir + "/pipeline.yaml", R"(name: slow
shutdown_timeout: 5s
stages:
  - name: gen
    type: generator
  - name: slow
    type: rate_limit
    subscribe: [gen]
    count: 2
    interval: 1s
    max_demand: 20
  - name: out
    type: "null"
    subscribe: [slow]
)");
  SluiceProcess run({kSluice, "run", dir + "/pipeline.yaml", "--quiet", "--metrics-address",
                     "127.0.0.1:0", "--set", "data_dir=" + dir + "/data"},
                    dir);
  const std::string address = MetricsAddress(run);
  ASSERT_FALSE(address.empty()) << run.Stderr();
  ASSERT_TRUE(
      run.WaitFor([&] { return HttpGet(address, "/readyz").status == 200; }, absl::Seconds(30)));
  EXPECT_EQ(MetricSum(HttpGet(address, "/metrics").body, "sluice_pipeline_draining"), 0);

  run.Signal(SIGTERM);
  Reply draining;
  ASSERT_TRUE(run.WaitFor(
      [&] {
        draining = HttpGet(address, "/readyz");
        return draining.status == 503;
      },
      absl::Seconds(10)))
      << "exited before /readyz said draining:\n"
      << run.Stderr();
  EXPECT_THAT(draining.body, HasSubstr("\"reasons\": [\"draining\"]"));
  EXPECT_EQ(MetricSum(HttpGet(address, "/metrics").body, "sluice_pipeline_draining"), 1);
  // Alive while it drains.
  EXPECT_EQ(HttpGet(address, "/healthz").status, 200);
  EXPECT_NE(run.Wait(absl::Seconds(60)), -1);
}

}  // namespace
}  // namespace sluice::testing
