// The operations endpoint (tools/ops/ops_server.h) over a pipeline built in
// this process, on a broker of the test's own: readiness across start,
// broker down and a stuck partition; health when the supervision tree gives
// up; the admin actions (token checks, pausing the pipeline or one
// partition without a rebalance and without loss); request bounds.
#include "tools/ops/ops_server.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "connectors/kafka/kafka_source_probe.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/pipeline.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/tools/http_test_util.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "s3cret-token";

using Reply = HttpReply;

Reply Get(int port, const std::string& path, const std::string& token = "") {
  return HttpGet(Loopback(port), path, token);
}
Reply Post(int port, const std::string& path, const std::string& token = "",
           const std::string& body = "") {
  return HttpPost(Loopback(port), path, token, body);
}

// Passes events on, except those of `partition` from offset `from` on,
// which it holds for ever: a stage that stops acknowledging one partition.
ProducerConsumerFactory HoldPartitionFrom(int32_t partition, int64_t from) {
  class Stage final : public ProducerConsumer {
   public:
    Stage(int32_t partition, int64_t from) : partition_(partition), from_(from) {}
    absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
      for (const Event& event : batch) {
        const Coordinates at = ParseValue(event.value());
        if (at.partition == partition_ && at.offset >= from_) {
          out.Hold(event);
        } else {
          out.Emit(event);
        }
      }
      return absl::OkStatus();
    }

   private:
    const int32_t partition_;
    const int64_t from_;
  };
  return
      [partition, from](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
        return std::make_unique<Stage>(partition, from);
      };
}

// source (Kafka, probed) [-> gate] -> sink, with the ops server on a free
// loopback port.
class OpsPipeline {
 public:
  OpsPipeline(connectors::kafka::KafkaSourceOptions source_options,
              std::shared_ptr<TestSinkState> sink, ops::OpsOptions ops_options,
              ProducerConsumerFactory gate = nullptr)
      : monitor_(std::make_shared<connectors::kafka::KafkaSourceMonitor>()),
        probes_(std::make_shared<SourceProbeRegistry>()) {
    probes_->Add("source", connectors::kafka::MakeKafkaSourceProbe(monitor_));
    PipelineBuilder builder({.name = "ops-test", .workers = 2});
    builder.AddProducer(
        "source", connectors::kafka::KafkaSource::Factory(std::move(source_options), monitor_));
    std::string upstream = "source";
    if (gate) {
      builder.AddProducerConsumer("gate", std::move(gate), {.subscribe = {"source"}});
      upstream = "gate";
    }
    builder.AddConsumer("sink", MakeTestSink(std::move(sink)),
                        {.subscribe = {upstream}, .max_demand = 100});
    auto built = std::move(builder).Build();
    EXPECT_TRUE(built.ok()) << built.status();
    if (!built.ok()) return;
    pipeline_ = std::move(*built);
    const absl::Status started = pipeline_->Start();
    EXPECT_TRUE(started.ok()) << started;
    ops_options.address = "127.0.0.1:0";
    // The tests poll every 10ms; RequestsBeyondTheRateGet429 tests the bound.
    ops_options.requests_per_second = 1000;
    auto server = ops::OpsServer::Start(*pipeline_, probes_, std::move(ops_options));
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = std::move(*server);
  }
  ~OpsPipeline() {
    server_.reset();
    if (pipeline_ != nullptr) {
      pipeline_->Drain(absl::Seconds(2));
      pipeline_->Wait();
    }
  }

  bool ok() const { return server_ != nullptr; }
  int port() const { return server_->port(); }
  Pipeline& pipeline() { return *pipeline_; }
  // The source-local ids of the current assignments: new ids mean the
  // partitions were assigned again (a rebalance).
  std::set<int32_t> assignment_ids() const {
    std::set<int32_t> ids;
    for (const auto& status : monitor_->instance(0)->partitions()) ids.insert(status.id.value());
    return ids;
  }

 private:
  std::shared_ptr<connectors::kafka::KafkaSourceMonitor> monitor_;
  std::shared_ptr<SourceProbeRegistry> probes_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<ops::OpsServer> server_;
};

class OpsServerTest : public KafkaSourceFixture {};

TEST_F(OpsServerTest, ReadyOnceConnectedNotReadyWhileTheBrokerIsDownNamingIt) {
  TestProducer& producer = CreateTopic("orders", 2);
  producer.Produce(20);
  auto sink = std::make_shared<TestSinkState>();
  OpsPipeline pipeline(SourceOptions(broker(), "orders", "ops-ready"), sink, {});
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE(WaitUntil([&] { return Get(pipeline.port(), "/readyz").status == 200; }))
      << Get(pipeline.port(), "/readyz").body;
  EXPECT_EQ(Get(pipeline.port(), "/healthz").status, 200);
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 40; }));

  ASSERT_TRUE(broker().SetBrokerDown(1).ok());
  Reply down;
  ASSERT_TRUE(WaitUntil([&] {
    down = Get(pipeline.port(), "/readyz");
    return down.status == 503;
  }));
  EXPECT_THAT(down.body, HasSubstr("\"ready\": false"));
  EXPECT_THAT(down.body, HasSubstr("source \\\"source\\\" instance 0: not connected"));
  // Alive all the same: a broker outage is not the process's fault.
  EXPECT_EQ(Get(pipeline.port(), "/healthz").status, 200);
  EXPECT_EQ(MetricValue(Get(pipeline.port(), "/metrics").body, "sluice_kafka_source_connected",
                        {"stage=\"source\""}),
            0);

  ASSERT_TRUE(broker().SetBrokerUp(1).ok());
  EXPECT_TRUE(WaitUntil([&] { return Get(pipeline.port(), "/readyz").status == 200; }))
      << Get(pipeline.port(), "/readyz").body;
}

TEST_F(OpsServerTest, APartitionWhoseEventsAreNeverAcknowledgedIsNamedStuck) {
  TestProducer& producer = CreateTopic("orders", 2);
  producer.Produce(10);
  auto sink = std::make_shared<TestSinkState>();
  ops::OpsOptions options;
  options.stuck_after = absl::Seconds(2);
  options.sample_interval = absl::Milliseconds(100);
  // Partition 1's events from offset 10 on are held for ever.
  OpsPipeline pipeline(SourceOptions(broker(), "orders", "ops-stuck"), sink, options,
                       HoldPartitionFrom(1, 10));
  ASSERT_TRUE(pipeline.ok());
  // Both partitions commit their first 10.
  ASSERT_TRUE(WaitUntil([&] {
    const std::string metrics = Get(pipeline.port(), "/metrics").body;
    return MetricValue(metrics, "sluice_kafka_partition_committed_offset", {"partition=\"0\""}) ==
               10 &&
           MetricValue(metrics, "sluice_kafka_partition_committed_offset", {"partition=\"1\""}) ==
               10;
  }));
  EXPECT_EQ(Get(pipeline.port(), "/readyz").status, 200);

  producer.Produce(5);
  Reply stuck;
  ASSERT_TRUE(WaitUntil([&] {
    stuck = Get(pipeline.port(), "/readyz");
    return stuck.status == 503;
  }));
  EXPECT_THAT(stuck.body, HasSubstr("partition orders/1 (stage \\\"source\\\" instance 0) is "
                                    "stuck: committed offset 10 has not moved"));
  EXPECT_THAT(stuck.body,
              HasSubstr("{\"stage\": \"source\", \"instance\": 0, \"topic\": \"orders\", "
                        "\"partition\": 1, \"committed\": 10, \"lag\": 5"));
  // Partition 0 went on: committed past the new events, not named.
  EXPECT_THAT(stuck.body, Not(HasSubstr("orders/0")));
  EXPECT_EQ(MetricValue(Get(pipeline.port(), "/metrics").body,
                        "sluice_kafka_partition_committed_offset", {"partition=\"0\""}),
            15);
  EXPECT_EQ(sink->distinct().size(), 25u);
}

TEST(OpsServerHealthTest, UnhealthyOnceTheRootSupervisorGivesUp) {
  class Crashing final : public Consumer {
   public:
    absl::Status HandleEvents(const EventBatch&, ConsumerAcks&) override {
      return absl::InternalError("always broken");
    }
  };
  PipelineBuilder builder({.name = "doomed", .supervision = {.max_restarts = 0}});
  builder.AddProducer("numbers",
                      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
                        class Numbers final : public Producer {
                          absl::Status HandleDemand(size_t demand, ProducerOutput& out) override {
                            for (size_t i = 0; i < demand; ++i) out.batch().Append({.value = "x"});
                            return absl::OkStatus();
                          }
                        };
                        return std::make_unique<Numbers>();
                      });
  builder.AddConsumer("sink",
                      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
                        return std::make_unique<Crashing>();
                      },
                      {.subscribe = {"numbers"}, .supervision = {.max_restarts = 0}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());
  auto server = ops::OpsServer::Start(**pipeline, nullptr, {.address = "127.0.0.1:0"});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  // Unhealthy from the moment the stage's supervisor gives up ("stage
  // \"sink\" is escalating"), then with the root's verdict once the
  // escalation reaches it: wait for that one.
  Reply health;
  ASSERT_TRUE(WaitUntil([&] {
    health = Get(port, "/healthz");
    return health.status == 503 && absl::StrContains(health.body, "stopped");
  })) << health.body;
  EXPECT_THAT(health.body, HasSubstr("\"status\": \"unhealthy\""));
  EXPECT_THAT(health.body, HasSubstr("pipeline \\\"doomed\\\" stopped"));
  EXPECT_EQ(Get(port, "/readyz").status, 503);
  server->reset();
  (*pipeline)->Wait();
}

TEST(OpsServerDeadLetterTest, NotReadyWhileTheDeadLetterBackendFailsReadyOnceAWriteSucceeds) {
  auto dead_letters = std::make_shared<InMemoryDeadLetterQueue>();
  dead_letters->set_failure(absl::UnavailableError("disk on fire"));
  PipelineBuilder builder({.name = "dlq", .dead_letter = dead_letters});
  // Five events, then nothing (but not finished: the run goes on).
  builder.AddProducer("five", [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
    class Five final : public Producer {
      absl::Status HandleDemand(size_t, ProducerOutput& out) override {
        for (; sent_ < 5; ++sent_) out.batch().Append({.value = "bad"});
        return absl::OkStatus();
      }
      int sent_ = 0;
    };
    return std::make_unique<Five>();
  });
  builder.AddConsumer("reject",
                      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
                        class Reject final : public Consumer {
                          absl::Status HandleEvents(const EventBatch& batch,
                                                    ConsumerAcks& acks) override {
                            for (const Event& event : batch)
                              acks.Fail(event, absl::InvalidArgumentError("no"));
                            return absl::OkStatus();
                          }
                        };
                        return std::make_unique<Reject>();
                      },
                      {.subscribe = {"five"}});
  auto pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());
  {
    auto server = ops::OpsServer::Start(**pipeline, nullptr,
                                        {.address = "127.0.0.1:0", .requests_per_second = 1000});
    ASSERT_TRUE(server.ok()) << server.status();
    const int port = (*server)->port();
    Reply failing;
    ASSERT_TRUE(WaitUntil([&] {
      failing = Get(port, "/readyz");
      return failing.status == 503;
    }));
    EXPECT_THAT(
        failing.body,
        HasSubstr("dead-letter backend memory: last write failed: UNAVAILABLE: disk on fire"));
    EXPECT_GE(MetricValue(Get(port, "/metrics").body, "sluice_dead_letter_errors_total",
                          {"backend=\"memory\""}),
              1);
    EXPECT_EQ(Get(port, "/healthz").status, 200);

    dead_letters->set_failure(absl::OkStatus());
    ASSERT_TRUE(WaitUntil([&] { return Get(port, "/readyz").status == 200; }))
        << Get(port, "/readyz").body;
    EXPECT_EQ(dead_letters->size(), 5u);
    EXPECT_EQ(MetricValue(Get(port, "/metrics").body, "sluice_dead_letter_writes_total",
                          {"backend=\"memory\""}),
              5);
  }
  (*pipeline)->Drain(absl::Seconds(1));
  (*pipeline)->Wait();
}

TEST_F(OpsServerTest, AdminNeedsItsTokenAndIsOffUnlessEnabled) {
  CreateTopic("orders", 1);
  auto sink = std::make_shared<TestSinkState>();
  {
    OpsPipeline off(SourceOptions(broker(), "orders", "ops-admin-off"), sink, {.token = kToken});
    ASSERT_TRUE(off.ok());
    const Reply refused = Post(off.port(), "/admin/pause", kToken);
    EXPECT_EQ(refused.status, 403);
    EXPECT_THAT(refused.body, HasSubstr("admin actions are off"));
    // On loopback the read endpoints need no token.
    EXPECT_EQ(Get(off.port(), "/metrics").status, 200);
  }
  OpsPipeline on(SourceOptions(broker(), "orders", "ops-admin-on"), sink,
                 {.token = kToken, .admin = true});
  ASSERT_TRUE(on.ok());
  const Reply none = Post(on.port(), "/admin/pause");
  EXPECT_EQ(none.status, 401);
  EXPECT_THAT(none.body, HasSubstr("a bearer token is required"));
  const Reply wrong = Post(on.port(), "/admin/pause", "s3cret-tokem");
  EXPECT_EQ(wrong.status, 403);
  EXPECT_THAT(wrong.body, HasSubstr("wrong token"));
  EXPECT_THAT(wrong.body, Not(HasSubstr(kToken)));
  EXPECT_EQ(Get(on.port(), "/admin/paused").status, 401);
  EXPECT_FALSE(on.pipeline().paused());
  // A body beyond the bound: 413, nothing done.
  EXPECT_EQ(Post(on.port(), "/admin/pause", kToken, std::string(64 * 1024, 'x')).status, 413);
  EXPECT_FALSE(on.pipeline().paused());
  EXPECT_EQ(Get(on.port(), "/admin/paused", kToken).status, 200);
  // Admin without a token is a configuration error.
  const auto no_token =
      ops::OpsServer::Start(on.pipeline(), nullptr, {.address = "127.0.0.1:0", .admin = true});
  EXPECT_EQ(no_token.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OpsServerTest, PauseHoldsTheSourceWithoutRebalanceAndResumeLosesNothing) {
  TestProducer& producer = CreateTopic("orders", 4);
  producer.Produce(100);
  auto sink = std::make_shared<TestSinkState>();
  OpsPipeline pipeline(SourceOptions(broker(), "orders", "ops-pause"), sink,
                       {.token = kToken, .admin = true});
  ASSERT_TRUE(pipeline.ok());
  const int port = pipeline.port();
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 400; }));
  const std::set<int32_t> ids = pipeline.assignment_ids();
  ASSERT_EQ(ids.size(), 4u);

  const Reply paused = Post(port, "/admin/pause", kToken);
  ASSERT_EQ(paused.status, 200) << paused.body;
  EXPECT_THAT(paused.body, HasSubstr("\"paused\": true"));
  producer.Produce(100);
  // What was asked before the pause may still arrive; then nothing more.
  auto events_out = [&] {
    return MetricValue(Get(port, "/metrics").body, "sluice_stage_events_out_total",
                       {"stage=\"source\""});
  };
  double settled = events_out();
  ASSERT_TRUE(WaitUntil([&] {
    absl::SleepFor(absl::Milliseconds(300));
    const double now = events_out();
    const bool same = now == settled;
    settled = now;
    return same;
  }));
  // A window in which the source, had it not been paused, would have
  // emitted the 400 new events many times over.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(events_out(), settled);
  EXPECT_LT(sink->distinct().size(), 800u);
  const std::string metrics = Get(port, "/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "sluice_pipeline_paused"), 1);
  EXPECT_THAT(Get(port, "/admin/paused", kToken).body, HasSubstr("\"paused\": true"));

  ASSERT_EQ(Post(port, "/admin/resume", kToken).status, 200);
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 800; })) << sink->distinct().size();
  // Same assignments throughout: no rebalance.
  EXPECT_EQ(pipeline.assignment_ids(), ids);
  EXPECT_EQ(MetricValue(Get(port, "/metrics").body, "sluice_pipeline_paused"), 0);
}

TEST_F(OpsServerTest, OnePartitionPausedStaysPausedUntilResumedOthersFlow) {
  TestProducer& producer = CreateTopic("orders", 3);
  producer.Produce(50);
  auto sink = std::make_shared<TestSinkState>();
  OpsPipeline pipeline(SourceOptions(broker(), "orders", "ops-partition"), sink,
                       {.token = kToken, .admin = true});
  ASSERT_TRUE(pipeline.ok());
  const int port = pipeline.port();
  ASSERT_TRUE(WaitUntil([&] { return sink->distinct().size() == 150; }));
  const std::set<int32_t> ids = pipeline.assignment_ids();

  EXPECT_EQ(Post(port, "/admin/pause?stage=nope&topic=orders&partition=2", kToken).status, 404);
  EXPECT_EQ(Post(port, "/admin/pause?stage=source&topic=orders", kToken).status, 400);
  const Reply paused = Post(port, "/admin/pause?stage=source&topic=orders&partition=2", kToken);
  ASSERT_EQ(paused.status, 200) << paused.body;
  EXPECT_THAT(paused.body, HasSubstr("{\"stage\": \"source\", \"topic\": \"orders\", "
                                     "\"partition\": 2}"));
  ASSERT_TRUE(WaitUntil([&] {
    return MetricValue(Get(port, "/metrics").body, "sluice_kafka_partition_paused",
                       {"partition=\"2\""}) == 1;
  }));
  producer.Produce(50);
  auto count = [&](int32_t partition) {
    size_t n = 0;
    for (const Coordinates& at : sink->distinct()) n += at.partition == partition ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(WaitUntil([&] { return count(0) == 100 && count(1) == 100; }));
  // The source's buffer has room all along (it would resume a partition it
  // paused itself): partition 2 stays held.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(count(2), 50u);
  EXPECT_THAT(Get(port, "/admin/paused", kToken).body, HasSubstr("\"partition\": 2"));

  ASSERT_EQ(Post(port, "/admin/resume?stage=source&topic=orders&partition=2", kToken).status, 200);
  ASSERT_TRUE(WaitUntil([&] { return count(2) == 100; })) << count(2);
  EXPECT_EQ(sink->distinct().size(), 300u);
  EXPECT_EQ(pipeline.assignment_ids(), ids);
  EXPECT_EQ(Post(port, "/admin/resume?stage=source&topic=orders&partition=2", kToken).status, 404);
  EXPECT_THAT(Get(port, "/admin/paused", kToken).body, HasSubstr("\"partitions\": []"));
}

// A started pipeline whose source never emits: the endpoint's guards need
// a pipeline, not traffic.
absl::StatusOr<std::unique_ptr<Pipeline>> StartIdlePipeline() {
  PipelineBuilder builder({.name = "idle"});
  builder.AddProducer("none", [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
    class None final : public Producer {
      absl::Status HandleDemand(size_t, ProducerOutput&) override { return absl::OkStatus(); }
    };
    return std::make_unique<None>();
  });
  builder.AddConsumer("sink", MakeTestSink(std::make_shared<TestSinkState>()),
                      {.subscribe = {"none"}});
  auto pipeline = std::move(builder).Build();
  if (!pipeline.ok()) return pipeline.status();
  if (absl::Status started = (*pipeline)->Start(); !started.ok()) return started;
  return pipeline;
}

TEST(OpsServerBoundsTest, RequestsBeyondTheRateGet429) {
  auto pipeline = StartIdlePipeline();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  {
    // 1 a second, burst 2: of 10 requests at once, 2 pass.
    auto server = ops::OpsServer::Start(**pipeline, nullptr,
                                        {.address = "127.0.0.1:0", .requests_per_second = 1});
    ASSERT_TRUE(server.ok()) << server.status();
    int ok = 0, limited = 0;
    for (int i = 0; i < 10; ++i) {
      const Reply reply = Get((*server)->port(), "/healthz");
      ok += reply.status == 200 ? 1 : 0;
      limited += reply.status == 429 ? 1 : 0;
    }
    EXPECT_GE(ok, 2);
    EXPECT_LE(ok, 3);  // a token may accrue meanwhile
    EXPECT_EQ(ok + limited, 10);
  }
  (*pipeline)->Drain(absl::Seconds(1));
  (*pipeline)->Wait();
}

TEST(OpsServerBoundsTest, BeyondLoopbackEveryEndpointNeedsTheToken) {
  auto pipeline = StartIdlePipeline();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  {
    // Every interface: reached here through loopback all the same.
    auto server =
        ops::OpsServer::Start(**pipeline, nullptr, {.address = "0.0.0.0:0", .token = kToken});
    ASSERT_TRUE(server.ok()) << server.status();
    const int port = (*server)->port();
    for (const char* path : {"/metrics", "/healthz", "/readyz"}) {
      EXPECT_EQ(Get(port, path).status, 401) << path;
      EXPECT_EQ(Get(port, path, "wrong").status, 403) << path;
      const Reply ok = Get(port, path, kToken);
      EXPECT_EQ(ok.status, 200) << path;
      EXPECT_THAT(ok.body, Not(HasSubstr(kToken))) << path;
    }
  }
  (*pipeline)->Drain(absl::Seconds(1));
  (*pipeline)->Wait();
}

TEST(OpsServerAddressTest, ParsesHostPortAndKnowsLoopback) {
  auto parsed = ops::ParseListenAddress("0.0.0.0:9464");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->first, "0.0.0.0");
  EXPECT_EQ(parsed->second, 9464);
  EXPECT_EQ(ops::ParseListenAddress(":0")->first, "127.0.0.1");
  EXPECT_EQ(ops::ParseListenAddress("[::1]:80")->first, "::1");
  EXPECT_EQ(ops::ParseListenAddress("host:port").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ops::IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(ops::IsLoopbackHost("localhost"));
  EXPECT_FALSE(ops::IsLoopbackHost("0.0.0.0"));
}

}  // namespace
}  // namespace sluice::testing
