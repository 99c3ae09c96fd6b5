#include "tools/cli/cli.h"

#include <iostream>
#include <string>

#include "CLI/CLI.hpp"

#include "tools/cli/commands.h"

namespace sluice::cli {
namespace {

constexpr const char* kFooter = R"(Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
Docs: docs/configuration.md, docs/stages.md.
)";

void AddConfigArgs(CLI::App& command, ConfigArgs& args) {
  command.add_option("config", args.config_path, "Pipeline file (YAML)")->required();
  command.add_option("--set", args.overrides,
                     "Override a config value: path=value, e.g. stages.parse.concurrency=4 "
                     "(repeatable)");
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app("sluice: a staged stream-processing engine", "sluice");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.set_version_flag("--version", "sluice 0.1.0");

  RunArgs run_args;
  CLI::App* run =
      app.add_subcommand("run", "Run a pipeline until its sources end or SIGINT/SIGTERM");
  AddConfigArgs(*run, run_args.config);
  run->add_flag("--status", run_args.force_status,
                "Print the live status line even when stderr is not a terminal");
  run->add_flag("--quiet", run_args.quiet, "No live status line");
  run->footer(R"(Examples:
  sluice run configs/quickstart.yaml
  sluice run configs/file-json.yaml --set stages.parse.concurrency=4
On SIGINT/SIGTERM the sources stop, in-flight events finish (within shutdown_timeout),
sinks flush, and a summary is printed. A second signal stops at once; unfinished
events stay uncommitted.)");

  ValidateArgs validate_args;
  CLI::App* validate = app.add_subcommand("validate", "Check a pipeline file without running it");
  AddConfigArgs(*validate, validate_args.config);
  validate->add_flag("--print", validate_args.print,
                     "Print the resolved config (variables applied, secrets masked)");
  validate->footer(R"(Examples:
  sluice validate configs/quickstart.yaml
  sluice validate pipeline.yaml --print --set name=staging
Every error is printed as file:line:column: message; exit code 2 if any.)");

  GraphArgs graph_args;
  CLI::App* graph = app.add_subcommand("graph", "Print the topology of a pipeline");
  AddConfigArgs(*graph, graph_args.config);
  graph->add_option("--format", graph_args.format, "text or dot (Graphviz)")
      ->check(CLI::IsMember({"text", "dot"}));
  graph->footer(R"(Examples:
  sluice graph configs/quickstart.yaml
  sluice graph configs/quickstart.yaml --format dot | dot -Tsvg > pipeline.svg)");

  TestArgs test_args;
  CLI::App* test = app.add_subcommand("test", "Run a pipeline's unit tests");
  AddConfigArgs(*test, test_args.config);
  test->add_option("tests", test_args.tests_path,
                   "Tests file (YAML); defaults to <config stem>_test.yaml beside the config");
  test->footer(R"(Examples:
  sluice test configs/file-json.yaml
  sluice test pipeline.yaml my_tests.yaml
A test names a path of stages, input events, and the expected output, dropped count and
dead letters (with a substring of their error). See docs/testing.md.
Exit code 1 if any test fails, with a diff of what differed.)");

  BrokerArgs broker_args;
  CLI::App* broker = app.add_subcommand(
      "broker", "Run an embedded Kafka broker (librdkafka's mock cluster) until SIGINT/SIGTERM");
  broker->add_option("--topics", broker_args.topics,
                     "Topics to create: name[:partitions],... (partitions default to 4)");
  broker->add_option("--brokers", broker_args.brokers, "Brokers in the cluster (default 1)")
      ->check(CLI::Range(1, 64));
  broker
      ->add_option("--port", broker_args.port,
                   "NOT SUPPORTED: librdkafka 2.0.2's mock cluster picks its own ports; "
                   "read the address from the first line of stdout")
      ->check(CLI::Range(1, 65535));
  broker->footer(R"(Examples:
  sluice broker --topics orders:4,dead-letters:1
  coproc sluice broker --topics in:1,out:1; read -r ADDR <&"${COPROC[0]}"   # bash
The first line of stdout is the bootstrap address (host:port, or a comma list with
--brokers N), alone, for scripts; everything else goes to stderr. Brokers listen on
127.0.0.1 at ports the mock cluster picks. Everything is in memory, a few MB per
partition (older messages are dropped), nothing on disk: see docs/kafka.md.)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return kExitConfig;
  }
  if (*run) return Run(run_args);
  if (*validate) return Validate(validate_args);
  if (*graph) return Graph(graph_args);
  if (*test) return Test(test_args);
  if (*broker) return Broker(broker_args);
  return kExitConfig;
}

}  // namespace sluice::cli
