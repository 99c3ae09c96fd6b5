// `sluice top`: the Prometheus text parser, the rates and tables made from two
// scrapes, and the command against an HTTP server of the test's own serving
// canned /metrics text (exact output, exit codes), against nothing, and
// against a running `sluice run --metrics-address`.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/command.h"
#include "tests/tools/sluice_process.h"
#include "tools/cli/top_metrics_text.h"
#include "tools/cli/top_model.h"
#include "tools/cli/top_render.h"

#include "httplib.h"

namespace sluice::cli {
namespace {

using sluice::testing::CommandResult;
using sluice::testing::MakeTempDir;
using sluice::testing::ReadFile;
using sluice::testing::RunCommand;
using sluice::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

const std::string kSluice = std::string(SLUICE_BINARY_DIR) + "/tools/sluice";

// In a forked child of this multi-threaded process: stdout and stderr to
// files, with async-signal-safe calls only (stdio's locks may be held by a
// thread that does not exist in the child).
void RedirectInChild(const char* stdout_path, const char* stderr_path) {
  const int out = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0 || err < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
    _exit(126);
  }
}

// --- The parser -------------------------------------------------------------

TEST(MetricsTextTest, ParsesSamplesLabelsAndTypes) {
  absl::StatusOr<MetricsText> text = ParseMetricsText(
      "# HELP sluice_stage_events_in_total Events delivered to a stage instance.\n"
      "# TYPE sluice_stage_events_in_total counter\n"
      "sluice_stage_events_in_total{pipeline=\"orders\",stage=\"parse\",instance=\"0\"} 1027\n"
      "\n"
      "# a comment that is neither HELP nor TYPE\n"
      "sluice_uptime_seconds 12.5\n"
      "  spaced_out { a = \"1\" , b=\"2\", }   3e2  \n"
      "with_timestamp{x=\"y\"} -4 1700000000000\r\n");
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_EQ(text->samples.size(), 4u);
  EXPECT_EQ(text->samples[0].name, "sluice_stage_events_in_total");
  EXPECT_THAT(text->samples[0].labels, ElementsAre(Pair("pipeline", "orders"),
                                                   Pair("stage", "parse"), Pair("instance", "0")));
  EXPECT_EQ(text->samples[0].value, 1027);
  EXPECT_EQ(text->samples[0].label("stage"), "parse");
  EXPECT_EQ(text->samples[0].label("absent"), "");
  EXPECT_EQ(text->samples[1].name, "sluice_uptime_seconds");
  EXPECT_TRUE(text->samples[1].labels.empty());
  EXPECT_EQ(text->samples[1].value, 12.5);
  EXPECT_THAT(text->samples[2].labels, ElementsAre(Pair("a", "1"), Pair("b", "2")));
  EXPECT_EQ(text->samples[2].value, 300);
  EXPECT_EQ(text->samples[3].value, -4);
  EXPECT_EQ(text->types.at("sluice_stage_events_in_total"), "counter");
}

TEST(MetricsTextTest, UnescapesLabelValues) {
  absl::StatusOr<MetricsText> text =
      ParseMetricsText(R"(m{path="C:\\dir\\x",quote="say \"hi\"",lines="one\ntwo",brace="}{,="} 1)"
                       "\n");
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_EQ(text->samples.size(), 1u);
  EXPECT_EQ(text->samples[0].label("path"), R"(C:\dir\x)");
  EXPECT_EQ(text->samples[0].label("quote"), R"(say "hi")");
  EXPECT_EQ(text->samples[0].label("lines"), "one\ntwo");
  EXPECT_EQ(text->samples[0].label("brace"), "}{,=");
}

TEST(MetricsTextTest, ParsesSpecialValues) {
  absl::StatusOr<MetricsText> text = ParseMetricsText("a NaN\nb +Inf\nc -Inf\nd Inf\ne +7\n");
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_EQ(text->samples.size(), 5u);
  EXPECT_TRUE(std::isnan(text->samples[0].value));
  EXPECT_EQ(text->samples[1].value, HUGE_VAL);
  EXPECT_EQ(text->samples[2].value, -HUGE_VAL);
  EXPECT_EQ(text->samples[3].value, HUGE_VAL);
  EXPECT_EQ(text->samples[4].value, 7);
}

// A histogram's series parse as plain samples; top keeps none of them.
TEST(MetricsTextTest, HistogramSeriesParseAndTopIgnoresThem) {
  absl::StatusOr<MetricsText> text = ParseMetricsText(
      "# TYPE sluice_stage_processing_seconds histogram\n"
      "sluice_stage_processing_seconds_bucket{pipeline=\"p\",stage=\"s\",instance=\"0\",le=\"0."
      "001\"} 5\n"
      "sluice_stage_processing_seconds_bucket{pipeline=\"p\",stage=\"s\",instance=\"0\",le=\"+"
      "Inf\"} 7\n"
      "sluice_stage_processing_seconds_sum{pipeline=\"p\",stage=\"s\",instance=\"0\"} 0.25\n"
      "sluice_stage_processing_seconds_count{pipeline=\"p\",stage=\"s\",instance=\"0\"} 7\n");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->types.at("sluice_stage_processing_seconds"), "histogram");
  ASSERT_EQ(text->samples.size(), 4u);
  EXPECT_EQ(text->samples[1].label("le"), "+Inf");
  EXPECT_EQ(text->samples[1].value, 7);
  EXPECT_EQ(text->samples[2].value, 0.25);
  EXPECT_TRUE(MakeTopScrape(*text, absl::UnixEpoch()).stages.empty());
}

TEST(MetricsTextTest, MalformedLinesNameTheirLine) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"ok 1\nbad{a=\"x} 1\n", "line 2: label value not terminated by '\"'"},
      {"ok 1\n\n# HELP x y\nm{a=\"\\t\"} 1\n", "line 4: unknown escape '\\t' in a label value"},
      {"m one\n", "line 1: value \"one\" of m is not a number"},
      {"m{a=\"1\"}\n", "line 1: no value for m"},
      {"m{a=\"1\" b=\"2\"} 1\n", "line 1: expected ',' or '}' after a label value"},
      {"m{a} 1\n", "line 1: expected '=' after label a"},
      {"m{a=1} 1\n", "line 1: expected '\"' to open a label value"},
      {"m{a=\"1\"\n", "line 1: label set not closed by '}'"},
      {"m 1 2 3\n", "line 1: unexpected \"2 3\" after the value of m"},
      {"9m 1\n", "line 1: expected a metric name"},
      {"m{a:b=\"1\"} 1\n", "line 1: label name \"a:b\" may not contain ':'"},
      {"a 1\nb 2\n# TYPE c countr\n", "line 3: unknown metric type \"countr\" for c"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<MetricsText> text = ParseMetricsText(c.text);
    ASSERT_FALSE(text.ok()) << c.text;
    EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(text.status().message(), c.error) << c.text;
  }
}

// --- Rates and tables from a known pair of scrapes ----------------------------

// A pipeline "orders": a Kafka source, a parse stage with two instances, a
// sink. Every counter is `per_second * uptime` plus an offset, so that two
// scrapes at uptime 10 and 12 give exact rates.
std::string Exposition(double uptime) {
  const auto count = [uptime](double per_second, double offset = 0) {
    return absl::StrCat(per_second * uptime + offset);
  };
  const std::string stage_labels[] = {
      R"(pipeline="orders",stage="from_kafka",instance="0")",
      R"(pipeline="orders",stage="parse",instance="1")",
      R"(pipeline="orders",stage="parse",instance="0")",
      R"(pipeline="orders",stage="publish",instance="0")",
  };
  std::string text = absl::StrCat(
      "# HELP sluice_uptime_seconds Seconds since the process started\n"
      "# TYPE sluice_uptime_seconds gauge\n"
      "sluice_uptime_seconds ",
      uptime,
      "\n"
      "# TYPE sluice_build_info gauge\n"
      "sluice_build_info{version=\"0.1.0\",build_type=\"Release\"} 1\n"
      "# TYPE sluice_pipeline_draining gauge\n"
      "sluice_pipeline_draining{pipeline=\"orders\"} 0\n"
      "# TYPE sluice_stage_events_in_total counter\n");
  const double in_rates[] = {0, 5000, 5000, 9995};
  const double out_rates[] = {10000, 5000, 4995, 9995};
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&text, "sluice_stage_events_in_total{", stage_labels[i], "} ",
                    count(in_rates[i], 7), "\n");
  }
  absl::StrAppend(&text, "# TYPE sluice_stage_events_out_total counter\n");
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&text, "sluice_stage_events_out_total{", stage_labels[i], "} ",
                    count(out_rates[i]), "\n");
  }
  absl::StrAppend(
      &text,
      "# TYPE sluice_stage_mailbox_depth gauge\n"
      "sluice_stage_mailbox_depth{",
      stage_labels[2], "} 12\n", "sluice_stage_mailbox_depth{", stage_labels[3], "} 3\n",
      "# TYPE sluice_stage_outstanding_demand gauge\n", "sluice_stage_outstanding_demand{",
      stage_labels[0], "} 2000\n", "sluice_stage_outstanding_demand{", stage_labels[1], "} 500\n",
      "sluice_stage_outstanding_demand{", stage_labels[2], "} 1000\n",
      "sluice_stage_outstanding_demand{", stage_labels[3], "} 1000\n",
      "# TYPE sluice_stage_restarts_total counter\n", "sluice_stage_restarts_total{",
      stage_labels[1], "} 2\n", "# TYPE sluice_stage_events_dead_lettered_total counter\n",
      "sluice_stage_events_dead_lettered_total{", stage_labels[2], "} 10\n",
      "# TYPE sluice_stage_processing_seconds histogram\n",
      "sluice_stage_processing_seconds_bucket{", stage_labels[2], ",le=\"+Inf\"} 99\n",
      "sluice_stage_processing_seconds_sum{", stage_labels[2], "} 0.5\n",
      "sluice_stage_processing_seconds_count{", stage_labels[2], "} 99\n",
      "# TYPE sluice_kafka_partition_lag gauge\n");
  const std::string partition_labels[] = {"partition=\"10\"", "partition=\"2\""};
  const double lags[] = {0, 1500};
  for (int i = 0; i < 2; ++i) {
    absl::StrAppend(&text, "sluice_kafka_partition_lag{", stage_labels[0], ",topic=\"orders\",",
                    partition_labels[i], "} ", lags[i], "\n");
  }
  absl::StrAppend(&text, "# TYPE sluice_kafka_partition_committed_offset gauge\n");
  for (int i = 0; i < 2; ++i) {
    absl::StrAppend(&text, "sluice_kafka_partition_committed_offset{", stage_labels[0],
                    ",topic=\"orders\",", partition_labels[i], "} ", 15000 + i, "\n");
  }
  absl::StrAppend(&text, "# TYPE sluice_kafka_partition_paused gauge\n",
                  "sluice_kafka_partition_paused{", stage_labels[0], ",topic=\"orders\",",
                  partition_labels[1], "} 1\n");
  return text;
}

// What `sluice top` shows for Exposition(10) then Exposition(12): rates over
// the 2s of uptime between them, rows in stage and instance order, partitions
// in numeric order.
std::string ExpectedTable(const std::string& address) {
  return absl::StrCat("sluice top: http://", address, ", sluice 0.1.0, up 12s, rates over 2.0s\n",
                      R"(pipeline "orders"
STAGE       INSTANCE   IN/s   OUT/s  MAILBOX  DEMAND  RESTARTS  DEAD-LETTERED
from_kafka  0             0  10,000        0   2,000         0              0
parse       0         5,000   4,995       12   1,000         0             10
parse       1         5,000   5,000        0     500         2              0
publish     0         9,995   9,995        3   1,000         0              0

KAFKA PARTITION  STAGE       INSTANCE    LAG  COMMITTED  PAUSED
orders/2         from_kafka  0         1,500     15,001     yes
orders/10        from_kafka  0             0     15,000      no
)");
}

TopScrape ScrapeOf(const std::string& exposition, absl::Time at) {
  absl::StatusOr<MetricsText> text = ParseMetricsText(exposition);
  EXPECT_TRUE(text.ok()) << text.status();
  return MakeTopScrape(text.ok() ? *text : MetricsText{}, at);
}

TEST(TopViewTest, RatesAreCounterIncreasesOverTheUptimeBetweenScrapes) {
  // The scrapes arrived 5s apart by our clock, but the exporter's uptime says
  // 2s passed between its readings: that is the interval.
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const TopView view =
      MakeTopView(ScrapeOf(Exposition(10), t0), ScrapeOf(Exposition(12), t0 + absl::Seconds(5)));
  EXPECT_EQ(view.interval, absl::Seconds(2));
  EXPECT_EQ(RenderTopText(view, "127.0.0.1:9464"), ExpectedTable("127.0.0.1:9464"));
}

TEST(TopViewTest, WithoutUptimeTheArrivalTimesGiveTheInterval) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const std::string labels = R"({pipeline="p",stage="s",instance="0"})";
  const TopView view = MakeTopView(
      ScrapeOf("sluice_stage_events_in_total" + labels + " 100\n", t0),
      ScrapeOf("sluice_stage_events_in_total" + labels + " 400\n", t0 + absl::Milliseconds(500)));
  ASSERT_EQ(view.stages.size(), 1u);
  EXPECT_EQ(view.stages[0].in_per_second, 600);
}

TEST(TopViewTest, ACounterThatWentDownCountsFromZero) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const std::string labels = R"({pipeline="p",stage="s",instance="0"})";
  const TopView view = MakeTopView(
      ScrapeOf("sluice_stage_events_out_total" + labels + " 5000\n", t0),
      ScrapeOf("sluice_stage_events_out_total" + labels + " 300\n", t0 + absl::Seconds(1)));
  ASSERT_EQ(view.stages.size(), 1u);
  EXPECT_EQ(view.stages[0].out_per_second, 300);
}

TEST(TopViewTest, InstancesSortNumerically) {
  std::string text;
  for (int instance : {10, 2, 0, 1}) {
    absl::StrAppend(&text, "sluice_stage_mailbox_depth{pipeline=\"p\",stage=\"s\",instance=\"",
                    instance, "\"} 0\n");
  }
  const TopScrape scrape = ScrapeOf(text, absl::UnixEpoch());
  std::vector<std::string> order;
  for (const TopStageSample& sample : scrape.stages) order.push_back(sample.instance);
  EXPECT_THAT(order, ElementsAre("0", "1", "2", "10"));
}

TEST(TopViewTest, TheTerminalFrameRedrawsInPlace) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const std::string frame = RenderTopFrame(
      MakeTopView(ScrapeOf(Exposition(10), t0), ScrapeOf(Exposition(12), t0)), "h:1");
  EXPECT_EQ(frame.rfind("\033[H", 0), 0u);  // cursor home, no full clear
  EXPECT_THAT(frame, HasSubstr("parse       0         5,000   4,995       12   1,000         0"
                               "             10\033[K\n"));
  EXPECT_THAT(frame, ::testing::EndsWith("Ctrl-C to quit\033[K\033[J"));
}

// --- `sluice top` against a server of the test's own ---------------------------

// Serves GET /metrics from a list of bodies: the first request gets the first,
// later ones the next, the last repeats. With a token, anything without
// "Authorization: Bearer <token>" gets 401.
class CannedMetricsServer {
 public:
  explicit CannedMetricsServer(std::vector<std::string> bodies, std::string token = "")
      : bodies_(std::move(bodies)), token_(std::move(token)) {
    server_.Get("/metrics", [this](const httplib::Request& request, httplib::Response& response) {
      if (!token_.empty() && request.get_header_value("Authorization") != "Bearer " + token_) {
        response.status = 401;
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      response.set_content(bodies_[std::min(served_, bodies_.size() - 1)],
                           "text/plain; version=0.0.4");
      ++served_;
    });
    // Bound and listening on return: a client that connects before the
    // accept loop runs waits in the backlog.
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~CannedMetricsServer() {
    server_.stop();
    thread_.join();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  size_t served() {
    std::lock_guard<std::mutex> lock(mu_);
    return served_;
  }

 private:
  httplib::Server server_;
  std::vector<std::string> bodies_;
  std::string token_;
  std::mutex mu_;
  size_t served_ = 0;
  int port_ = 0;
  std::thread thread_;
};

TEST(TopCommandTest, OncePrintsTheTableOfTwoScrapes) {
  CannedMetricsServer server({Exposition(10), Exposition(12)});
  CommandResult result =
      RunCommand({kSluice, "top", "--once", "--interval", "0.1", "--address", server.address()});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_text, ExpectedTable(server.address()));
  EXPECT_EQ(result.stderr_text, "");
  EXPECT_EQ(server.served(), 2u);
}

// Over a pipe, without --once: a plain-text table every interval, no escape
// codes, until a signal; then exit 0.
TEST(TopCommandTest, OverAPipeItPrintsPlainTablesUntilInterrupted) {
  CannedMetricsServer server({Exposition(10), Exposition(12), Exposition(14)});
  const std::string dir = MakeTempDir("top-pipe");
  const std::string out = dir + "/stdout";
  const std::string address = server.address();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    RedirectInChild(out.c_str(), "/dev/null");
    execl(kSluice.c_str(), kSluice.c_str(), "top", "--interval", "0.05", "--address",
          address.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 3000 && server.served() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_GE(server.served(), 4u);
  const std::string text = ReadFile(out);
  EXPECT_EQ(text.find('\033'), std::string::npos);
  // The first table is rates between the first two scrapes, and so on.
  EXPECT_EQ(text.rfind(ExpectedTable(address) + "\n", 0), 0u) << text;
  EXPECT_THAT(text, HasSubstr("up 14s, rates over 2.0s"));
}

TEST(TopCommandTest, ABearerTokenComesFromTheFlagOrTheEnvironment) {
  CannedMetricsServer server({Exposition(10), Exposition(12)}, "s3cret");
  CommandResult refused =
      RunCommand({kSluice, "top", "--once", "--interval", "0.01", "--address", server.address()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.stdout_text, "");
  EXPECT_EQ(refused.stderr_text,
            absl::StrCat("sluice top: ", server.address(),
                         "/metrics answered 401: it wants a bearer token (--token, or "
                         "SLUICE_METRICS_TOKEN)\n"));

  CommandResult wrong = RunCommand({kSluice, "top", "--once", "--interval", "0.01", "--address",
                                    server.address(), "--token", "guess"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.stderr_text, HasSubstr("answered 401: the token was refused"));
  EXPECT_THAT(wrong.stderr_text, ::testing::Not(HasSubstr("guess")));

  // A fresh server for each: the rates need its first two bodies.
  CannedMetricsServer for_flag({Exposition(10), Exposition(12)}, "s3cret");
  CommandResult flag = RunCommand({kSluice, "top", "--once", "--interval", "0.01", "--address",
                                   for_flag.address(), "--token", "s3cret"});
  EXPECT_EQ(flag.exit_code, 0) << flag.stderr_text;
  EXPECT_THAT(flag.stdout_text, HasSubstr("publish     0         9,995   9,995"));

  CannedMetricsServer for_env({Exposition(10), Exposition(12)}, "s3cret");
  CommandResult env = RunCommand({"env", "SLUICE_METRICS_TOKEN=s3cret", kSluice, "top", "--once",
                                  "--interval", "0.01", "--address", for_env.address()});
  EXPECT_EQ(env.exit_code, 0) << env.stderr_text;
  EXPECT_THAT(env.stdout_text, HasSubstr("publish     0         9,995   9,995"));
}

TEST(TopCommandTest, ABodyThatIsNotTheExpositionFormatIsAnError) {
  CannedMetricsServer server({"# TYPE m counter\nm{stage=\"a} 1\n"});
  CommandResult result =
      RunCommand({kSluice, "top", "--once", "--interval", "0.01", "--address", server.address()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.stderr_text,
            absl::StrCat("sluice top: ", server.address(),
                         "/metrics is not the Prometheus text format: line 2: label value not "
                         "terminated by '\"'\n"));
}

TEST(TopCommandTest, NothingListeningIsAClearErrorAndExitCodeOne) {
  // A bound socket that never listens: connections to it are refused, and no
  // one else can take the port while the test holds it.
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(socket_fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string target = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));

  CommandResult result = RunCommand({kSluice, "top", "--once", "--address", target});
  close(socket_fd);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.stdout_text, "");
  EXPECT_EQ(result.stderr_text,
            absl::StrCat("sluice top: nothing answers at ", target,
                         " (Connection): is the pipeline running with `sluice run CONFIG "
                         "--metrics-address ",
                         target, "`?\n"));
}

TEST(TopCommandTest, AMalformedAddressIsAUsageError) {
  CommandResult result = RunCommand({kSluice, "top", "--once", "--address", "localhost"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text,
              HasSubstr("--address \"localhost\" is not HOST:PORT (e.g. 127.0.0.1:9464)"));
}

// --- `sluice top` against a running pipeline ---------------------------------

// Issue #8's "sluice top --once against a running pipeline": every stage of
// the config has a row, and events move through each of them.
TEST(TopCommandTest, OnceAgainstARunningPipelineShowsEveryStageMoving) {
  const std::string dir = MakeTempDir("top-run");
  const std::string config = dir + "/endless.yaml";
  WriteFile(config, R"(name: endless
stages:
  - {name: gen, type: generator, count: 0, rate: 20000, payload_bytes: 100}
  - {name: keep, type: sample, subscribe: gen, rate: 1}
  - {name: sink, type: "null", subscribe: keep}
)");
  testing::SluiceProcess run(
      {kSluice, "run", config, "--quiet", "--metrics-address", "127.0.0.1:0"}, dir, "run");
  ASSERT_TRUE(run.started());
  const std::string address = testing::MetricsAddress(run);
  ASSERT_FALSE(address.empty()) << run.Stderr();

  CommandResult top =
      RunCommand({kSluice, "top", "--once", "--interval", "0.5", "--address", address});
  ASSERT_EQ(top.exit_code, 0) << top.stderr_text;
  EXPECT_THAT(top.stdout_text, HasSubstr("pipeline \"endless\"\n"));
  // "STAGE INSTANCE IN/s OUT/s MAILBOX DEMAND RESTARTS DEAD-LETTERED" rows.
  std::vector<std::string> stages;
  for (absl::string_view line : absl::StrSplit(top.stdout_text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> columns = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (columns.size() != 8 || columns[0] == "STAGE") continue;
    stages.push_back(columns[0]);
    EXPECT_EQ(columns[1], "0") << line;
    // The generator's events go out; the others' come in.
    const std::string& rate = columns[0] == "gen" ? columns[3] : columns[2];
    EXPECT_NE(rate, "0") << "no events moving in: " << line << "\n" << top.stdout_text;
  }
  EXPECT_THAT(stages, ElementsAre("gen", "keep", "sink")) << top.stdout_text;
  run.Signal(SIGINT);
  EXPECT_EQ(run.Wait(absl::Seconds(30)), 0) << run.Stderr();
}

}  // namespace
}  // namespace sluice::cli
