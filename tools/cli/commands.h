// File: tools/cli/commands.h
//
// One function per `sluice` command; cli.cc parses the command line and calls
// them. Each returns the process exit code: 0 ok, 1 runtime failure, 2 usage
// or config error (kExitOk, kExitRuntime, kExitConfig).
//
// Not thread-safe: called once from main().
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "pipeline/config/config_node.h"
#include "pipeline/config/pipeline_config.h"

namespace sluice::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitConfig = 2;

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

struct RunArgs {
  ConfigArgs config;
  // Print the live status line even when stderr is not a terminal.
  bool force_status = false;
  // No live status line.
  bool quiet = false;
};
int Run(const RunArgs& args);

struct ValidateArgs {
  ConfigArgs config;
  // Print the resolved config (variables and overrides applied, secrets masked).
  bool print = false;
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

}  // namespace sluice::cli
