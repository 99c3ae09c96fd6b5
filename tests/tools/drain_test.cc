// Issue #8, shutdown: `sluice run` on SIGTERM drains (sources stop, in-flight
// events finish, the sink flushes, offsets commit), prints its summary and
// exits 0; run again, it delivers the rest: every event at least once, none
// lost, duplicates no more than were in flight at the signal. Past
// shutdown_timeout it reports the unfinished events by count, leaves them
// uncommitted and exits 3; the next run redelivers them. A second signal
// ends the drain at once.
//
// The broker is an embedded one in this test process (over TCP), so it
// outlives each `sluice run`, as a real cluster would.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/kafka/embedded_broker.h"
#include "tests/connectors/kafka/kafka_test_util.h"
#include "tests/support/command.h"
#include "tests/tools/sluice_process.h"

#include "simdjson.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::SluiceProcess;
using testing::WriteFile;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

// Ids in the sink's output ({"id":N} per line), with their counts.
std::map<int64_t, int> IdsIn(const std::string& path) {
  std::map<int64_t, int> ids;
  simdjson::dom::parser parser;
  for (absl::string_view line : absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty())) {
    simdjson::dom::element root;
    int64_t id = 0;
    if (parser.parse(line.data(), line.size()).get(root) == simdjson::SUCCESS &&
        root["id"].get(id) == simdjson::SUCCESS) {
      ++ids[id];
    } else {
      ++ids[-1];  // a torn or foreign line: counted, so a test sees it
    }
  }
  return ids;
}

size_t LineCount(const std::string& path) {
  const std::string text = ReadFile(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The integer field `key` of the first JSON log line whose event is `event`;
// -1 if none.
int64_t LoggedField(const std::string& log, const std::string& event, const char* key) {
  simdjson::dom::parser parser;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    if (line.empty() || line[0] != '{') continue;
    simdjson::dom::element root;
    std::string_view name;
    int64_t value = 0;
    if (parser.parse(line.data(), line.size()).get(root) == simdjson::SUCCESS &&
        root["event"].get(name) == simdjson::SUCCESS && name == event &&
        root[key].get(value) == simdjson::SUCCESS) {
      return value;
    }
  }
  return -1;
}

class DrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::StartBroker();
    ASSERT_NE(broker_, nullptr);
    ASSERT_TRUE(broker_->CreateTopic("orders", 2).ok());
  }

  void Produce(int count) {
    std::vector<testing::KafkaMessage> messages;
    for (int i = 0; i < count; ++i) {
      messages.push_back({.key = absl::StrCat("k", i), .value = absl::StrCat("{\"id\":", i, "}")});
    }
    ASSERT_TRUE(testing::ProduceMessages(broker_->bootstrap_servers(), "orders", messages).ok());
  }

  // Kafka source (group "drain") -> `stages` (YAML list entries, the first
  // subscribing to `in`).
  std::string WriteConfig(const std::string& dir, const std::string& name,
                          const std::string& shutdown_timeout, const std::string& stages) {
    const std::string path = dir + "/" + name + ".yaml";
    WriteFile(path, absl::StrCat(R"(name: drain
data_dir: )",
                                 dir, R"(/data
shutdown_timeout: )",
                                 shutdown_timeout, R"(
log: {format: json}
stages:
  - name: in
    type: kafka
    brokers: ")",
                                 broker_->bootstrap_servers(), R"("
    group: drain
    topics: [orders]
    stop_when_idle: 2s
    properties: {fetch.wait.max.ms: 50, heartbeat.interval.ms: 100, session.timeout.ms: 6000}
)",
                                 stages));
    return path;
  }

  // in -> slow (delay `delay`, 20 at a time) -> out (file sink).
  std::string SlowToFile(const std::string& dir, const std::string& name,
                         const std::string& delay) {
    return WriteConfig(dir, name, "30s",
                       absl::StrCat(R"(  - name: slow
    type: delay
    subscribe: in
    duration: )",
                                    delay, R"(
    max_demand: 20
  - name: out
    type: file
    subscribe: slow
    path: )",
                                    dir, R"(/out.ndjson
)"));
  }

  // in -> out: a Kafka sink whose broker never answers (nothing listens on
  // its port), so no event it takes is ever acknowledged: a drain cannot
  // finish them.
  std::string StuckSink(const std::string& dir, const std::string& name,
                        const std::string& shutdown_timeout) {
    return WriteConfig(dir, name, shutdown_timeout,
                       absl::StrCat(R"(  - name: out
    type: kafka
    subscribe: in
    max_demand: 20
    brokers: "127.0.0.1:)",
                                    UnusedPort(), R"("
    topic: nowhere
    stop_timeout: 1s
    properties: {message.timeout.ms: 600000, reconnect.backoff.max.ms: 1000}
)"));
  }

  // A loopback port nothing listens on (bound, then closed).
  static int UnusedPort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof(address);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      ADD_FAILURE() << "no free port";
    }
    close(fd);
    return ntohs(address.sin_port);
  }

  // Until the live status line (--status) shows events emitted by the
  // source: some are in flight.
  static bool WaitUntilEmitting(SluiceProcess& process) {
    return process.WaitFor(
        [&] {
          const std::string err = process.Stderr();
          const size_t at = err.rfind("\033[Kin ");
          return at != std::string::npos && err.compare(at + 6, 2, "0 ") != 0;
        },
        absl::Seconds(60));
  }

  std::unique_ptr<connectors::kafka::EmbeddedBroker> broker_;
};

TEST_F(DrainTest, SigtermMidStreamThenRestartDeliversEveryEventAtLeastOnce) {
  constexpr int kEvents = 3000;
  Produce(kEvents);
  const std::string dir = MakeTempDir("drain");
  const std::string out = dir + "/out.ndjson";
  // 20 events at a time, 50ms each: about 400 events/s, so the run is
  // mid-stream for seconds.
  const std::string config = SlowToFile(dir, "slow", "50ms");

  SluiceProcess first({kSluice, "run", config, "--quiet"}, dir, "first");
  ASSERT_TRUE(first.started());
  ASSERT_TRUE(first.WaitFor([&] { return LineCount(out) >= 200; }, absl::Seconds(60)))
      << first.Stderr();
  first.Signal(SIGTERM);
  ASSERT_EQ(first.Wait(absl::Seconds(60)), 0) << first.Stderr();
  const std::string first_log = first.Stderr();
  EXPECT_THAT(first_log, HasSubstr("SIGTERM: draining"));
  EXPECT_THAT(first_log, HasSubstr("pipeline \"drain\" finished"));
  EXPECT_THAT(first_log, HasSubstr("[adds up]"));
  EXPECT_THAT(first_log, HasSubstr("\"event\":\"drain_started\""));
  EXPECT_THAT(first_log, HasSubstr("\"event\":\"drain_finished\""));
  EXPECT_EQ(LoggedField(first_log, "drain_finished", "unfinished"), 0) << first_log;
  const int64_t in_flight_at_signal = LoggedField(first_log, "drain_started", "in_flight");
  ASSERT_GE(in_flight_at_signal, 0) << first_log;
  const size_t first_lines = LineCount(out);
  ASSERT_LT(first_lines, static_cast<size_t>(kEvents)) << "the first run was not mid-stream";

  // The rest, to the end (stop_when_idle).
  SluiceProcess second({kSluice, "run", config, "--quiet"}, dir, "second");
  ASSERT_EQ(second.Wait(absl::Seconds(120)), 0) << second.Stderr();

  const std::map<int64_t, int> ids = IdsIn(out);
  EXPECT_FALSE(ids.contains(-1)) << "a line that is not an event";
  std::vector<int> missing;
  int64_t duplicates = 0;
  for (int id = 0; id < kEvents; ++id) {
    auto it = ids.find(id);
    if (it == ids.end()) {
      missing.push_back(id);
    } else {
      duplicates += it->second - 1;
    }
  }
  EXPECT_THAT(missing, ::testing::IsEmpty());
  EXPECT_EQ(ids.size(), static_cast<size_t>(kEvents));
  // The drain committed what it finished: at most what was in flight when
  // the signal came is read again.
  EXPECT_LE(duplicates, in_flight_at_signal);
}

TEST_F(DrainTest, DrainPastShutdownTimeoutReportsUnfinishedAndExitsThree) {
  constexpr int kEvents = 100;
  Produce(kEvents);
  const std::string dir = MakeTempDir("drain-timeout");
  const std::string out = dir + "/out.ndjson";
  const std::string stuck = StuckSink(dir, "stuck", "1s");

  SluiceProcess first({kSluice, "run", stuck, "--status"}, dir, "stuck");
  ASSERT_TRUE(first.started());
  ASSERT_TRUE(WaitUntilEmitting(first)) << first.Stderr();
  first.Signal(SIGTERM);
  const int exit_code = first.Wait(absl::Seconds(60));
  const std::string log = first.Stderr();
  EXPECT_EQ(exit_code, 3) << log;
  const int64_t unfinished = LoggedField(log, "drain_finished", "unfinished");
  EXPECT_GT(unfinished, 0) << log;
  EXPECT_LE(unfinished, kEvents);
  EXPECT_THAT(log, HasSubstr(absl::StrCat(
                       "sluice: ", unfinished,
                       " events unfinished, left uncommitted for redelivery (exit code 3)")));

  // Uncommitted, so a run with a sink that works gets every event.
  const std::string quick = SlowToFile(dir, "quick", "1ms");
  SluiceProcess second({kSluice, "run", quick, "--quiet"}, dir, "quick");
  ASSERT_EQ(second.Wait(absl::Seconds(120)), 0) << second.Stderr();
  const std::map<int64_t, int> ids = IdsIn(out);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kEvents));
  for (int id = 0; id < kEvents; ++id) EXPECT_EQ(ids.count(id), 1u) << id;
}

// A second signal does not wait for the timeout: it stops at once, still
// committing only what was done (exit 3, the unfinished counted).
TEST_F(DrainTest, SecondSignalStopsAtOnce) {
  constexpr int kEvents = 100;
  Produce(kEvents);
  const std::string dir = MakeTempDir("drain-twice");
  const std::string stuck = StuckSink(dir, "stuck", "10m");
  SluiceProcess run({kSluice, "run", stuck, "--status"}, dir, "twice");
  ASSERT_TRUE(WaitUntilEmitting(run)) << run.Stderr();
  run.Signal(SIGTERM);
  ASSERT_TRUE(run.WaitForStderr("\"event\":\"drain_started\"", absl::Seconds(30)));
  run.Signal(SIGTERM);
  // Far less than the 10-minute shutdown_timeout.
  EXPECT_EQ(run.Wait(absl::Seconds(60)), 3) << run.Stderr();
  EXPECT_THAT(run.Stderr(), HasSubstr("stopping now; unfinished events stay uncommitted"));
  EXPECT_THAT(run.Stderr(), HasSubstr("\"event\":\"drain_cut_short\""));
}

}  // namespace
}  // namespace sluice
