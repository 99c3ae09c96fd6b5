// File: tools/cli/commands.h
//
// One function per `sluice` command; cli.cc parses the command line and calls
// them. Each returns the process exit code: 0 ok, 1 runtime failure, 2 usage
// or config error, 3 a drain that timed out (kExitOk, kExitRuntime,
// kExitConfig, kExitDrainTimeout).
//
// Not thread-safe: called once from main().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "pipeline/config/config_node.h"
#include "pipeline/config/pipeline_config.h"

namespace sluice::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitConfig = 2;
// `sluice run`: a drain (SIGINT/SIGTERM) reached shutdown_timeout with events
// unfinished; they were left uncommitted, for redelivery.
inline constexpr int kExitDrainTimeout = 3;

struct ConfigArgs {
  std::string config_path;
  // "path=value" overrides (`--set`).
  std::vector<std::string> overrides;
};

// A pipeline file as read (variables and overrides applied) and as checked.
struct LoadedConfig {
  ConfigNode root;
  PipelineConfig config;
};

// Reads, interpolates and checks a pipeline file. Errors are printed by the
// caller: one "file:line:column: message" per line.
absl::StatusOr<LoadedConfig> LoadConfig(const ConfigArgs& args);
// Prints a load error to stderr and returns kExitConfig.
int ReportConfigError(const absl::Status& status);
// Registers every value the config marks secret (config::IsSecretKey) with
// the log (pipeline/log.h AddSecret): no log line, summary or dead-letter
// error text carries them (tools/cli/run_command.cc).
void RegisterConfigSecrets(const ConfigNode& root);

struct RunArgs {
  ConfigArgs config;
  // Print the live status line even when stderr is not a terminal.
  bool force_status = false;
  // No live status line.
  bool quiet = false;
  // --metrics-address HOST:PORT: serve /metrics, /healthz, /readyz there
  // (tools/ops/ops_server.h); overrides the config's `metrics.address`.
  // Port 0 picks a free one. "" = the config's (none: no endpoint).
  std::string metrics_address;
  // --log-format text|json; "" = the config's `log.format`.
  std::string log_format;
};
int Run(const RunArgs& args);

struct BenchArgs {
  ConfigArgs config;
  // --events N: `count` of every generator source.
  std::optional<int64_t> events;
  // --duration / --warmup: "10s", "500ms"; empty for none.
  std::string duration;
  std::string warmup;
  int runs = 3;
  // --json FILE ("-": stdout).
  std::string json_path;
  bool compare = false;
};
// tools/cli/bench_command.cc
int Bench(const BenchArgs& args);

struct ValidateArgs {
  ConfigArgs config;
  // Print the resolved config (variables and overrides applied, secrets masked).
  bool print = false;
  // Also check what the config connects to (tools/cli/validate_connect.h):
  // Kafka brokers answer, topics exist, dead-letter targets are writable.
  bool connect = false;
  // With `connect`: how long each broker check waits ("5s", "500ms").
  std::string timeout = "10s";
};
int Validate(const ValidateArgs& args);

struct GraphArgs {
  ConfigArgs config;
  std::string format = "text";  // text | dot
};
int Graph(const GraphArgs& args);

struct TestArgs {
  ConfigArgs config;
  // The tests file; "" = <config stem>_test.yaml beside the config.
  std::string tests_path;
};
// Exit code 1 when a test fails, with a readable diff on stdout.
int Test(const TestArgs& args);

struct BrokerArgs {
  // "name[:partitions],..." topics to create at start (partitions default to 4).
  std::string topics;
  // Brokers in the cluster. Defaults to 1.
  int brokers = 1;
  // A fixed port: not supported by librdkafka 2.0.2's mock cluster (an error
  // saying so); 0 = unset.
  int port = 0;
};
// Runs an embedded Kafka broker (connectors/kafka/embedded_broker.h) until
// SIGINT/SIGTERM; prints its bootstrap address alone on stdout's first line.
int Broker(const BrokerArgs& args);

struct TopArgs {
  // HOST:PORT of a running pipeline's operations endpoint (its config's
  // `metrics: {address: ...}` or `sluice run --metrics-address`).
  std::string address = "127.0.0.1:9464";
  // Bearer token for the endpoint; "" = $SLUICE_METRICS_TOKEN if set.
  std::string token;
  // One plain-text table (after two scrapes `interval_seconds` apart), then exit.
  bool once = false;
  double interval_seconds = 1;
};
// A live view of a running pipeline's stages and Kafka partitions, read from
// its /metrics (tools/cli/top_command.cc). Exit code 1 when nothing answers.
int Top(const TopArgs& args);

// Where a dlq command finds a Kafka dead-letter queue's brokers: `--brokers`
// (and `-X name=value` librdkafka properties), or a pipeline file's
// `dead_letter:` block (`--config`).
struct DlqKafkaArgs {
  std::string brokers;
  std::vector<std::string> properties;
  std::string config_path;
  // How long the brokers may take to answer ("10s").
  std::string timeout = "10s";
};

struct DlqInspectArgs {
  // A file path or kafka://<topic>.
  std::string dlq;
  DlqKafkaArgs kafka;
  bool json = false;
  // Sample records shown with their headers. Defaults to 3.
  int samples = 3;
};
// Summarises a dead-letter queue: counts by stage and by error, the failed_at
// range, damage (file), samples (tools/cli/dlq_inspect_command.cc).
int DlqInspect(const DlqInspectArgs& args);

struct DlqReplayArgs {
  std::string dlq;
  DlqKafkaArgs kafka;
  // Every record to this topic instead of its sluice.dlq.source.topic.
  std::string to;
  // Filters; empty = any.
  std::string stage;
  std::string error_regex;  // RE2, partial match on sluice.dlq.error
  std::string since;        // failed_at >= since (RFC 3339, or a duration ago: "2h")
  std::string until;        // failed_at < until
  std::string offsets;      // "A-B" (inclusive) or "A-": Kafka offsets / file record indexes
  bool dry_run = false;
  double rate = 0;  // records per second; 0 = unlimited
  int64_t max = 0;  // at most this many records sent (replayed + parked); 0 = all
  int max_replays = 3;
  // Where records at max_replays go: a topic (Kafka DLQ; default <topic>.parked)
  // or a file (file DLQ; default <path>.parked).
  std::string park;
  // Ignore the stored position: start at the queue's beginning.
  bool from_start = false;
  // Records produced and not yet confirmed, at most.
  int in_flight = 500;
};
// Re-publishes dead letters to their source topics, resumably
// (tools/cli/dlq_replay_command.cc).
int DlqReplay(const DlqReplayArgs& args);

}  // namespace sluice::cli
